package dns

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/network/bridge"
)

// upstream runs a stub resolver (udp and tcp) on loopback that answers every
// A query with 192.0.2.99.
func upstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	ln, err := net.Listen("tcp4", pc.LocalAddr().String())
	require.NoError(t, err)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP("192.0.2.99")})
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func TestServeInNetNS(t *testing.T) {
	testutil.RequiresRoot(t)
	nsPath := filepath.Join(t.TempDir(), "ns")
	require.NoError(t, bridge.CreateNetNS(nsPath))
	t.Cleanup(func() { _ = bridge.DeleteNetNS(nsPath) })
	ns, err := netns.GetFromPath(nsPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ns.Close() })
	// lo must be up for 127.0.0.11 to be bindable and reachable.
	h, err := bridge.Open(nsPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	require.NoError(t, h.SetUp("lo"))

	lookup := func(sandbox, name string) ([]netip.Addr, bool) {
		if sandbox == "c1" && (name == "redis" || name == "cache") {
			return []netip.Addr{netip.MustParseAddr("10.20.0.5")}, true
		}
		return nil, false
	}
	s := New(lookup, []string{upstream(t)}, "", nil)
	t.Cleanup(s.Close)
	require.NoError(t, s.Serve("c1", ns))
	require.NoError(t, s.Serve("c1", ns), "idempotent")

	query := func(netw, name string, qtype uint16) *dns.Msg {
		var resp *dns.Msg
		require.NoError(t, bridge.Do(ns, func() error {
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(name), qtype)
			var err error
			resp, _, err = (&dns.Client{Net: netw}).Exchange(m, DefaultAddr)
			return err
		}))
		return resp
	}
	for _, netw := range []string{"udp", "tcp"} {
		r := query(netw, "redis", dns.TypeA)
		require.Len(t, r.Answer, 1, netw)
		assert.Equal(t, "10.20.0.5", r.Answer[0].(*dns.A).A.String())
		r = query(netw, "CACHE.", dns.TypeA)
		require.Len(t, r.Answer, 1)
		r = query(netw, "redis", dns.TypeAAAA)
		assert.Equal(t, dns.RcodeSuccess, r.Rcode)
		assert.Empty(t, r.Answer)
		r = query(netw, "example.org", dns.TypeA)
		require.Len(t, r.Answer, 1, "forwarded")
		assert.Equal(t, "192.0.2.99", r.Answer[0].(*dns.A).A.String())
	}

	s.Stop("c1")
	s.Stop("c1")
	require.NoError(t, s.Serve("c1", ns), "serving again replaces the redirect")
	r := query("udp", "redis", dns.TypeA)
	require.Len(t, r.Answer, 1)
}

func TestForwardFailureIsServfail(t *testing.T) {
	s := New(func(string, string) ([]netip.Addr, bool) { return nil, false }, nil, "", nil)
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeA)
	assert.Equal(t, dns.RcodeServerFailure, s.forward("udp", m).Rcode)
}

func TestHostResolvers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(p, []byte("# c\nnameserver 10.0.0.1\nnameserver 127.0.0.53\nsearch x\n"), 0o644))
	got, err := HostResolvers(p)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:53", "127.0.0.53:53"}, got)
}
