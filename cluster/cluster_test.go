package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/cluster/ca"
	"wharf.io/wharf/cluster/store"
)

func newCluster(t *testing.T, root string) *Cluster {
	t.Helper()
	c := New(Config{Root: root,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Describe: func() swarm.NodeDescription { return swarm.NodeDescription{Hostname: "host1"} }})
	t.Cleanup(func() { c.Close() })
	return c
}

func freeAddr(t *testing.T) string {
	p, err := store.FreePort("127.0.0.1")
	require.NoError(t, err)
	return "127.0.0.1:" + strconv.Itoa(p)
}

func initCluster(t *testing.T, c *Cluster) (nodeID, addr string) {
	t.Helper()
	addr = freeAddr(t)
	id, err := c.Init(context.Background(), swarm.InitRequest{ListenAddr: addr, AdvertiseAddr: "127.0.0.1"})
	require.NoError(t, err)
	return id, addr
}

func TestOutsideASwarm(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, t.TempDir())
	assert.Equal(t, swarm.LocalNodeStateInactive, c.Info(ctx).LocalNodeState)
	_, err := c.Nodes(ctx, nil)
	assert.ErrorIs(t, err, ErrNoManager)
	assert.True(t, errdefs.IsUnavailable(err))
	_, err = c.Inspect(ctx)
	assert.ErrorIs(t, err, ErrNoManager)
	assert.ErrorIs(t, c.Leave(ctx, true), ErrNoSwarm)
	assert.True(t, errdefs.IsNotImplemented(c.Join(ctx, swarm.JoinRequest{})))
	_, err = c.Store()
	assert.ErrorIs(t, err, ErrNoManager)
	require.NoError(t, c.Restore(ctx), "nothing to restore")
}

func TestInitInspectUpdateLeave(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	c := newCluster(t, root)
	var led atomic.Int32
	c.OnLeader("test", func(ctx context.Context, s *store.Store) { led.Add(1); <-ctx.Done() })

	id, addr := initCluster(t, c)
	assert.Len(t, id, 25)
	_, err := c.Init(ctx, swarm.InitRequest{ListenAddr: freeAddr(t)})
	assert.ErrorIs(t, err, ErrSwarmExists)
	require.Eventually(t, func() bool { return led.Load() == 1 }, 10*time.Second, 10*time.Millisecond)

	info := c.Info(ctx)
	assert.Equal(t, swarm.LocalNodeStateActive, info.LocalNodeState)
	assert.Equal(t, id, info.NodeID)
	assert.Equal(t, "127.0.0.1", info.NodeAddr)
	assert.True(t, info.ControlAvailable)
	assert.Equal(t, 1, info.Nodes)
	assert.Equal(t, 1, info.Managers)
	require.NotNil(t, info.Cluster)
	assert.Equal(t, []swarm.Peer{{NodeID: id, Addr: addr}}, info.RemoteManagers)

	sw, err := c.Inspect(ctx)
	require.NoError(t, err)
	assert.Equal(t, "default", sw.Spec.Name)
	assert.Regexp(t, `^SWMTKN-1-`, sw.JoinTokens.Worker)
	assert.NotEqual(t, sw.JoinTokens.Worker, sw.JoinTokens.Manager)
	assert.Contains(t, sw.TLSInfo.TrustRoot, "BEGIN CERTIFICATE")

	// Rotate the worker token only; a stale version is refused.
	require.NoError(t, c.Update(ctx, sw.Version.Index, sw.Spec, UpdateFlags{RotateWorkerToken: true}))
	sw2, _ := c.Inspect(ctx)
	assert.NotEqual(t, sw.JoinTokens.Worker, sw2.JoinTokens.Worker)
	assert.Equal(t, sw.JoinTokens.Manager, sw2.JoinTokens.Manager)
	err = c.Update(ctx, sw.Version.Index, sw.Spec, UpdateFlags{})
	assert.True(t, errdefs.IsConflict(err), "%v", err)

	// Nodes.
	nodes, err := c.Nodes(ctx, nil)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	n := nodes[0]
	assert.Equal(t, swarm.NodeRoleManager, n.Spec.Role)
	assert.Equal(t, swarm.NodeStateReady, n.Status.State)
	require.NotNil(t, n.ManagerStatus)
	assert.True(t, n.ManagerStatus.Leader)
	for _, f := range []map[string][]string{{"role": {"manager"}}, {"name": {"host"}}, {"id": {id[:5]}}, {"membership": {"accepted"}}} {
		got, err := c.Nodes(ctx, f)
		require.NoError(t, err)
		assert.Len(t, got, 1, "%v", f)
	}
	got, err := c.Nodes(ctx, map[string][]string{"role": {"worker"}})
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = c.Nodes(ctx, map[string][]string{"bogus": {"x"}})
	assert.True(t, errdefs.IsInvalidArgument(err))

	spec := n.Spec
	spec.Availability = swarm.NodeAvailabilityDrain
	spec.Labels = map[string]string{"zone": "a"}
	require.NoError(t, c.UpdateNode(ctx, "host1", n.Version.Index, spec))
	err = c.UpdateNode(ctx, id, n.Version.Index, spec)
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	n2, err := c.Node(ctx, id[:6])
	require.NoError(t, err)
	assert.Equal(t, swarm.NodeAvailabilityDrain, n2.Spec.Availability)
	assert.Equal(t, "a", n2.Spec.Labels["zone"])
	got, _ = c.Nodes(ctx, map[string][]string{"node.label": {"zone=a"}})
	assert.Len(t, got, 1)
	spec.Role = swarm.NodeRoleWorker
	err = c.UpdateNode(ctx, id, n2.Version.Index, spec)
	assert.True(t, errdefs.IsFailedPrecondition(err), "%v", err)
	spec.Role, spec.Availability = swarm.NodeRoleManager, "sleepy"
	assert.True(t, errdefs.IsInvalidArgument(c.UpdateNode(ctx, id, n2.Version.Index, spec)))
	assert.True(t, errdefs.IsFailedPrecondition(c.RemoveNode(ctx, id, true)))
	_, err = c.Node(ctx, "nope")
	assert.True(t, errdefs.IsNotFound(err))

	// Leave: refused without force, then everything goes.
	err = c.Leave(ctx, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
	assert.Equal(t, swarm.LocalNodeStateActive, c.Info(ctx).LocalNodeState)
	var left atomic.Bool
	c.OnLeave(func(context.Context) { left.Store(true) })
	require.NoError(t, c.Leave(ctx, true))
	assert.True(t, left.Load())
	assert.Equal(t, swarm.LocalNodeStateInactive, c.Info(ctx).LocalNodeState)
	_, err = os.Stat(filepath.Join(root, "swarm"))
	assert.True(t, os.IsNotExist(err), "swarm state removed")
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the listen port is free again")
	l.Close()

	// And a new swarm can be made.
	id2, _ := initCluster(t, c)
	assert.NotEqual(t, id, id2)
	require.NoError(t, c.Leave(ctx, true))
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	c := newCluster(t, root)
	id, addr := initCluster(t, c)
	n, err := c.Node(ctx, id)
	require.NoError(t, err)
	n.Spec.Labels = map[string]string{"k": "v"}
	require.NoError(t, c.UpdateNode(ctx, id, n.Version.Index, n.Spec))
	sw, _ := c.Inspect(ctx)
	require.NoError(t, c.Close())

	c2 := newCluster(t, root)
	var led atomic.Bool
	c2.OnLeader("ctl", func(ctx context.Context, s *store.Store) { led.Store(true); <-ctx.Done() })
	require.NoError(t, c2.Restore(ctx))
	assert.Equal(t, id, c2.NodeID())
	n2, err := c2.Node(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "v", n2.Spec.Labels["k"])
	sw2, err := c2.Inspect(ctx)
	require.NoError(t, err)
	assert.Equal(t, sw.ID, sw2.ID)
	assert.Equal(t, sw.JoinTokens, sw2.JoinTokens)
	require.Eventually(t, led.Load, 10*time.Second, 10*time.Millisecond)
	assertWhoami(t, root, addr, id)
	require.NoError(t, c2.Leave(ctx, true))
}

// assertWhoami dials the manager endpoint with the node's own certificate
// (mTLS) and checks it is recognised; without a certificate it is refused.
func assertWhoami(t *testing.T, root, addr, id string) {
	t.Helper()
	node, err := ca.LoadNode(filepath.Join(root, "swarm", "certificates"))
	require.NoError(t, err)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: node.ClientConfig()}, Timeout: 10 * time.Second}
	resp, err := cl.Get("https://" + addr + "/v1/whoami")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var who ca.Identity
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&who))
	assert.Equal(t, ca.Identity{NodeID: id, Role: ca.ManagerRole, ClusterID: node.Identity.ClusterID}, who)

	cfg := node.ClientConfig()
	cfg.Certificates = nil
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	if resp, err := anon.Get("https://" + addr + "/v1/whoami"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}
}

