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
	r := Schedule([]*Node{a, b, c}, map[string]map[string]int{}, tasks("web", 6))
	assert.Empty(t, r.Unplaced)
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "c": 2}, perNode(r), "spread by service first")

	load := map[string]map[string]int{"web": {"a": 3}}
	r = Schedule([]*Node{node("a"), node("b")}, load, tasks("web", 1))
	assert.Equal(t, "b", r.Assigned["web-0"], "a node with fewer of the service's tasks wins")

	x, y := node("x"), node("y")
	x.Tasks = 4
	r = Schedule([]*Node{x, y}, map[string]map[string]int{}, tasks("db", 1))
	assert.Equal(t, "y", r.Assigned["db-0"], "then the emptiest node")
}

func TestFiltersAndReasons(t *testing.T) {
	down, drained, mgr, full := node("down"), node("drained"), node("mgr"), node("full")
	down.Ready = false
	drained.Active = false
	mgr.Role = "manager"
	mgr.Labels = map[string]string{"disk": "ssd"}
	full.Role = "manager"
	full.FreeMemory = 10
	nodes := []*Node{down, drained, mgr, full}

	r := Schedule(nodes, map[string]map[string]int{}, []Task{{ID: "t", ServiceID: "s", Constraints: []string{"node.role==manager", "node.labels.disk == SSD"}}})
	assert.Equal(t, "mgr", r.Assigned["t"], "constraints match case-insensitively")

	mgr.FreeMemory = 1 << 20
	r = Schedule(nodes, map[string]map[string]int{}, []Task{{ID: "t", ServiceID: "s", Constraints: []string{"node.role==manager"}, Memory: 1 << 30}})
	require.Contains(t, r.Unplaced, "t")
	assert.Contains(t, r.Unplaced["t"], "insufficient resources on 2 nodes")
	assert.Contains(t, r.Unplaced["t"], "1 node not available for new tasks")
	assert.Contains(t, r.Unplaced["t"], "1 node not ready")

	r = Schedule([]*Node{node("a")}, map[string]map[string]int{}, []Task{{ID: "t", ServiceID: "s", Constraints: []string{"node.labels.zone!=east"}}})
	assert.Equal(t, "a", r.Assigned["t"], "a missing label satisfies !=")
	r = Schedule([]*Node{node("a")}, map[string]map[string]int{}, []Task{{ID: "t", ServiceID: "s", Constraints: []string{"bogus"}}})
	assert.Contains(t, r.Unplaced["t"], "scheduling constraints not satisfied on 1 node")
}

func TestResourcesAndHostPorts(t *testing.T) {
	a := node("a")
	a.FreeCPU = 1_000_000_000
	r := Schedule([]*Node{a}, map[string]map[string]int{}, []Task{
		{ID: "1", ServiceID: "s", CPU: 400_000_000}, {ID: "2", ServiceID: "s", CPU: 400_000_000}, {ID: "3", ServiceID: "s", CPU: 400_000_000}})
	assert.Len(t, r.Assigned, 2, "reservations add up")
	assert.Contains(t, r.Unplaced["3"], "insufficient resources")

	p, q := node("p"), node("q")
	r = Schedule([]*Node{p, q}, map[string]map[string]int{}, []Task{
		{ID: "1", ServiceID: "h", HostPorts: []string{"tcp/80"}}, {ID: "2", ServiceID: "h", HostPorts: []string{"tcp/80"}},
		{ID: "3", ServiceID: "h", HostPorts: []string{"tcp/80"}}})
	assert.Equal(t, map[string]int{"p": 1, "q": 1}, perNode(r), "one host-mode port per node")
	assert.Contains(t, r.Unplaced, "3")
}

func TestParseConstraint(t *testing.T) {
	c, err := ParseConstraint(" node.labels.zone != east ")
	require.NoError(t, err)
	assert.Equal(t, Constraint{Key: "node.labels.zone", Equal: false, Value: "east"}, c)
	for _, bad := range []string{"", "node.role", "node.role==", "==x", "node.nope==x", "node.labels.==x", "node.role==a==b"} {
		_, err := ParseConstraint(bad)
		assert.Error(t, err, bad)
	}
}

func FuzzConstraint(f *testing.F) {
	for _, s := range []string{"node.role==manager", "node.labels.a!=b", "engine.labels.x==y", "!=", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConstraint(s)
		if err != nil {
			return
		}
		c.Matches(node("n")) // never panics
	})
}

// BenchmarkSchedule10kNodes100kTasks places 100,000 tasks of 100 services
// on 10,000 nodes, the scale; it reports placements per second.
func BenchmarkSchedule10kNodes100kTasks(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		nodes := make([]*Node, 10_000)
		for i := range nodes {
			n := node(fmt.Sprintf("node-%05d", i))
			n.FreeCPU, n.FreeMemory = 64e9, 256<<30
			n.Labels = map[string]string{"zone": fmt.Sprint(i % 3)}
			nodes[i] = n
		}
		var ts []Task
		for s := range 100 {
			for i := range 1000 {
				t := Task{ID: fmt.Sprintf("s%d-%d", s, i), ServiceID: fmt.Sprintf("s%d", s), CPU: 1e8, Memory: 64 << 20}
				if s%2 == 0 {
					t.Constraints = []string{fmt.Sprintf("node.labels.zone!=%d", s%3)}
				}
				ts = append(ts, t)
			}
		}
		b.StartTimer()
		r := Schedule(nodes, map[string]map[string]int{}, ts)
		if len(r.Assigned) != len(ts) {
			b.Fatalf("placed %d of %d", len(r.Assigned), len(ts))
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "placements/s")
}
