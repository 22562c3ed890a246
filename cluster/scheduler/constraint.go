package scheduler

import (
	"fmt"
	"strings"
)

// Constraint is one parsed placement constraint.
type Constraint struct {
	Key   string
	Equal bool // == (true) or != (false)
	Value string
}

// ParseConstraint reads "key==value" or "key!=value".
func ParseConstraint(s string) (Constraint, error) {
	op := "=="
	k, v, ok := strings.Cut(s, "==")
	if !ok {
		op = "!="
		if k, v, ok = strings.Cut(s, "!="); !ok {
			return Constraint{}, fmt.Errorf("constraint expected one operator from ==, !=: %q", s)
		}
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if k == "" || v == "" || strings.ContainsAny(v, "=!") {
		return Constraint{}, fmt.Errorf("invalid constraint %q", s)
	}
	switch {
	case k == "node.id", k == "node.hostname", k == "node.role", k == "node.platform.os", k == "node.platform.arch",
		strings.HasPrefix(k, "node.labels.") && len(k) > len("node.labels."),
		strings.HasPrefix(k, "engine.labels.") && len(k) > len("engine.labels."):
	default:
		return Constraint{}, fmt.Errorf("constraint key %q is not supported", k)
	}
	return Constraint{Key: k, Equal: op == "==", Value: v}, nil
}

// Matches evaluates the constraint on n (values compare case-insensitively,
// as swarm does; a missing label only satisfies !=).
func (c Constraint) Matches(n *Node) bool {
	var got string
	var present bool
	switch {
	case c.Key == "node.id":
		got, present = n.ID, true
	case c.Key == "node.hostname":
		got, present = n.Hostname, true
	case c.Key == "node.role":
		got, present = n.Role, true
	case c.Key == "node.platform.os":
		got, present = n.OS, true
	case c.Key == "node.platform.arch":
		got, present = n.Arch, true
	case strings.HasPrefix(c.Key, "node.labels."):
		got, present = n.Labels[strings.TrimPrefix(c.Key, "node.labels.")]
	case strings.HasPrefix(c.Key, "engine.labels."):
		got, present = n.EngineLabels[strings.TrimPrefix(c.Key, "engine.labels.")]
	}
	eq := present && strings.EqualFold(got, c.Value)
	return eq == c.Equal
}

// Satisfies reports whether n meets every constraint; an unparsable one
// is never met.
func Satisfies(n *Node, constraints []string) bool {
	for _, s := range constraints {
		c, err := ParseConstraint(s)
		if err != nil || !c.Matches(n) {
			return false
		}
	}
	return true
}