func TestAddresses(t *testing.T) {
	for in, want := range map[string]string{"": "0.0.0.0:2377", "127.0.0.1": "127.0.0.1:2377", ":4000": "0.0.0.0:4000", "lo:5000": "127.0.0.1:5000"} {
		got, err := resolveListenAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"nosuchif0", "1.2.3.4:99999", "::bad::"} {
		_, err := resolveListenAddr(bad)
		assert.True(t, errdefs.IsInvalidArgument(err), bad)
	}
	got, err := resolveAdvertiseAddr("127.0.0.1", "0.0.0.0:2377")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:2377", got)
	got, err = resolveAdvertiseAddr("", "127.0.0.1:3000")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:3000", got)
	_, err = resolveAdvertiseAddr("0.0.0.0", "0.0.0.0:2377")
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestInitFailsCleanlyOnBusyPort(t *testing.T) {
	root := t.TempDir()
	c := newCluster(t, root)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = c.Init(context.Background(), swarm.InitRequest{ListenAddr: l.Addr().String()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failed to listen on remote API address")
	assert.Equal(t, swarm.LocalNodeStateInactive, c.Info(context.Background()).LocalNodeState)
	_, err = os.Stat(filepath.Join(root, "swarm"))
	assert.True(t, os.IsNotExist(err))
}

func FuzzResolveAddr(f *testing.F) {
	for _, s := range []string{"", "0.0.0.0:2377", "127.0.0.1", ":4000", "lo:5000", "[::1]:80", "eth0", "1.2.3.4:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		listen, err := resolveListenAddr(s)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil || net.ParseIP(host) == nil {
			t.Fatalf("%q resolved to unusable %q", s, listen)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q resolved to port %q", s, port)
		}
		if adv, err := resolveAdvertiseAddr(s, listen); err == nil && net.ParseIP(hostOf(adv)).IsUnspecified() {
			t.Fatalf("%q advertises the unspecified address %q", s, adv)
		}
	})
}
