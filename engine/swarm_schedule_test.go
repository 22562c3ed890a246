package engine

import (
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
)

func TestSwarmSchedulerPassesPlacement(t *testing.T) {
	node := func(id, zone string) *swarm.Node {
		return &swarm.Node{ID: id, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive, Role: swarm.NodeRoleWorker,
			Annotations: swarm.Annotations{Labels: map[string]string{"zone": zone}}},
			Status:      swarm.NodeStatus{State: swarm.NodeStateReady},
			Description: swarm.NodeDescription{Platform: swarm.Platform{OS: "linux", Architecture: "x86_64"}}}
	}
	nodes := []*swarm.Node{node("a", "east"), node("b", "east"), node("c", "west")}
	task := func(id string) *swarm.Task {
		return &swarm.Task{ID: id, ServiceID: "s", DesiredState: swarm.TaskStateRunning, Spec: swarm.TaskSpec{
			Placement: &swarm.Placement{MaxReplicas: 1,
				Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}}}}
	}
	assigned, unplaced := swarmScheduler{}.Schedule([]*swarm.Task{task("1"), task("2"), task("3"), task("4")}, nodes, nil, nil)
	assert.Len(t, assigned, 3, "max one replica per node")
	assert.Len(t, unplaced, 1)
	zones := map[string]int{}
	for _, n := range assigned {
		zones[map[string]string{"a": "east", "b": "east", "c": "west"}[n]]++
	}
	assert.Equal(t, 1, zones["west"], "spread over zones puts one of the first two in west")

	// A platform the node cannot run keeps the task pending.
	arm := task("arm")
	arm.Spec.Placement = &swarm.Placement{Platforms: []swarm.Platform{{OS: "linux", Architecture: "arm64"}}}
	_, unplaced = swarmScheduler{}.Schedule([]*swarm.Task{arm}, nodes, nil, nil)
	assert.Contains(t, unplaced, "arm")
}
