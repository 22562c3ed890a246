package compose

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An exponential alias tree ("billion laughs") must not make locating a
// bad value slow: aliases are not followed.
func TestAliasBombStaysFast(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for i := range 9 {
		name := string(rune('b' + i))
		b.WriteString("x-" + name + ": &" + name + " [")
		b.WriteString(strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", "))
		b.WriteString("]\n")
		prev = name
	}
	b.WriteString("services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n")
	start := time.Now()
	_, err := load(t, b.String())
	require.Error(t, err)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestLineOfFollowsKeysAndIndexes(t *testing.T) {
	_, err := load(t, "services:\n  web:\n    image: x\n    ports:\n      - \"80:80\"\n      - \"x:y\"\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "docker-compose.yml:6:", "the second entry's line")
}
