package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/snapshot"
)

// TestImportedRootfsRuns imports a busybox root filesystem, mounts a
// container snapshot of it and runs a command chrooted inside.
func TestImportedRootfsRuns(t *testing.T) {
	testutil.RequiresRoot(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("skipping: /bin/busybox not installed (apt-get install busybox-static)")
	}
	ctx := context.Background()
	env := newEnv(t)
	tarball := makeTar(t,
		tarEntry{Name: "bin/", Type: tar.TypeDir},
		tarEntry{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		tarEntry{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
	)
	img, err := env.store.Import(ctx, bytes.NewReader(gzipBytes(t, tarball)), "bb", []string{`CMD ["sh"]`}, "")
	require.NoError(t, err)
	mounts, err := env.sn.Prepare(ctx, "ctr", img.ChainID.String())
	require.NoError(t, err)
	target := t.TempDir()
	require.NoError(t, snapshot.MountAll(mounts, target))
	t.Cleanup(func() { assert.NoError(t, snapshot.Unmount(target)) })

	cmd := exec.Command("/bin/sh", "-c", "echo hi > /greeting && busybox cat /greeting")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: target}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "hi\n", string(out))
	used, err := env.sn.Usage(ctx, "ctr")
	require.NoError(t, err)
	assert.EqualValues(t, 3, used, "the write landed in the container layer")
}
