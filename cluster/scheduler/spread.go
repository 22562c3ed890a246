package scheduler

import (
	"slices"
	"strings"
)

// branch is a node of the placement-preference tree: one level per
// preference, one branch per label value, candidates in the leaves. With
// no preferences the tree is a single leaf.
type branch struct {
	value    string
	count    int       // the service's tasks on the candidates below
	children []*branch // sorted by value; nil for a leaf
	heap     nodeHeap  // leaf only
	done     bool      // no candidate left below
}

// buildTree splits candidates by the value of each spread descriptor in
// turn; nodes without the label share the "" branch, as in swarm.
func buildTree(cands []entry, spread []string) *branch {
	b := &branch{}
	for i := range cands {
		b.count += cands[i].svc
	}
	if len(spread) == 0 {
		b.heap = nodeHeap(cands)
		b.heap.init()
		return b
	}
	parts := map[string][]entry{}
	for _, e := range cands {
		v, _ := nodeValue(e.n, spread[0])
		parts[v] = append(parts[v], e)
	}
	values := make([]string, 0, len(parts))
	for v := range parts {
		values = append(values, v)
	}
	slices.Sort(values)
	b.children = make([]*branch, 0, len(values))
	for _, v := range values {
		c := buildTree(parts[v], spread[1:])
		c.value = v
		b.children = append(b.children, c)
	}
	return b
}

// pick walks down to the leaf to place the next task in: at each level the
// branch holding the fewest of the service's tasks (ties to the first
// value). path receives the branches walked so the caller can count the
// placement; a nil leaf means no candidate is left.
func (root *branch) pick(path []*branch) ([]*branch, *branch) {
	for !root.done {
		path = path[:0]
		b := root
		for b.children != nil {
			path = append(path, b)
			var best *branch
			for _, c := range b.children {
				if !c.done && (best == nil || c.count < best.count) {
					best = c
				}
			}
			if best == nil {
				b.done = true
				break
			}
			b = best
		}
		if b.children != nil {
			continue // an exhausted inner branch: start again from the root
		}
		if len(b.heap) == 0 {
			b.done = true
			continue
		}
		return append(path, b), b
	}
	return path, nil
}

// nodeValue reads a constraint or preference key on n.
func nodeValue(n *Node, key string) (string, bool) {
	switch {
	case key == keyNodeID:
		return n.ID, true
	case key == keyNodeHostname:
		return n.Hostname, true
	case key == keyNodeRole:
		return n.Role, true
	case key == keyPlatformOS:
		return n.OS, true
	case key == keyPlatformArch:
		return n.Arch, true
	case strings.HasPrefix(key, prefixNodeLabel):
		v, ok := n.Labels[key[len(prefixNodeLabel):]]
		return v, ok
	case strings.HasPrefix(key, prefixEngineLabel):
		v, ok := n.EngineLabels[key[len(prefixEngineLabel):]]
		return v, ok
	}
	return "", false
}
