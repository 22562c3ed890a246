package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/ca"
	"wharf.io/wharf/cluster/store"
	"wharf.io/wharf/internal/atomicfile"
)

// Docker's messages for swarm calls in the wrong state (all 503, as moby's
// notAvailableError).
var (
	ErrNoManager   = fmt.Errorf("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.: %w", errdefs.ErrUnavailable)
	ErrNoSwarm     = fmt.Errorf("This node is not part of a swarm: %w", errdefs.ErrUnavailable)
	ErrSwarmExists = fmt.Errorf("This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.: %w", errdefs.ErrUnavailable)
)

// DefaultListenAddr is docker's default --listen-addr.
const DefaultListenAddr = "0.0.0.0:2377"

// Config sets up the node's swarm membership.
type Config struct {
	// Root is the daemon's root; swarm state lives in Root/swarm.
	Root   string
	Logger *slog.Logger
	// Describe reports this machine (hostname, platform, resources, engine)
	// for its node object; called at init and at every restore.
	Describe func() swarm.NodeDescription
	// EtcdPeerPort is the port of the etcd member's raft peer listener on
	// the advertise address; 0 picks a free one at init (kept across
	// restarts in state.json).
	EtcdPeerPort int
}

// Cluster is the node's membership, active or not. Its methods are safe for
// concurrent use.
type Cluster struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux // the manager API; survives leave/init

	opMu sync.Mutex
	mu   sync.RWMutex
	st   *member // nil outside a swarm
	// restoreErr is why a swarm this node belongs to could not be brought
	// back; /info shows it (LocalNodeState "error").
	restoreErr  error
	controllers []controller
	leaveHooks  []func(ctx context.Context)
}

type controller struct {
	name   string
	leader bool
	fn     func(ctx context.Context, s *store.Store)
}

// state is state.json.
type state struct {
	NodeID        string
	ClusterID     string
	ListenAddr    string // host:port the manager API binds
	AdvertiseAddr string // host:port others reach it at
	PeerURL       string // etcd raft peer URL
}

// member is an active membership: the running parts.
type member struct {
	state
	node  *ca.Node
	store *store.Store
	srv   *http.Server
	// ctx lives while the membership is active; controllers run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns the membership of a node that is not in a swarm yet; call
// Restore to rejoin the swarm it was in before a restart.
func New(cfg Config) *Cluster {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Describe == nil {
		cfg.Describe = func() swarm.NodeDescription { h, _ := os.Hostname(); return swarm.NodeDescription{Hostname: h} }
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger.With("component", "cluster"), mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	c.mux.HandleFunc("GET /v1/whoami", c.whoami)
	return c
}

func (c *Cluster) dir() string       { return filepath.Join(c.cfg.Root, "swarm") }
func (c *Cluster) certDir() string   { return filepath.Join(c.dir(), "certificates") }
func (c *Cluster) etcdDir() string   { return filepath.Join(c.dir(), "etcd") }
func (c *Cluster) statePath() string { return filepath.Join(c.dir(), "state.json") }

// active returns the membership or ErrNoManager.
func (c *Cluster) active() (*member, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.st == nil {
		return nil, ErrNoManager
	}
	return c.st, nil
}

// Store is the cluster state of the swarm this node manages (ErrNoManager
// outside a swarm). It is closed when the node leaves: do not keep it
// beyond the call that needed it; controllers get theirs from OnLeader.
func (c *Cluster) Store() (*store.Store, error) {
	m, err := c.active()
	if err != nil {
		return nil, err
	}
	return m.store, nil
}

// NodeID is this node's ID in its swarm, "" outside one.
func (c *Cluster) NodeID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.st == nil {
		return ""
	}
	return c.st.NodeID
}

// OnLeader registers a controller: while this node is in a swarm, fn runs
// on whichever manager holds the leadership called name, with a ctx that
// ends when leadership is lost, the node leaves or the daemon stops. If fn
// returns early it is run again. Register before Restore/Init; a controller
// registered while active starts at once.
func (c *Cluster) OnLeader(name string, fn func(ctx context.Context, s *store.Store)) {
	c.addController(controller{name: name, leader: true, fn: fn})
}

// OnMember registers fn to run on this node (leader or not) while it is in
// a swarm, e.g. the agent that runs this node's tasks.
func (c *Cluster) OnMember(name string, fn func(ctx context.Context, s *store.Store)) {
	c.addController(controller{name: name, fn: fn})
}

// OnLeave registers fn to run when the node leaves the swarm, after the
// controllers stopped and before the state is erased (e.g. to remove task
// containers and swarm networks).
func (c *Cluster) OnLeave(fn func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaveHooks = append(c.leaveHooks, fn)
}

func (c *Cluster) addController(ctl controller) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.controllers = append(c.controllers, ctl)
	if c.st != nil {
		c.startController(c.st, ctl)
	}
}

