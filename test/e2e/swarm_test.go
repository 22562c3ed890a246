//go:build linux

package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const notManagerMsg = `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`

// freeLoopbackAddr is 127.0.0.1:<a port free right now>.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// portFree reports whether addr can be bound (nobody listens there).
func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// swarmInit runs `swarm init` on a free loopback port through bin ("wharf"
// or "docker") and makes sure the node leaves the swarm when the test ends.
func swarmInit(t *testing.T, docker bool) (nodeID, addr, out string) {
	t.Helper()
	addr = freeLoopbackAddr(t)
	args := []string{"swarm", "init", "--listen-addr", addr, "--advertise-addr", "127.0.0.1"}
	t.Cleanup(func() { wharf(t, "swarm", "leave", "--force") })
	if docker {
		out = mustDocker(t, args...)
	} else {
		out = mustWharf(t, args...)
	}
	m := regexp.MustCompile(`Swarm initialized: current node \(([0-9a-z]{25})\) is now a manager\.`).FindStringSubmatch(out)
	require.NotNil(t, m, "init output:\n%s", out)
	return m[1], addr, out
}

// swarmState reads the daemon's <root>/swarm/state.json.
func swarmState(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.root, "swarm", "state.json"))
	require.NoError(t, err)
	var st map[string]string
	require.NoError(t, json.Unmarshal(b, &st))
	return st
}

func TestSwarmOutside(t *testing.T) {
	begin(t)
	for _, args := range [][]string{{"node", "ls"}, {"node", "inspect", "self"}, {"swarm", "join-token", "worker"}} {
		_, errOut, code := wharf(t, args...)
		assert.NotEqual(t, 0, code, args)
		assert.Contains(t, errOut, notManagerMsg, args)
	}
	_, errOut, code := wharf(t, "swarm", "leave")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "This node is not part of a swarm")
	_, errOut, code = wharf(t, "swarm", "join", "--token", "SWMTKN-1-x", "127.0.0.1:1")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "joining another node is not supported yet")
	assert.Contains(t, mustWharf(t, "info"), "Swarm: inactive")
}

