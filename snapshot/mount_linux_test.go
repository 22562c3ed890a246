package snapshot

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestCommonDir(t *testing.T) {
	assert.Equal(t, "/a/b", commonDir([]string{"/a/b/1/fs", "/a/b/2/fs", "/a/b/10/work"}))
	assert.Equal(t, "/a", commonDir([]string{"/a/bc/1", "/a/b/2"}))
	assert.Equal(t, "/", commonDir([]string{"/x/1", "/y/2"}))
	assert.Equal(t, "/x/1", commonDir([]string{"/x/1"}))
	assert.Equal(t, "", commonDir(nil))
}

func TestParseOptions(t *testing.T) {
	flags, data := parseOptions([]string{"rbind", "ro", "nosuid", "lowerdir=/a", "index=off"})
	assert.Equal(t, uintptr(unix.MS_BIND|unix.MS_REC|unix.MS_RDONLY|unix.MS_NOSUID), flags)
	assert.Equal(t, []string{"lowerdir=/a", "index=off"}, data)
	flags, _ = parseOptions([]string{"ro", "rw"})
	assert.Zero(t, flags)
}

func TestUpperDir(t *testing.T) {
	d, err := UpperDir([]Mount{{Type: "overlay", Source: "overlay", Options: []string{"workdir=/w", "upperdir=/u", "lowerdir=/l"}}})
	assert.NoError(t, err)
	assert.Equal(t, "/u", d)
	d, err = UpperDir([]Mount{{Type: "bind", Source: "/s", Options: []string{"rbind", "rw"}}})
	assert.NoError(t, err)
	assert.Equal(t, "/s", d)
	_, err = UpperDir(nil)
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = UpperDir([]Mount{{Type: "overlay", Options: []string{"lowerdir=/a:/b"}}})
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func FuzzMountOptions(f *testing.F) {
	f.Add("rbind,ro,lowerdir=/a/1/fs:/a/2/fs,upperdir=/a/3/fs")
	f.Add("nosuid,,=,rw")
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, ",")
		_, data := parseOptions(opts)
		for _, d := range data {
			if _, isFlag := flagOptions[d]; isFlag {
				t.Fatalf("flag word %q left in data", d)
			}
		}
		dirs := strings.Split(s, ":")
		common := commonDir(dirs)
		for _, d := range dirs {
			c := filepath.Clean(d)
			if common != "/" && common != "." && c != common && !strings.HasPrefix(c, common+"/") {
				t.Fatalf("%q is not under common %q", d, common)
			}
		}
	})
}
