package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/snapshot"
)

func TestCommitUpperDir(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	base := importImage(t, env.store, "base")
	mounts, err := env.sn.Prepare(ctx, "ctr", base.ChainID.String())
	require.NoError(t, err)
	upper, err := snapshot.UpperDir(mounts)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(upper, "added"), []byte("new!"), 0o644))

	cfg := base.Config
	cfg.Config.Cmd = []string{"/bin/hello"}
	img, err := env.store.Commit(ctx, base, "ctr", cfg, "committed:v1")
	require.NoError(t, err)
	assert.Equal(t, []string{"committed:v1"}, img.RepoTags)
	require.Len(t, img.Layers, 2)
	assert.Equal(t, base.Layers[0], img.Layers[0])
	assert.Len(t, img.Config.RootFS.DiffIDs, 2)
	assert.Len(t, img.Config.History, 2)
	assert.Equal(t, []string{"/bin/hello"}, img.Config.Config.Cmd)
	assert.EqualValues(t, base.Size+4, img.Size)
	hist, err := env.store.History(ctx, "committed:v1")
	require.NoError(t, err)
	assert.EqualValues(t, 4, hist[0].Size)

	// The committed image survives removing the container and the base tag.
	require.NoError(t, env.sn.Remove(ctx, "ctr"))
	_, err = env.store.Remove(ctx, "base", false, false, nil)
	require.NoError(t, err)
	_, err = env.sn.Stat(ctx, base.ChainID.String())
	require.NoError(t, err, "still the parent of the committed image")
}

func TestCommitMounted(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	env := newEnv(t)
	base := importImage(t, env.store, "base")
	mounts, err := env.sn.Prepare(ctx, "ctr", base.ChainID.String())
	require.NoError(t, err)
	target := t.TempDir()
	require.NoError(t, snapshot.MountAll(mounts, target))
	t.Cleanup(func() { snapshot.Unmount(target) })
	require.NoError(t, os.Remove(filepath.Join(target, "etc/os-release")))
	require.NoError(t, os.RemoveAll(filepath.Join(target, "bin")))
	require.NoError(t, os.Mkdir(filepath.Join(target, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(target, "bin/only"), []byte("1"), 0o755))
	require.NoError(t, snapshot.Unmount(target))

	img, err := env.store.Commit(ctx, base, "ctr", dockerspec.DockerOCIImage{}, "")
	require.NoError(t, err)
	mounts, err = env.sn.Prepare(ctx, "check", img.ChainID.String())
	require.NoError(t, err)
	check := t.TempDir()
	require.NoError(t, snapshot.MountAll(mounts, check))
	t.Cleanup(func() { snapshot.Unmount(check) })
	_, err = os.Stat(filepath.Join(check, "etc/os-release"))
	assert.True(t, os.IsNotExist(err), "deletion carried by a whiteout")
	entries, err := os.ReadDir(filepath.Join(check, "bin"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "replaced directory is opaque")
	assert.Equal(t, "only", entries[0].Name())
}
