package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/cluster"
	"wharf.io/wharf/image"
	"wharf.io/wharf/internal/topdir"
	"wharf.io/wharf/network"
	"wharf.io/wharf/runtime/runc"
	"wharf.io/wharf/snapshot"
	"wharf.io/wharf/snapshot/overlay"
	"wharf.io/wharf/volume"
)

// Config is how the daemon is set up; zero values get Docker-like defaults.
type Config struct {
	Root         string // persistent state, default /var/lib/wharf
	ExecRoot     string // runtime state (tmpfs), default /run/wharf
	Runtime      string // default OCI runtime binary, default "runc"
	ShimBinary   string // path of wharf-shim; default: beside the running executable, then PATH
	CgroupParent string // default "/wharf"
	BridgeName   string // default network's bridge, default "wharf0"
	BridgeSubnet string // default network's subnet; "" picks a free /16
	NftTable     string // wharf's nftables table, default "wharf"
	// InsecureRegistries may be reached over plain HTTP or unverified TLS
	// (host, host:port or CIDR); loopback registries always may.
	InsecureRegistries []string
	// RegistryCertsDir holds per-registry TLS material, <dir>/<host[:port]>/
	// (*.crt CAs, *.cert + *.key client certificates), as docker's
	// /etc/docker/certs.d; "" reads none.
	RegistryCertsDir string
	Logger           *slog.Logger
}

// Engine is the daemon's core; its methods implement api.Backend.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	lock   *os.File
	db     *bolt.DB
	images *image.Store
	snaps  snapshot.Snapshotter
	vols   *volume.Store
	nets   *network.Manager
	events *eventLog
	// deletes runs finished containers' runtime deletes when no container
	// is starting (runtimedelete.go).
	deletes *runtimeDeletes
	// cluster is the swarm membership (engine/swarm.go).
	cluster *cluster.Cluster
	// swarmNet is the service networking last set (engine/swarm_run.go).
	swarmNet swarmNetState

	mu         sync.Mutex
	containers map[string]*Container // by ID
	names      map[string]string     // name (without "/") → ID
	execMu     sync.Mutex            // guards execs; may be taken while holding c.mu
	execs      map[string]*execProcess
	// releases is the background teardown of containers' last runs
	// (rootfs mount, runtime state, network); reclaims is the removal of
	// removed containers' files and snapshots.
	releases, reclaims pending

	// ctx lives as long as the engine; background work (monitors, restart
	// timers) uses it so Close can stop them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// New opens (or creates) the daemon's state, locks it against a second
// daemon, and re-attaches to the containers that kept running while it was down.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Root == "" {
		cfg.Root = "/var/lib/wharf"
	}
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = "/run/wharf"
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "/wharf"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShimBinary == "" {
		cfg.ShimBinary = findShim()
	}
	for _, d := range []string{cfg.Root, cfg.ExecRoot, filepath.Join(cfg.Root, "containers"), filepath.Join(cfg.ExecRoot, "containers")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, err
		}
	}
	// Each container's directory (its hosts, hostname, resolv.conf and
	// log) is made and deleted with it: spread over ext4's block groups,
	// so that a new one does not step over every inode freed in the last
	// seconds (see topdir; back to back that was ≈ 0.7 ms of CPU per create).
	if err := topdir.Mark(filepath.Join(cfg.Root, "containers")); err != nil {
		return nil, err
	}
	lock, err := lockRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With("component", "engine"), lock: lock, events: newEventLog(),
		containers: map[string]*Container{}, names: map[string]string{}, execs: map[string]*execProcess{}}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.deletes = newRuntimeDeletes()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.deletes.loop(e.ctx, e.log)
	}()
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	e.db, err = bolt.Open(filepath.Join(cfg.Root, "metadata.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open metadata: %w", err)
	}
	if e.snaps, err = overlay.New(filepath.Join(cfg.Root, "snapshots")); err != nil {
		return nil, fmt.Errorf("snapshotter: %w", err)
	}
	if e.images, err = image.New(filepath.Join(cfg.Root, "image"), e.db, e.snaps); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if e.vols, err = volume.New(filepath.Join(cfg.Root, "volumes"), e.db); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	e.nets, err = network.New(e.db, network.Config{ExecRoot: cfg.ExecRoot, BridgeName: cfg.BridgeName,
		DefaultSubnet: cfg.BridgeSubnet, TableName: cfg.NftTable, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := e.restore(ctx); err != nil {
		return nil, fmt.Errorf("restore containers: %w", err)
	}
	// Containers that did not survive lose their endpoints; the living get
	// their published ports and DNS back.
	if err := e.nets.Restore(ctx, e.hasLiveTask); err != nil {
		return nil, fmt.Errorf("restore networks: %w", err)
	}
	e.newCluster(ctx)
	ok = true
	return e, nil
}

// Close stops the engine's background work and releases its state. Running
// containers are left running: their shims own them (live restore).
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() { err = e.close() })
	return err
}

func (e *Engine) close() error {
	if e.cluster != nil {
		e.cluster.Close()
	}
	e.cancel()
	e.mu.Lock()
	for _, c := range e.containers {
		c.mu.Lock()
		if c.task != nil {
			c.task.Close()
		}
		c.mu.Unlock()
	}
	e.mu.Unlock()
	e.wg.Wait()
	var err error
	if e.nets != nil {
		err = e.nets.Close()
	}
	if c, ok := e.snaps.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	if e.db != nil {
		err = errors.Join(err, e.db.Close())
	}
	if e.lock != nil {
		e.lock.Close()
	}
	return err
}

// lockRoot takes an exclusive lock on root so that two daemons never share state.
func lockRoot(root string) (*os.File, error) {
	path := filepath.Join(root, "wharfd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		return nil, fmt.Errorf("another daemon (pid %s) is using %s; stop it first or pass a different --root: %w", pid, root, errdefs.ErrConflict)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// findShim looks for wharf-shim beside the running executable, then on PATH.
func findShim() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "wharf-shim")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("wharf-shim"); err == nil {
		return p
	}
	return "wharf-shim"
}

func (e *Engine) runtimeFor(name string) *runc.Runtime {
	if name == "" {
		name = e.cfg.Runtime
	}
	return &runc.Runtime{Binary: name, Root: filepath.Join(e.cfg.ExecRoot, "runtime", filepath.Base(name))}
}

func (e *Engine) containerDir(id string) string { return filepath.Join(e.cfg.Root, "containers", id) }
func (e *Engine) stateDir(id string) string     { return filepath.Join(e.cfg.ExecRoot, "containers", id) }

var errInvalid = errdefs.ErrInvalidArgument

// hasLiveTask reports whether container id exists and its process runs.
func (e *Engine) hasLiveTask(id string) bool {
	e.mu.Lock()
	c, ok := e.containers[id]
	e.mu.Unlock()
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.task != nil
}
