package engine

import (
	"context"
	"os"
	"runtime"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster"
)

// newCluster makes the node's swarm membership and brings back the swarm
// it was in. A swarm that cannot come back (its port taken, state
// damaged) does not stop the daemon: /info shows the error and `swarm
// leave --force` clears it.
func (e *Engine) newCluster(ctx context.Context) {
	e.cluster = cluster.New(cluster.Config{Root: e.cfg.Root, Logger: e.cfg.Logger, Describe: e.nodeDescription})
	e.registerSwarmControllers()
	if err := e.cluster.Restore(ctx); err != nil {
		e.log.ErrorContext(ctx, "swarm membership not restored", "error", err)
	}
}

// Cluster is the node's swarm membership, for the swarm controllers the
// daemon wires up (services, tasks, networks).
func (e *Engine) Cluster() *cluster.Cluster { return e.cluster }

// nodeDescription is this machine as its swarm node object shows it.
func (e *Engine) nodeDescription() swarm.NodeDescription {
	hostname, _ := os.Hostname()
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x86_64" // docker reports uname's machine name
	} else if arch == "arm64" {
		arch = "aarch64"
	}
	return swarm.NodeDescription{
		Hostname:  hostname,
		Platform:  swarm.Platform{Architecture: arch, OS: runtime.GOOS},
		Resources: swarm.Resources{NanoCPUs: int64(runtime.NumCPU()) * 1e9, MemoryBytes: int64(hostMemory())},
		Engine: swarm.EngineDescription{EngineVersion: Version, Plugins: []swarm.PluginDescription{
			{Type: "Log", Name: "json-file"},
			{Type: "Network", Name: "bridge"}, {Type: "Network", Name: "host"}, {Type: "Network", Name: "null"},
			{Type: "Volume", Name: "local"},
		}},
	}
}

// SwarmInit implements POST /swarm/init.
func (e *Engine) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	return e.cluster.Init(ctx, req)
}

// SwarmJoin implements POST /swarm/join (not supported yet).
func (e *Engine) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error {
	return e.cluster.Join(ctx, req)
}

// SwarmLeave implements POST /swarm/leave.
func (e *Engine) SwarmLeave(ctx context.Context, force bool) error {
	return e.cluster.Leave(ctx, force)
}

// SwarmInspect implements GET /swarm.
func (e *Engine) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	return e.cluster.Inspect(ctx)
}

// SwarmUpdate implements POST /swarm/update.
func (e *Engine) SwarmUpdate(ctx context.Context, version uint64, spec swarm.Spec, flags cluster.UpdateFlags) error {
	return e.cluster.Update(ctx, version, spec, flags)
}

// SwarmUnlockKey implements GET /swarm/unlockkey (no autolock yet).
func (e *Engine) SwarmUnlockKey(ctx context.Context) (string, error) {
	return e.cluster.UnlockKey(ctx)
}

// SwarmUnlock implements POST /swarm/unlock.
func (e *Engine) SwarmUnlock(ctx context.Context, req swarm.UnlockRequest) error {
	return e.cluster.Unlock(ctx, req.UnlockKey)
}

// NodeList implements GET /nodes.
func (e *Engine) NodeList(ctx context.Context, filters Filters) ([]swarm.Node, error) {
	return e.cluster.Nodes(ctx, filters)
}

// NodeInspect implements GET /nodes/{id}.
func (e *Engine) NodeInspect(ctx context.Context, idOrName string) (swarm.Node, error) {
	return e.cluster.Node(ctx, idOrName)
}

// NodeUpdate implements POST /nodes/{id}/update.
func (e *Engine) NodeUpdate(ctx context.Context, idOrName string, version uint64, spec swarm.NodeSpec) error {
	return e.cluster.UpdateNode(ctx, idOrName, version, spec)
}

// NodeRemove implements DELETE /nodes/{id}.
func (e *Engine) NodeRemove(ctx context.Context, idOrName string, force bool) error {
	return e.cluster.RemoveNode(ctx, idOrName, force)
}

// swarmInfo is the Swarm section of /info.
func (e *Engine) swarmInfo(ctx context.Context) swarm.Info {
	if e.cluster == nil {
		return swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	}
	return e.cluster.Info(ctx)
}
