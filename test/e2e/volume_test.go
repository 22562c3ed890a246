//go:build linux

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVolumes(t *testing.T) {
	begin(t)
	vol := uniq(t, "")
	assert.Equal(t, vol, mustWharf(t, "volume", "create", vol))
	t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", vol) })
	assert.Contains(t, mustWharf(t, "volume", "ls"), vol)
	assert.Equal(t, vol, mustWharf(t, "volume", "ls", "-q", "--filter", "name="+vol))

	var arr []map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustWharf(t, "volume", "inspect", vol)), &arr))
	require.Len(t, arr, 1)
	assert.Equal(t, vol, arr[0]["Name"])
	assert.Equal(t, "local", arr[0]["Driver"])
	mp, _ := arr[0]["Mountpoint"].(string)
	require.NotEmpty(t, mp)

	mustWharf(t, "run", "--rm", "-v", vol+":/data", busybox, "sh", "-c", "echo kept > /data/f")
	b, err := os.ReadFile(filepath.Join(mp, "f"))
	require.NoError(t, err, "volume data lives at its Mountpoint")
	assert.Equal(t, "kept\n", string(b))

	// in use → rm refused
	user := uniq(t, "user")
	rmOnCleanup(t, user)
	mustWharf(t, "create", "--name", user, "-v", vol+":/data", busybox, "true")
	_, _, code := wharf(t, "volume", "rm", vol)
	assert.NotEqual(t, 0, code, "a volume used by a container cannot be removed")
	mustWharf(t, "rm", user)

	assert.Equal(t, vol, mustWharf(t, "volume", "rm", vol))
	_, _, code = wharf(t, "volume", "inspect", vol)
	assert.NotEqual(t, 0, code)
	assert.NoDirExists(t, mp, "volume data removed with the volume")

	// a volume named in run -v is created on the fly, as docker does
	auto := uniq(t, "auto")
	t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", auto) })
	mustWharf(t, "run", "--rm", "-v", auto+":/data", busybox, "true")
	mustWharf(t, "volume", "inspect", auto)

	_, _, code = wharf(t, "volume", "create", "bad/name")
	assert.NotEqual(t, 0, code, "invalid volume name")
}

func TestVolumePrune(t *testing.T) {
	begin(t)
	// An anonymous volume (-v /data) outlives its container unless --rm or
	// rm -v; prune removes it.
	name := uniq(t, "")
	rmOnCleanup(t, name)
	mustWharf(t, "run", "--name", name, "-v", "/data", busybox, "true")
	anon := inspect(t, name, "{{range .Mounts}}{{.Name}}{{end}}")
	require.NotEmpty(t, anon, "-v /data creates an anonymous volume")
	mustWharf(t, "volume", "inspect", anon)
	mustWharf(t, "rm", name)

	keep := uniq(t, "used")
	t.Cleanup(func() { _, _, _ = wharf(t, "volume", "rm", "-f", keep) })
	user := uniq(t, "user")
	rmOnCleanup(t, user)
	mustWharf(t, "create", "--name", user, "-v", keep+":/data", busybox, "true")

	out := mustWharf(t, "volume", "prune", "-f")
	assert.Contains(t, out, anon)
	_, _, code := wharf(t, "volume", "inspect", anon)
	assert.NotEqual(t, 0, code, "prune removed the unused anonymous volume")
	mustWharf(t, "volume", "inspect", keep)

	// run --rm removes its anonymous volumes too
	before := mustWharf(t, "volume", "ls", "-q")
	mustWharf(t, "run", "--rm", "-v", "/data", busybox, "true")
	assert.Equal(t, before, mustWharf(t, "volume", "ls", "-q"))
}
