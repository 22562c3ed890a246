package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func node(id string) *Node {
	return &Node{ID: id, Hostname: "host-" + id, Role: "worker", OS: "linux", Arch: "x86_64", Ready: true, Active: true,
		FreeCPU: -1, FreeMemory: -1}
}

func tasks(svc string, n int) []Task {
	var out []Task
	for i := range n {
		out = append(out, Task{ID: fmt.Sprintf("%s-%d", svc, i), ServiceID: svc})
	}
	return out
}

func withTask(t Task, f func(*Task)) []Task { f(&t); return []Task{t} }

func perNode(r Result) map[string]int {
	out := map[string]int{}
	for _, n := range r.Assigned {
		out[n]++
	}
	return out
}

func TestSpreadByServiceThenLoad(t *testing.T) {
	a, b, c := node("a"), node("b"), node("c")
	c.Tasks = 5 // busy with other services
	r := Schedule([]*Node{a, b, c}, nil, tasks("web", 6))
	assert.Empty(t, r.Unplaced)
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "c": 2}, perNode(r), "spread by service first")

	load := map[string]map[string]int{"web": {"a": 3}}
	r = Schedule([]*Node{node("a"), node("b")}, load, tasks("web", 1))
	assert.Equal(t, "b", r.Assigned["web-0"], "a node with fewer of the service's tasks wins")
	assert.Equal(t, map[string]int{"a": 3, "b": 1}, load["web"], "serviceLoad follows the placements")

	x, y := node("x"), node("y")
	x.Tasks = 4
	r = Schedule([]*Node{x, y}, nil, tasks("db", 1))
	assert.Equal(t, "y", r.Assigned["db-0"], "then the emptiest node")
	assert.Equal(t, 1, y.Tasks, "nodes are updated")
}

func TestTiesAreDeterministic(t *testing.T) {
	mk := func() []*Node { return []*Node{node("c"), node("a"), node("b")} }
	r1 := Schedule(mk(), nil, tasks("web", 2))
	r2 := Schedule(mk(), nil, tasks("web", 2))
	assert.Equal(t, r1, r2)
	assert.Equal(t, map[string]string{"web-0": "a", "web-1": "b"}, r1.Assigned, "ties go to the lowest node ID")
}

func TestDrainPauseDown(t *testing.T) {
	drained, paused, down := node("drained"), node("paused"), node("down")
	drained.Active, paused.Active = false, false // availability drain / pause
	down.Ready = false
	r := Schedule([]*Node{drained, paused, down}, nil, tasks("web", 2))
	assert.Empty(t, r.Assigned)
	assert.Equal(t, "no suitable node (3 nodes not available for new tasks)", r.Unplaced["web-0"])
	assert.Equal(t, r.Unplaced["web-0"], r.Unplaced["web-1"])

	ok := node("ok")
	r = Schedule([]*Node{drained, ok, down}, nil, tasks("web", 3))
	assert.Equal(t, map[string]int{"ok": 3}, perNode(r), "only the active, ready node takes tasks")
}

func TestNoNodes(t *testing.T) {
	r := Schedule(nil, nil, tasks("web", 1))
	assert.Equal(t, "no suitable node", r.Unplaced["web-0"])
}

func TestConstraints(t *testing.T) {
	mgr := node("m1")
	mgr.Role, mgr.Hostname = "manager", "alpha"
	mgr.Labels = map[string]string{"disk": "ssd"}
	mgr.EngineLabels = map[string]string{"tier": "front"}
	w := node("w1")
	w.Arch = "aarch64"
	nodes := []*Node{mgr, w}
	for _, tc := range []struct {
		constraints []string
		want        string
	}{
		{[]string{"node.role==manager"}, "m1"},
		{[]string{"node.role != manager"}, "w1"},
		{[]string{"node.hostname==ALPHA"}, "m1"},
		{[]string{"node.id==w1"}, "w1"},
		{[]string{"node.labels.disk == SSD"}, "m1"},
		{[]string{"node.labels.disk!=ssd"}, "w1"}, // a missing label satisfies !=
		{[]string{"engine.labels.tier==front"}, "m1"},
		{[]string{"node.platform.os==linux", "node.platform.arch==aarch64"}, "w1"},
	} {
		r := Schedule(nodes, nil, withTask(Task{ID: "t", ServiceID: "s"}, func(t *Task) { t.Constraints = tc.constraints }))
		assert.Equal(t, tc.want, r.Assigned["t"], "%v", tc.constraints)
	}
	r := Schedule(nodes, nil, withTask(Task{ID: "t", ServiceID: "s"}, func(t *Task) { t.Constraints = []string{"node.labels.disk==nvme"} }))
	assert.Equal(t, "no suitable node (scheduling constraints not satisfied on 2 nodes)", r.Unplaced["t"])
	r = Schedule(nodes, nil, withTask(Task{ID: "t", ServiceID: "s"}, func(t *Task) { t.Constraints = []string{"bogus"} }))
	assert.Equal(t, "no suitable node (scheduling constraints not satisfied on 2 nodes)", r.Unplaced["t"], "an invalid constraint is never met")
}

