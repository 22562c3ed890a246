package favordynmods

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuperOptions(t *testing.T) {
	tests := map[string][]string{
		"rw":                                 nil,
		"":                                   nil,
		"rw,nsdelegate,memory_recursiveprot": {"nsdelegate", "memory_recursiveprot"},
		"ro,favordynmods":                    {"favordynmods"},
		"rw,nsdelegate,,memory_localevents":  {"nsdelegate", "memory_localevents"},
		"rw,future_option=3":                 {"future_option=3"},
	}
	for in, want := range tests {
		assert.Equal(t, want, superOptions(in), in)
	}
}

func TestSupported(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	tests := map[string]struct {
		path string
		want bool
	}{
		"listed (Linux 6.18)":    {write("new", "nsdelegate\nfavordynmods\nmemory_localevents\n"), true},
		"not listed (Linux 5.x)": {write("old", "nsdelegate\nmemory_localevents\nmemory_recursiveprot\n"), false},
		"no features file":       {filepath.Join(dir, "missing"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := supported(tc.path)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ok)
		})
	}
}
