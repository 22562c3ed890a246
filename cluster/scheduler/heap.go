package scheduler

// entry is a candidate node in a group's heap. svc caches the service's
// task count there and rank the node's position in ID order, so ordering
// never touches a map or compares strings.
type entry struct {
	n    *Node
	svc  int
	rank int
}

// nodeHeap is a binary min-heap of candidates ordered by (tasks of the
// service, tasks overall, node ID). It is hand-rolled rather than
// container/heap so that the hot path has no interface calls or boxing.
type nodeHeap []entry

func (h nodeHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.svc != b.svc {
		return a.svc < b.svc
	}
	if a.n.Tasks != b.n.Tasks {
		return a.n.Tasks < b.n.Tasks
	}
	return a.rank < b.rank
}

func (h nodeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// down restores the heap below i after h[i] grew.
func (h nodeHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// pop drops the top.
func (h *nodeHeap) pop() {
	old := *h
	last := len(old) - 1
	old[0] = old[last]
	*h = old[:last]
	h.down(0)
}