func TestResources(t *testing.T) {
	a := node("a")
	a.FreeCPU, a.FreeMemory = 1_000_000_000, 1<<30
	r := Schedule([]*Node{a}, nil, []Task{
		{ID: "1", ServiceID: "s", CPU: 400_000_000}, {ID: "2", ServiceID: "s", CPU: 400_000_000}, {ID: "3", ServiceID: "s", CPU: 400_000_000}})
	assert.Len(t, r.Assigned, 2, "reservations add up")
	assert.Equal(t, "no suitable node (insufficient resources on 1 node)", r.Unplaced["3"])
	assert.Equal(t, int64(200_000_000), a.FreeCPU)

	u := node("u") // reports nothing: unlimited
	r = Schedule([]*Node{u}, nil, withTask(Task{ID: "big", ServiceID: "s", CPU: 64e9, Memory: 1 << 40}, func(*Task) {}))
	assert.Equal(t, "u", r.Assigned["big"])

	small := node("small")
	small.FreeMemory = 10
	r = Schedule([]*Node{small, node("other")}, nil, []Task{{ID: "m", ServiceID: "s", Memory: 1 << 20}})
	assert.Equal(t, "other", r.Assigned["m"], "a node without room is skipped")
}

func TestHostPorts(t *testing.T) {
	p, q := node("p"), node("q")
	q.UsedPorts = map[string]bool{"udp/53": true}
	ts := []Task{
		{ID: "1", ServiceID: "h", HostPorts: []string{"tcp/80"}}, {ID: "2", ServiceID: "h", HostPorts: []string{"tcp/80"}},
		{ID: "3", ServiceID: "h", HostPorts: []string{"tcp/80"}}}
	r := Schedule([]*Node{p, q}, nil, ts)
	assert.Equal(t, map[string]int{"p": 1, "q": 1}, perNode(r), "one host-mode port per node")
	assert.Equal(t, "no suitable node (host-mode port already in use on 2 nodes)", r.Unplaced["3"])

	r = Schedule([]*Node{p, q}, nil, []Task{{ID: "dns", ServiceID: "d", HostPorts: []string{"udp/53"}}})
	assert.Equal(t, "p", r.Assigned["dns"], "a port another service holds is taken")
}

func TestMaxReplicasPerNode(t *testing.T) {
	ts := tasks("web", 5)
	for i := range ts {
		ts[i].MaxReplicas = 2
	}
	r := Schedule([]*Node{node("a"), node("b")}, nil, ts)
	assert.Equal(t, map[string]int{"a": 2, "b": 2}, perNode(r))
	assert.Equal(t, "no suitable node (max replicas per node limit exceed)", r.Unplaced["web-4"])
}

func TestPlatform(t *testing.T) {
	x86, arm := node("x86"), node("arm")
	arm.Arch = "aarch64"
	r := Schedule([]*Node{x86, arm}, nil, []Task{
		{ID: "amd", ServiceID: "a", Platforms: []Platform{{OS: "linux", Arch: "amd64"}}},
		{ID: "arm", ServiceID: "b", Platforms: []Platform{{OS: "linux", Arch: "arm64"}}},
		{ID: "win", ServiceID: "c", Platforms: []Platform{{OS: "windows", Arch: "amd64"}}},
	})
	assert.Equal(t, "x86", r.Assigned["amd"], "x86_64 is amd64")
	assert.Equal(t, "arm", r.Assigned["arm"], "aarch64 is arm64")
	assert.Equal(t, "no suitable node (unsupported platform on 2 nodes)", r.Unplaced["win"])
}

func TestReasonInDockersWords(t *testing.T) {
	var nodes []*Node
	for i := range 3 {
		n := node(fmt.Sprintf("small%d", i))
		n.Role, n.FreeMemory = "manager", 1<<20
		nodes = append(nodes, n)
	}
	w1, w2 := node("w1"), node("w2")
	w1.FreeMemory, w2.FreeMemory = 1<<20, 1<<20
	nodes = append(nodes, w1, w2)
	drained := node("d")
	drained.Active = false
	nodes = append(nodes, drained)
	r := Schedule(nodes, nil, []Task{{ID: "t", ServiceID: "s", Memory: 1 << 30, Constraints: []string{"node.role==manager"}}})
	// Most failures first; a node failing resources and constraints counts
	// against resources, which comes first in swarm's pipeline.
	assert.Equal(t, "no suitable node (insufficient resources on 5 nodes; 1 node not available for new tasks)", r.Unplaced["t"])

	w1.FreeMemory, w2.FreeMemory = -1, -1
	r = Schedule(nodes, nil, []Task{{ID: "t", ServiceID: "s", Memory: 1 << 30, Constraints: []string{"node.role==manager"}}})
	assert.Equal(t, "no suitable node (insufficient resources on 3 nodes; scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)", r.Unplaced["t"])
}

