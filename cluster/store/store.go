package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap/zapcore"
)

// keyRoot prefixes every key wharf writes, so an etcd shared with other
// tools (or a future layout) never collides with ours.
const keyRoot = "/wharf/swarm/"

// Config describes the local etcd member.
type Config struct {
	// Dir holds the member's data (WAL, snapshots): <daemon root>/swarm/etcd.
	Dir string
	// Name is the member's name, the node ID; election values carry it.
	Name string
	// PeerURL is where other managers reach this member's raft, on the
	// node's advertise address; the member listens there too. Empty means
	// http(s)://127.0.0.1:<free port>. A port of 0 is replaced by a free one.
	PeerURL string
	// PeerTLS, when set, makes the peer listener mutual TLS with the swarm
	// CA (PeerURL must then be https).
	PeerTLS *TLSFiles
	// ForceNewCluster restarts a member from its data as a single-member
	// cluster (docker swarm init --force-new-cluster).
	ForceNewCluster bool
	// Logger receives etcd's warnings and errors (its info is dropped).
	Logger *slog.Logger
	// StartTimeout bounds the wait for the member to be ready; default 30s.
	StartTimeout time.Duration
}

// TLSFiles are PEM files: this member's certificate and key, and the CA
// that signs its peers.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Store is a running etcd member and its in-process client. Its methods are
// safe for concurrent use.
type Store struct {
	name    string
	peerURL string
	etcd    *embed.Etcd
	cli     *clientv3.Client
	log     *slog.Logger
	closing *atomic.Bool // set by Close: etcd's shutdown noise is debug

	// sessionTTL is the lease TTL of election sessions, in seconds: how
	// long a dead leader keeps the role before another member takes it.
	sessionTTL int

	closeOnce sync.Once
	closeErr  error
}

// Open starts (or restarts, when Dir holds data) the member and waits until
// it serves requests. The client API listens on a unix socket in Dir (or a
// free loopback port when that path is too long for a socket), never on a
// fixed port, so several daemons can share a host.
func Open(ctx context.Context, c Config) (_ *Store, err error) {
	if c.Dir == "" || c.Name == "" {
		return nil, fmt.Errorf("store: Dir and Name are required: %w", errdefs.ErrInvalidArgument)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	log := c.Logger.With("component", "etcd")
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	peer, err := peerURL(c.PeerURL, c.PeerTLS != nil)
	if err != nil {
		return nil, err
	}
	client, err := clientURL(c.Dir)
	if err != nil {
		return nil, err
	}

	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = filepath.Join(c.Dir, "member-data")
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	cfg.InitialClusterToken = "wharf-swarm-" + c.Name
	cfg.ForceNewCluster = c.ForceNewCluster
	// Task churn writes many revisions; keep an hour of history for
	// watchers that fall behind, then compact.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	// An orchestrator plan (create 50 tasks, retire 50) is one transaction.
	cfg.MaxTxnOps = 4096
	cfg.Logger = "zap"
	closing := new(atomic.Bool)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(log, zapcore.WarnLevel, closing))
	if c.PeerTLS != nil {
		cfg.PeerTLSInfo = transport.TLSInfo{
			CertFile: c.PeerTLS.CertFile, KeyFile: c.PeerTLS.KeyFile,
			TrustedCAFile: c.PeerTLS.CAFile, ClientCertAuth: true,
		}
	}
	if client.Scheme == "unix" {
		// A socket left by a killed daemon makes the listen fail.
		_ = os.Remove(client.Path)
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	timer := time.NewTimer(c.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return nil, fmt.Errorf("etcd: %w", err)
	case <-timer.C:
		return nil, fmt.Errorf("etcd did not become ready within %s: %w", c.StartTimeout, errdefs.ErrUnavailable)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := &Store{name: c.Name, peerURL: peer.String(), etcd: e, cli: v3client.New(e.Server), log: log, sessionTTL: 5, closing: closing}
	go func() {
		// etcd reports fatal serving errors here after start; log them.
		for err := range e.Err() {
			if err != nil && !closing.Load() {
				log.Error("etcd failed", "error", err)
			}
		}
	}()
	return s, nil
}

// peerURL fills in a default host and a free port.
func peerURL(raw string, secure bool) (*url.URL, error) {
	scheme := "http"
	if secure {
		scheme = "https"
	}
	if raw == "" {
		raw = scheme + "://127.0.0.1:0"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("peer url %q: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("peer url %q: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	if port == "0" || port == "" {
		p, err := FreePort(host)
		if err != nil {
			return nil, err
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return u, nil
}

// clientURL is a unix socket in dir, or a free loopback port when the
// socket path would exceed the kernel's limit (108 bytes with the NUL).
func clientURL(dir string) (*url.URL, error) {
	abs, err := filepath.Abs(filepath.Join(dir, "client.sock"))
	if err != nil {
		return nil, err
	}
	if len(abs) < 100 {
		return &url.URL{Scheme: "unix", Path: abs}, nil
	}
	p, err := FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))}, nil
}

// FreePort asks the kernel for a TCP port that is free on host right now.
// (Another process may take it before we bind; callers that can bind port
// 0 themselves should.)
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Name is the member's name (the node ID).
func (s *Store) Name() string { return s.name }

// PeerURL is the raft peer URL this member listens on and advertises.
func (s *Store) PeerURL() string { return s.peerURL }

// ClientURL is etcd's client endpoint (a unix socket URL or a loopback
// address), for diagnostics with etcdctl.
func (s *Store) ClientURL() string { return s.etcd.Config().ListenClientUrls[0].String() }

// Client is the in-process etcd client, for callers that need etcd
// primitives the typed API lacks. Keys outside /wharf/swarm/ are theirs.
func (s *Store) Client() *clientv3.Client { return s.cli }

// IsRaftLeader reports whether this member leads the raft group (what
// `docker node ls` shows as "Leader").
func (s *Store) IsRaftLeader() bool { return s.etcd.Server.Leader() == s.etcd.Server.MemberID() }

// RaftLeader is the name of the member leading the raft group ("" during
// an election).
func (s *Store) RaftLeader() string {
	lead := s.etcd.Server.Leader()
	for _, m := range s.etcd.Server.Cluster().Members() {
		if m.ID == lead {
			return m.Name
		}
	}
	return ""
}

// Members lists the raft members' names and peer URLs.
func (s *Store) Members() map[string][]string {
	out := map[string][]string{}
	for _, m := range s.etcd.Server.Cluster().Members() {
		out[m.Name] = m.PeerURLs
	}
	return out
}

// Close stops the member after its in-flight requests finish. Elections
// run through RunAsLeader should be stopped (their ctx cancelled) first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.closeErr = s.cli.Close()
		if errors.Is(s.closeErr, context.Canceled) {
			s.closeErr = nil
		}
		s.etcd.Close()
	})
	return s.closeErr
}
