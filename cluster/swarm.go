package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/ca"
	"wharf.io/wharf/cluster/store"
)

var defaultAddrPool = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

// withSpecDefaults fills what `docker swarm init` leaves to the daemon,
// with swarmkit's defaults, so inspect shows what docker shows.
func withSpecDefaults(s swarm.Spec) swarm.Spec {
	if s.Name == "" {
		s.Name = "default"
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Orchestration.TaskHistoryRetentionLimit == nil {
		v := int64(5)
		s.Orchestration.TaskHistoryRetentionLimit = &v
	}
	if s.Raft.SnapshotInterval == 0 {
		s.Raft.SnapshotInterval = 10000
	}
	if s.Raft.KeepOldSnapshots == nil {
		v := uint64(0)
		s.Raft.KeepOldSnapshots = &v
	}
	if s.Raft.LogEntriesForSlowFollowers == 0 {
		s.Raft.LogEntriesForSlowFollowers = 500
	}
	if s.Raft.ElectionTick == 0 {
		s.Raft.ElectionTick = 10
	}
	if s.Raft.HeartbeatTick == 0 {
		s.Raft.HeartbeatTick = 1
	}
	if s.Dispatcher.HeartbeatPeriod == 0 {
		s.Dispatcher.HeartbeatPeriod = 5 * time.Second
	}
	if s.CAConfig.NodeCertExpiry == 0 {
		s.CAConfig.NodeCertExpiry = ca.NodeCertValidity
	}
	return s
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// cluster reads the cluster object.
func (m *member) cluster(ctx context.Context) (*store.Cluster, error) {
	return m.store.Clusters().Get(ctx, m.ClusterID)
}

// Inspect is GET /swarm: the cluster and its join tokens.
func (c *Cluster) Inspect(ctx context.Context) (swarm.Swarm, error) {
	m, err := c.active()
	if err != nil {
		return swarm.Swarm{}, err
	}
	cl, err := m.cluster(ctx)
	if err != nil {
		return swarm.Swarm{}, err
	}
	return swarm.Swarm{ClusterInfo: cl.ClusterInfo, JoinTokens: cl.JoinTokens}, nil
}

// JoinTokens returns the current worker and manager tokens.
func (c *Cluster) JoinTokens(ctx context.Context) (swarm.JoinTokens, error) {
	s, err := c.Inspect(ctx)
	return s.JoinTokens, err
}

// UpdateFlags are POST /swarm/update's rotation switches.
type UpdateFlags struct {
	RotateWorkerToken      bool
	RotateManagerToken     bool
	RotateManagerUnlockKey bool
}

// Update replaces the cluster's spec if version is the cluster's current
// version (Conflict "update out of sequence" otherwise) and rotates the
// join tokens asked for.
func (c *Cluster) Update(ctx context.Context, version uint64, spec swarm.Spec, flags UpdateFlags) error {
	m, err := c.active()
	if err != nil {
		return err
	}
	if spec.EncryptionConfig.AutoLockManagers || flags.RotateManagerUnlockKey {
		return fmt.Errorf("autolock is not supported by wharf yet: %w", errdefs.ErrNotImplemented)
	}
	if spec.CAConfig.SigningCACert != "" || spec.CAConfig.SigningCAKey != "" || len(spec.CAConfig.ExternalCAs) > 0 {
		return fmt.Errorf("changing the root CA is not supported by wharf yet: %w", errdefs.ErrNotImplemented)
	}
	cl, err := m.cluster(ctx)
	if err != nil {
		return err
	}
	if version != cl.Version.Index {
		return fmt.Errorf("update out of sequence: %w", errdefs.ErrConflict)
	}
	root, err := ca.ParseRootCA(cl.RootCA.CertPEM, nil)
	if err != nil {
		return err
	}
	cl.Spec = withSpecDefaults(spec)
	if flags.RotateWorkerToken {
		if cl.JoinTokens.Worker, err = ca.NewJoinToken(root); err != nil {
			return err
		}
	}
	if flags.RotateManagerToken {
		if cl.JoinTokens.Manager, err = ca.NewJoinToken(root); err != nil {
			return err
		}
	}
	return m.store.Clusters().Update(ctx, cl)
}

// UnlockKey is GET /swarm/unlockkey; wharf has no autolock yet.
func (c *Cluster) UnlockKey(ctx context.Context) (string, error) {
	if _, err := c.active(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no unlock key is set: %w", errdefs.ErrNotFound)
}

// Unlock is POST /swarm/unlock; a wharf swarm is never locked.
func (c *Cluster) Unlock(ctx context.Context, key string) error {
	if _, err := c.active(); err != nil {
		return ErrNoSwarm
	}
	return fmt.Errorf("swarm is not locked: %w", errdefs.ErrFailedPrecondition)
}

// Info is /info's Swarm section.
func (c *Cluster) Info(ctx context.Context) swarm.Info {
	c.mu.RLock()
	m, restoreErr := c.st, c.restoreErr
	c.mu.RUnlock()
	info := swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive, RemoteManagers: nil}
	if m == nil {
		if restoreErr != nil {
			info.LocalNodeState = swarm.LocalNodeStateError
			info.Error = restoreErr.Error()
		}
		return info
	}
	info.LocalNodeState = swarm.LocalNodeStateActive
	info.NodeID = m.NodeID
	info.NodeAddr = hostOf(m.AdvertiseAddr)
	info.ControlAvailable = true
	info.RemoteManagers = []swarm.Peer{{NodeID: m.NodeID, Addr: m.AdvertiseAddr}}
	nodes, err := m.store.Nodes().List(ctx)
	if err != nil {
		info.Error = err.Error()
		return info
	}
	info.Nodes = len(nodes)
	for _, n := range nodes {
		if n.Spec.Role == swarm.NodeRoleManager {
			info.Managers++
		}
	}
	if cl, err := m.cluster(ctx); err == nil {
		ci := cl.ClusterInfo
		info.Cluster = &ci
	} else {
		info.Error = err.Error()
	}
	return info
}
