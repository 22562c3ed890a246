package ids

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
)

func TestNewAndShort(t *testing.T) {
	id := New()
	assert.Len(t, id, 64)
	assert.True(t, IsHexPrefix(id))
	assert.NotEqual(t, id, New())
	assert.Equal(t, id[:12], Short(id))
	assert.Equal(t, "abc", Short("abc"))
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"web", "/web", "a", "my_app.1-2"} {
		assert.NoError(t, ValidateName(ok), ok)
	}
	for _, bad := range []string{"", "-x", "_x", "a/b", "a b", "../x", "é"} {
		assert.True(t, errdefs.IsInvalidArgument(ValidateName(bad)), bad)
	}
}

func FuzzValidateName(f *testing.F) {
	f.Add("web")
	f.Add("../etc")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		// Whatever is accepted is safe as a path element and a DNS-ish label.
		for i, r := range s {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || (r == '/' && i == 0)
			if !ok {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}
