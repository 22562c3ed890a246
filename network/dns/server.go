package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"wharf.io/wharf/network/bridge"
	"wharf.io/wharf/network/nft"
)

// DefaultAddr is where containers find the embedded server (resolv.conf).
const DefaultAddr = "127.0.0.11:53"

// RedirectTable is the nft table the server installs in each container's
// namespace; Stop leaves it (the redirect is harmless without a listener and
// goes away with the namespace) and the next Serve replaces it.
const RedirectTable = "wharf-dns"

// ttl of answers about containers, as Docker uses.
const ttl = 600

// Lookup resolves name (lower case, no trailing dot) for the container
// sandboxID. known is false when the name is not a container on any of the
// asker's networks, which makes the server forward the query.
type Lookup func(sandboxID, name string) (addrs []netip.Addr, known bool)

// Server serves many sandboxes; each gets its own UDP and TCP sockets.
type Server struct {
	lookup    Lookup
	upstreams []string // host:port
	addr      string
	log       *slog.Logger

	// NoForward, if set, tells sandboxes whose queries must not leave the
	// host (containers only on --internal networks); they get REFUSED.
	NoForward func(sandboxID string) bool

	mu        sync.Mutex
	sandboxes map[string][]*dns.Server
}

// New returns a server that answers from lookup and forwards to upstreams
// (each "ip" or "ip:port"). addr "" means DefaultAddr.
func New(lookup Lookup, upstreams []string, addr string, logger *slog.Logger) *Server {
	if addr == "" {
		addr = DefaultAddr
	}
	if logger == nil {
		logger = slog.Default()
	}
	ups := make([]string, 0, len(upstreams))
	for _, u := range upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(u, "53")
		}
		ups = append(ups, u)
	}
	return &Server{lookup: lookup, upstreams: ups, addr: addr, log: logger, sandboxes: map[string][]*dns.Server{}}
}

// HostResolvers returns the nameservers of a resolv.conf file (host:port).
func HostResolvers(path string) ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out, nil
}

// Serve starts answering for sandboxID on the server address inside the
// network namespace ns. Serving an already served sandbox is a no-op.
func (s *Server) Serve(sandboxID string, ns netns.NsHandle) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sandboxes[sandboxID]; ok {
		return nil
	}
	ap, err := netip.ParseAddrPort(s.addr)
	if err != nil {
		return fmt.Errorf("dns: bad listen address %q: %w", s.addr, err)
	}
	// Listen on free ports and redirect addr:53 to them (see nft.RenderRedirect).
	var pc net.PacketConn
	var ln net.Listener
	wild := netip.AddrPortFrom(ap.Addr(), 0).String()
	err = bridge.Do(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", wild); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", wild); err != nil {
			_ = pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dns for %s: listen on %s: %w", sandboxID, wild, err)
	}
	rs, err := nft.RenderRedirect(RedirectTable, ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port), uint16(ln.Addr().(*net.TCPAddr).Port))
	if err == nil {
		var c *nftables.Conn
		if c, err = nft.Conn(int(ns)); err == nil {
			err = nft.Apply(c, rs)
		}
	}
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		return fmt.Errorf("dns for %s: %w", sandboxID, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { s.handle(sandboxID, w, r) })
	srvs := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, srv := range srvs {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Debug("dns server stopped", "sandbox", sandboxID, "err", err)
			}
		}()
		<-started
	}
	s.sandboxes[sandboxID] = srvs
	return nil
}

// Stop closes sandboxID's sockets; stopping twice is fine. It does not wait
// for queries in flight (a forward may take seconds, and a lookup may be
// waiting for the caller's own lock), so the shutdown finishes in the background.
func (s *Server) Stop(sandboxID string) {
	s.mu.Lock()
	srvs := s.sandboxes[sandboxID]
	delete(s.sandboxes, sandboxID)
	s.mu.Unlock()
	for _, srv := range srvs {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.ShutdownContext(ctx)
		}()
	}
}

// Close stops every sandbox.
func (s *Server) Close() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.sandboxes))
	for id := range s.sandboxes {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.Stop(id)
	}
}

func (s *Server) handle(sandboxID string, w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if q.Qclass == dns.ClassINET && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY) {
		if addrs, known := s.lookup(sandboxID, name); known {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			m.RecursionAvailable = true
			if q.Qtype != dns.TypeAAAA {
				for _, a := range addrs {
					if a.Is4() {
						m.Answer = append(m.Answer, &dns.A{
							Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
							A:   net.IP(a.AsSlice()),
						})
					}
				}
			}
			_ = w.WriteMsg(m)
			return
		}
	}
	if s.NoForward != nil && s.NoForward(sandboxID) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	_ = w.WriteMsg(s.forward(w.LocalAddr().Network(), r))
}

// forward tries each upstream in turn over the asker's transport; UDP
// answers that come back truncated are retried over TCP.
func (s *Server) forward(network string, r *dns.Msg) *dns.Msg {
	if network != "tcp" {
		network = "udp"
	}
	for _, up := range s.upstreams {
		c := &dns.Client{Net: network, Timeout: 2 * time.Second}
		resp, _, err := c.Exchange(r, up)
		if err == nil && resp.Truncated && network == "udp" {
			c.Net = "tcp"
			if r2, _, err2 := c.Exchange(r, up); err2 == nil {
				resp = r2
			}
		}
		if err != nil {
			s.log.Debug("dns forward failed", "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		return resp
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	return m
}