func TestPlacementPreferenceSpread(t *testing.T) {
	var nodes []*Node
	for i, zone := range []string{"east", "east", "east", "east", "west", "north", ""} {
		n := node(fmt.Sprintf("n%d", i))
		if zone != "" {
			n.Labels = map[string]string{"zone": zone}
		}
		nodes = append(nodes, n)
	}
	ts := tasks("web", 8)
	for i := range ts {
		ts[i].Spread = []string{"node.labels.zone"}
	}
	r := Schedule(nodes, nil, ts)
	require.Empty(t, r.Unplaced)
	zones := map[string]int{}
	for _, id := range r.Assigned {
		for _, n := range nodes {
			if n.ID == id {
				zones[n.Labels["zone"]]++
			}
		}
	}
	// Four groups (east, west, north and the unlabelled node): two each,
	// however many nodes a zone has.
	assert.Equal(t, map[string]int{"east": 2, "west": 2, "north": 2, "": 2}, zones)
	assert.Equal(t, 1, perNode(r)["n0"], "inside a zone, spread by service still applies")
	assert.Equal(t, 1, perNode(r)["n1"])

	// An exhausted zone leaves the others to take the rest.
	w := node("w")
	w.Labels = map[string]string{"zone": "west"}
	w.FreeCPU = 0
	e := node("e")
	e.Labels = map[string]string{"zone": "east"}
	ts = tasks("api", 3)
	for i := range ts {
		ts[i].Spread, ts[i].CPU = []string{"node.labels.zone"}, 1
	}
	r = Schedule([]*Node{w, e}, nil, ts)
	assert.Equal(t, map[string]int{"e": 3}, perNode(r))
}

func TestNestedSpread(t *testing.T) {
	var nodes []*Node
	for i, dc := range []string{"dc1", "dc1", "dc1", "dc2"} {
		n := node(fmt.Sprintf("n%d", i))
		n.Labels = map[string]string{"dc": dc, "rack": fmt.Sprint(i % 2)}
		nodes = append(nodes, n)
	}
	ts := tasks("db", 4)
	for i := range ts {
		ts[i].Spread = []string{"node.labels.dc", "node.labels.rack"}
	}
	r := Schedule(nodes, nil, ts)
	// dc1 and dc2 get two each; inside dc1 the two racks get one each.
	assert.Equal(t, map[string]int{"n0": 1, "n1": 1, "n3": 2}, perNode(r))
}

func TestGroupsShareLoad(t *testing.T) {
	// Two groups of one service (say, during a rolling update with new
	// reservations) still spread over each other's tasks.
	ts := []Task{{ID: "old", ServiceID: "web"}, {ID: "new", ServiceID: "web", CPU: 1}}
	r := Schedule([]*Node{node("a"), node("b")}, nil, ts)
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, perNode(r))
}

func TestEligibleOnePerNode(t *testing.T) {
	a, b, d, m := node("a"), node("b"), node("d"), node("m")
	d.Active = false
	m.Role = "manager"
	b.UsedPorts = map[string]bool{"tcp/80": true}
	got, why := Eligible([]*Node{m, d, b, a}, Task{ServiceID: "agent", Constraints: []string{"node.role==worker"}, HostPorts: []string{"tcp/80"}})
	assert.Empty(t, why)
	require.Len(t, got, 1)
	assert.Equal(t, "a", got[0].ID)

	got, why = Eligible([]*Node{d, m}, Task{ServiceID: "agent", Constraints: []string{"node.role==worker"}})
	assert.Empty(t, got)
	assert.Equal(t, "no suitable node (1 node not available for new tasks; scheduling constraints not satisfied on 1 node)", why)
}

// BenchmarkSchedule10kNodes100kTasks places 100,000 tasks of 100 services
// on 10,000 nodes, the scale; it reports placements per second.
// Half the services carry a node-label constraint, all reserve CPU and
// memory, every tenth spreads over zones.
func BenchmarkSchedule10kNodes100kTasks(b *testing.B) {
	const numNodes, numServices, perService = 10_000, 100, 1000
	ts := make([]Task, 0, numServices*perService)
	for s := range numServices {
		for i := range perService {
			t := Task{ID: fmt.Sprintf("s%d-%d", s, i), ServiceID: fmt.Sprintf("s%d", s), CPU: 1e8, Memory: 64 << 20}
			if s%2 == 0 {
				t.Constraints = []string{fmt.Sprintf("node.labels.zone!=%d", s%3)}
			}
			if s%10 == 1 {
				t.Spread = []string{"node.labels.zone"}
			}
			ts = append(ts, t)
		}
	}
	for b.Loop() {
		b.StopTimer()
		nodes := make([]*Node, numNodes)
		for i := range nodes {
			n := node(fmt.Sprintf("node-%05d", i))
			n.FreeCPU, n.FreeMemory = 64e9, 256<<30
			n.Labels = map[string]string{"zone": fmt.Sprint(i % 3)}
			nodes[i] = n
		}
		b.StartTimer()
		r := Schedule(nodes, nil, ts)
		if len(r.Assigned) != len(ts) {
			b.Fatalf("placed %d of %d", len(r.Assigned), len(ts))
		}
	}
	b.ReportMetric(float64(len(ts)*b.N)/b.Elapsed().Seconds(), "placements/s")
}