func TestSwarmLifecycle(t *testing.T) {
	begin(t)
	id, addr, out := swarmInit(t, false)
	tokenLine := regexp.MustCompile(`(?m)^    docker swarm join --token (SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}) ` + regexp.QuoteMeta(addr) + `$`)
	require.Regexp(t, tokenLine, out)
	assert.Contains(t, out, "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.")
	assert.False(t, portFree(addr), "the manager endpoint listens on %s", addr)

	info := mustWharf(t, "info")
	assert.Contains(t, info, "Swarm: active")
	assert.Contains(t, info, "NodeID: "+id)
	assert.Contains(t, info, "Is Manager: true")
	assert.Contains(t, info, "Managers: 1")
	assert.Contains(t, info, "Nodes: 1")
	assert.Contains(t, info, "Node Address: 127.0.0.1")

	// Twice: docker's message, nothing changes.
	_, errOut, code := wharf(t, "swarm", "init", "--listen-addr", freeLoopbackAddr(t), "--advertise-addr", "127.0.0.1")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, `This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)
	assert.Equal(t, id, mustWharf(t, "info", "--format", "{{.Swarm.NodeID}}"))

	// Join tokens.
	worker := tokenLine.FindStringSubmatch(mustWharf(t, "swarm", "join-token", "worker"))
	require.NotNil(t, worker)
	assert.Equal(t, worker[1], mustWharf(t, "swarm", "join-token", "-q", "worker"))
	manager := mustWharf(t, "swarm", "join-token", "-q", "manager")
	assert.NotEqual(t, worker[1], manager)
	rotated := mustWharf(t, "swarm", "join-token", "--rotate", "worker")
	assert.Contains(t, rotated, "Successfully rotated worker join token.")
	newWorker := mustWharf(t, "swarm", "join-token", "-q", "worker")
	assert.NotEqual(t, worker[1], newWorker)
	assert.Contains(t, rotated, newWorker)
	assert.Equal(t, manager, mustWharf(t, "swarm", "join-token", "-q", "manager"), "only the worker token rotates")

	// Nodes.
	ls := mustWharf(t, "node", "ls")
	require.Len(t, lines(ls), 2, ls)
	assert.Regexp(t, `^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION`, lines(ls)[0])
	assert.Regexp(t, `^`+id+` \*\s+\S+\s+Ready\s+Active\s+Leader\s+\S+`, lines(ls)[1])
	assert.Equal(t, id, mustWharf(t, "node", "ls", "-q"))
	assert.Equal(t, id, mustWharf(t, "node", "ls", "-q", "--filter", "role=manager"))
	assert.Empty(t, mustWharf(t, "node", "ls", "-q", "--filter", "role=worker"))

	mustWharf(t, "node", "update", "--availability", "drain", "--label-add", "zone=a", "--label-add", "disk=ssd", "self")
	assert.Equal(t, "drain", mustWharf(t, "node", "inspect", "--format", "{{.Spec.Availability}}", id))
	assert.Equal(t, "a ssd", mustWharf(t, "node", "inspect", "--format", `{{index .Spec.Labels "zone"}} {{index .Spec.Labels "disk"}}`, "self"))
	mustWharf(t, "node", "update", "--label-rm", "disk", id)
	assert.Regexp(t, `^`+id+` \*\s+\S+\s+Ready\s+Drain\s+Leader`, lines(mustWharf(t, "node", "ls"))[1])
	pretty := mustWharf(t, "node", "inspect", "--pretty", "self")
	assert.Contains(t, pretty, " - zone=a")
	assert.NotContains(t, pretty, "disk")
	assert.Regexp(t, `Leader:\s+Yes`, pretty)
	var nodes []map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustWharf(t, "node", "inspect", id)), &nodes))
	require.Len(t, nodes, 1)
	_, errOut, code = wharf(t, "node", "demote", id)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "attempting to demote the last manager of the swarm")
	_, errOut, code = wharf(t, "node", "rm", id)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "must be demoted to worker before removal")
	out, _, code = wharf(t, "node", "ps")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS`, out)

	// The daemon dies and comes back: same swarm, same node, same labels.
	st := swarmState(t)
	peer := strings.TrimPrefix(st["PeerURL"], "https://")
	clusterID := mustWharf(t, "info", "--format", "{{.Swarm.Cluster.ID}}")
	kill9AndRestart(t, nil)
	assert.Equal(t, id, mustWharf(t, "info", "--format", "{{.Swarm.NodeID}}"))
	assert.Equal(t, clusterID, mustWharf(t, "info", "--format", "{{.Swarm.Cluster.ID}}"))
	assert.Equal(t, "a drain", mustWharf(t, "node", "inspect", "--format", `{{index .Spec.Labels "zone"}} {{.Spec.Availability}}`, "self"))
	assert.Equal(t, newWorker, mustWharf(t, "swarm", "join-token", "-q", "worker"))
	eventually(t, func() bool {
		return strings.Contains(mustWharf(t, "node", "ls"), "Leader")
	}, 20*time.Second, "the restarted member leads again")
	assert.False(t, portFree(addr), "the manager endpoint is back on %s", addr)

	// Leave: refused without --force, then everything goes.
	_, errOut, code = wharf(t, "swarm", "leave")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
	assert.Contains(t, mustWharf(t, "info"), "Swarm: active")
	assert.Equal(t, "Node left the swarm.", mustWharf(t, "swarm", "leave", "--force"))
	assert.Contains(t, mustWharf(t, "info"), "Swarm: inactive")
	assert.True(t, portFree(addr), "nothing listens on %s after leave", addr)
	assert.True(t, portFree(peer), "etcd's peer port %s is released", peer)
	_, err := os.Stat(filepath.Join(env.root, "swarm"))
	assert.True(t, os.IsNotExist(err), "<root>/swarm is removed")
	_, errOut, code = wharf(t, "node", "ls")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, notManagerMsg)
}

func TestSwarmDockerCLI(t *testing.T) {
	begin(t)
	needDocker(t)
	id, addr, out := swarmInit(t, true)
	assert.Regexp(t, `docker swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} `+regexp.QuoteMeta(addr), out)

	ls := mustDocker(t, "node", "ls")
	require.Len(t, lines(ls), 2, ls)
	assert.Regexp(t, `^`+id+` \*\s+\S+\s+Ready\s+Active\s+Leader\s+\S+`, lines(ls)[1])
	info := mustDocker(t, "info")
	assert.Contains(t, info, "Swarm: active")
	assert.Contains(t, info, "NodeID: "+id)
	assert.Contains(t, info, "Is Manager: true")
	assert.Equal(t, mustWharf(t, "swarm", "join-token", "-q", "worker"), mustDocker(t, "swarm", "join-token", "-q", "worker"))

	mustDocker(t, "node", "update", "--availability", "pause", "--label-add", "tier=web", "self")
	assert.Equal(t, "pause web", mustDocker(t, "node", "inspect", "--format", `{{.Spec.Availability}} {{index .Spec.Labels "tier"}}`, "self"))
	assert.Contains(t, mustDocker(t, "swarm", "update", "--task-history-limit", "7"), "Swarm updated.")
	assert.Equal(t, "7", mustDocker(t, "info", "--format", "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}"))

	_, errOut, code := docker(t, "swarm", "leave")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "Removing the last manager erases all current state of the swarm.")
	mustDocker(t, "swarm", "leave", "--force")
	_, errOut, code = docker(t, "node", "ls")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, notManagerMsg)
	assert.True(t, portFree(addr))
}
