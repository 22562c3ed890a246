package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/cluster"
	"wharf.io/wharf/engine"
)

// fakeSwarm is the fake engine plus a swarm that records what it was asked.
type fakeSwarm struct {
	*fakeBackend
	active  bool
	version uint64
	flags   cluster.UpdateFlags
	spec    swarm.NodeSpec
	filters engine.Filters
}

func (f *fakeSwarm) SwarmInit(ctx context.Context, req swarm.InitRequest) (string, error) {
	if f.active {
		return "", cluster.ErrSwarmExists
	}
	f.active = true
	return "node1", nil
}
func (f *fakeSwarm) SwarmJoin(ctx context.Context, req swarm.JoinRequest) error { return nil }
func (f *fakeSwarm) SwarmLeave(ctx context.Context, force bool) error           { return nil }
func (f *fakeSwarm) SwarmInspect(ctx context.Context) (swarm.Swarm, error) {
	if !f.active {
		return swarm.Swarm{}, cluster.ErrNoManager
	}
	return swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "c1"}}, nil
}
func (f *fakeSwarm) SwarmUpdate(ctx context.Context, version uint64, spec swarm.Spec, flags cluster.UpdateFlags) error {
	f.version, f.flags = version, flags
	return nil
}
func (f *fakeSwarm) SwarmUnlockKey(ctx context.Context) (string, error)             { return "k", nil }
func (f *fakeSwarm) SwarmUnlock(ctx context.Context, req swarm.UnlockRequest) error { return nil }
func (f *fakeSwarm) NodeList(ctx context.Context, filters engine.Filters) ([]swarm.Node, error) {
	f.filters = filters
	return nil, nil
}
func (f *fakeSwarm) NodeInspect(ctx context.Context, id string) (swarm.Node, error) {
	return swarm.Node{ID: id}, nil
}
func (f *fakeSwarm) NodeUpdate(ctx context.Context, id string, version uint64, spec swarm.NodeSpec) error {
	f.version, f.spec = version, spec
	return nil
}
func (f *fakeSwarm) NodeRemove(ctx context.Context, id string, force bool) error { return nil }

func TestSwarmRoutes(t *testing.T) {
	f := &fakeSwarm{fakeBackend: newFake()}
	h := New(f)

	rec := do(h, "GET", "/v1.52/swarm", nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, `This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`, errorBody(t, rec))

	rec = do(h, "POST", "/swarm/init", strings.NewReader(`{"ListenAddr":"127.0.0.1:4000"}`))
	require.Equal(t, http.StatusOK, rec.Code)
	var id string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &id))
	assert.Equal(t, "node1", id)
	rec = do(h, "POST", "/swarm/init", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, errorBody(t, rec), "already part of a swarm")

	rec = do(h, "POST", "/swarm/update?version=7&rotateWorkerToken=true&rotateManagerToken=false", strings.NewReader(`{}`))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.EqualValues(t, 7, f.version)
	assert.Equal(t, cluster.UpdateFlags{RotateWorkerToken: true}, f.flags)
	rec = do(h, "POST", "/swarm/update?version=x", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	rec = do(h, "GET", `/nodes?filters={"role":{"manager":true}}`, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "[]\n", rec.Body.String())
	assert.Equal(t, []string{"manager"}, f.filters["role"])

	rec = do(h, "POST", "/nodes/n1/update?version=3", strings.NewReader(`{"Availability":"drain","Role":"manager"}`))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.EqualValues(t, 3, f.version)
	assert.Equal(t, swarm.NodeAvailabilityDrain, f.spec.Availability)

	rec = do(h, "GET", "/nodes/n1", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "DELETE", "/nodes/n1?force=1", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "GET", "/swarm/unlockkey", nil)
	assert.JSONEq(t, `{"UnlockKey":"k"}`, rec.Body.String())
}
