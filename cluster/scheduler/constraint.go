package scheduler

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// Constraint is one parsed placement constraint.
type Constraint struct {
	Key   string
	Equal bool // == (true) or != (false)
	Value string
}

// Keys a constraint may test; labels take a suffix.
const (
	keyNodeID         = "node.id"
	keyNodeHostname   = "node.hostname"
	keyNodeRole       = "node.role"
	keyPlatformOS     = "node.platform.os"
	keyPlatformArch   = "node.platform.arch"
	prefixNodeLabel   = "node.labels."
	prefixEngineLabel = "engine.labels."
)

// ParseConstraint reads "key==value" or "key!=value" (spaces around the
// operator allowed), with swarm's keys and value alphabet.
func ParseConstraint(s string) (Constraint, error) {
	// "!=" is searched first: "a!=b" also contains no "==", but "a!==b"
	// must not read as key "a!" with "==".
	equal := false
	k, v, ok := strings.Cut(s, "!=")
	if !ok {
		equal = true
		if k, v, ok = strings.Cut(s, "=="); !ok {
			return Constraint{}, fmt.Errorf("constraint %q: expected one operator from ==, !=: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !validKey(k) {
		return Constraint{}, fmt.Errorf("constraint %q: invalid key %q: %w", s, k, errdefs.ErrInvalidArgument)
	}
	if !validValue(v) {
		return Constraint{}, fmt.Errorf("constraint %q: invalid value %q: %w", s, v, errdefs.ErrInvalidArgument)
	}
	switch {
	case k == keyNodeID, k == keyNodeHostname, k == keyNodeRole, k == keyPlatformOS, k == keyPlatformArch,
		strings.HasPrefix(k, prefixNodeLabel) && len(k) > len(prefixNodeLabel),
		strings.HasPrefix(k, prefixEngineLabel) && len(k) > len(prefixEngineLabel):
	default:
		return Constraint{}, fmt.Errorf("constraint %q: key %q is not supported: %w", s, k, errdefs.ErrInvalidArgument)
	}
	return Constraint{Key: k, Equal: equal, Value: v}, nil
}

// ParseConstraints parses a service's constraint list.
func ParseConstraints(list []string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(list))
	for _, s := range list {
		c, err := ParseConstraint(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// validKey is swarmkit's key alphabet: [a-zA-Z_][a-zA-Z0-9_.-]+.
func validKey(k string) bool {
	if len(k) < 2 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// validValue is swarmkit's value alphabet: letters, digits, spaces and
// :-_.*()?+[]\^$|/ — enough for hostnames, IDs, label values and the
// regex-looking values people write, but no operators.
func validValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(":-_ \t.*()?+[]\\^$|/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Matches evaluates the constraint on n. Values compare case-insensitively
// and a missing label reads as "" (so it satisfies only !=), as in swarm.
func (c Constraint) Matches(n *Node) bool {
	got, _ := nodeValue(n, c.Key)
	return strings.EqualFold(got, c.Value) == c.Equal
}

// matchAll reports whether n meets every constraint.
func matchAll(n *Node, cs []Constraint) bool {
	for _, c := range cs {
		if !c.Matches(n) {
			return false
		}
	}
	return true
}

// Satisfies reports whether n meets every constraint; an unparsable one
// is never met.
func Satisfies(n *Node, constraints []string) bool {
	cs, err := ParseConstraints(constraints)
	return err == nil && matchAll(n, cs)
}
