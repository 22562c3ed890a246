package scheduler

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConstraint(t *testing.T) {
	c, err := ParseConstraint(" node.labels.zone != east ")
	require.NoError(t, err)
	assert.Equal(t, Constraint{Key: "node.labels.zone", Equal: false, Value: "east"}, c)
	c, err = ParseConstraint("node.role==manager")
	require.NoError(t, err)
	assert.Equal(t, Constraint{Key: "node.role", Equal: true, Value: "manager"}, c)
	for _, bad := range []string{"", "node.role", "node.role==", "==x", "node.nope==x", "node.labels.==x",
		"node.role==a==b", "node.role!=a!=b", "node.role=manager", "node.labels.a b==c", "engine.labels.==x"} {
		_, err := ParseConstraint(bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q: %v", bad, err)
	}
}

func TestSatisfies(t *testing.T) {
	n := node("n")
	n.Labels = map[string]string{"zone": "east"}
	assert.True(t, Satisfies(n, []string{"node.labels.zone==east", "node.role==worker"}))
	assert.False(t, Satisfies(n, []string{"node.labels.zone==east", "node.role==manager"}))
	assert.False(t, Satisfies(n, []string{"nonsense"}))
	assert.True(t, Satisfies(n, nil))
}

func FuzzConstraint(f *testing.F) {
	for _, s := range []string{"node.role==manager", "node.labels.a!=b", "engine.labels.x==y", "!=", "==",
		"node.platform.arch == x86_64", "node.hostname!=a.b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConstraint(s)
		if err != nil {
			return
		}
		// A parsed constraint has a known key and a value without
		// operators, and == and != always disagree.
		require.True(t, validKey(c.Key) && validValue(c.Value), "%q", s)
		opposite := c
		opposite.Equal = !c.Equal
		n := node("n")
		n.Labels = map[string]string{"a": "b"}
		require.NotEqual(t, c.Matches(n), opposite.Matches(n))
	})
}