// startControllers runs every registered controller for m; mu held.
func (c *Cluster) startControllers(m *member) {
	for _, ctl := range c.controllers {
		c.startController(m, ctl)
	}
}

func (c *Cluster) startController(m *member, ctl controller) {
	ctx := m.ctx
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if ctl.leader {
			_ = m.store.RunAsLeader(ctx, ctl.name, func(ctx context.Context) { ctl.fn(ctx, m.store) })
			return
		}
		for ctx.Err() == nil {
			ctl.fn(ctx, m.store)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

// Restore brings back the swarm this node was in when the daemon stopped
// (or was killed): certificates, the etcd member with every acknowledged
// write, the manager endpoint and the controllers. Nothing to do outside a
// swarm. A failure leaves the node inactive with the error in Info.
func (c *Cluster) Restore(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err = func() error {
		if err != nil {
			return err
		}
		var st state
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%s: %v: %w", c.statePath(), err, errdefs.ErrDataLoss)
		}
		node, err := ca.LoadNode(c.certDir())
		if err != nil {
			return err
		}
		m, err := c.start(ctx, st, node, false)
		if err != nil {
			return err
		}
		// The node is back: refresh what it reports about itself.
		desc := c.describe(node)
		_, err = m.store.Nodes().Modify(ctx, st.NodeID, func(n *swarm.Node) error {
			n.Description = desc
			n.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: hostOf(st.AdvertiseAddr)}
			return nil
		})
		if err != nil {
			c.stop(m)
			return err
		}
		c.activate(m)
		return nil
	}()
	c.mu.Lock()
	c.restoreErr = err
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("restore swarm membership: %w", err)
	}
	c.log.Info("swarm membership restored", "node", c.NodeID())
	return nil
}

// start opens the listener and the store for st; nothing is published yet.
func (c *Cluster) start(ctx context.Context, st state, node *ca.Node, newCluster bool) (*member, error) {
	ln, err := net.Listen("tcp", st.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on remote API address: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	caFile, certFile, keyFile := ca.NodeFiles(c.certDir())
	s, err := store.Open(ctx, store.Config{
		Dir: c.etcdDir(), Name: st.NodeID, PeerURL: st.PeerURL, Logger: c.cfg.Logger,
		PeerTLS: &store.TLSFiles{CertFile: certFile, KeyFile: keyFile, CAFile: caFile},
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	if newCluster {
		st.PeerURL = s.PeerURL()
	}
	m := &member{state: st, node: node, store: s}
	m.srv = &http.Server{Handler: c.checkCluster(m, c.mux), TLSConfig: node.ServerConfig(),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}
	go func() {
		if err := m.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("manager endpoint stopped", "addr", st.ListenAddr, "error", err)
		}
	}()
	return m, nil
}

// activate publishes m and starts the controllers.
func (c *Cluster) activate(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	m.ctx, m.cancel = ctx, cancel
	c.st = m
	c.startControllers(m)
}

// stop halts m's controllers, endpoint and store (files stay).
func (c *Cluster) stop(m *member) {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(sctx); err != nil {
		m.srv.Close()
	}
	if err := m.store.Close(); err != nil {
		c.log.Warn("close cluster store", "error", err)
	}
}

// Close stops the membership for daemon shutdown; the node stays in its
// swarm and Restore brings it back.
func (c *Cluster) Close() error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	m := c.st
	c.st = nil
	c.mu.Unlock()
	if m != nil {
		c.stop(m)
	}
	return nil
}

func (c *Cluster) saveState(st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.statePath(), b, 0o600)
}
