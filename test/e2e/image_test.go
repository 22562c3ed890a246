//go:build linux

package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tarEntry is one member of a tarball built by makeTar; Link makes a symlink.
type tarEntry struct {
	Name, Body, Link string
	Dir              bool
}

func makeTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.Body))}
		switch {
		case e.Dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.Link, 0
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := io.WriteString(tw, e.Body)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// importTar imports a tarball as ref and removes the image when the test ends.
func importTar(t *testing.T, ref string, tarball []byte) string {
	t.Helper()
	out, errOut, code := wharfIn(t, bytes.NewReader(tarball), "import", "-", ref)
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", "-f", ref) })
	return strings.TrimSpace(out)
}

func TestImageBasics(t *testing.T) {
	begin(t)
	out := mustWharf(t, "image", "ls")
	assert.Contains(t, out, "REPOSITORY")
	assert.Contains(t, out, "busybox")
	assert.Equal(t, out, mustWharf(t, "images"))

	id := mustWharf(t, "image", "inspect", "-f", "{{.Id}}", busybox)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, id)
	assert.Contains(t, lines(mustWharf(t, "images", "-q")), strings.TrimPrefix(id, "sha256:")[:12])

	tagged := "e2e/tagged:v1"
	mustWharf(t, "tag", busybox, tagged)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", tagged) })
	assert.Equal(t, id, mustWharf(t, "image", "inspect", "-f", "{{.Id}}", tagged))
	assert.Contains(t, mustWharf(t, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"), tagged)
	var arr []map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustWharf(t, "image", "inspect", tagged)), &arr))
	require.Len(t, arr, 1)
	assert.Contains(t, arr[0]["RepoTags"], tagged)
	assert.Contains(t, arr[0], "RootFS")

	hist := mustWharf(t, "history", busybox)
	assert.Contains(t, hist, "IMAGE")
	assert.GreaterOrEqual(t, len(lines(hist)), 2, "history has at least one row")

	out = mustWharf(t, "rmi", tagged)
	assert.Contains(t, out, "Untagged: "+tagged)
	_, _, code := wharf(t, "image", "inspect", tagged)
	assert.NotEqual(t, 0, code)
	assert.Equal(t, id, mustWharf(t, "image", "inspect", "-f", "{{.Id}}", busybox), "untagging keeps the image")

	_, _, code = wharf(t, "tag", busybox, "UPPER:case")
	assert.NotEqual(t, 0, code, "bad reference for tag")
	_, _, code = wharf(t, "image", "inspect", "e2e/no-such:image")
	assert.NotEqual(t, 0, code)
}

func TestImageInUse(t *testing.T) {
	begin(t)
	ref := "e2e/inuse:1"
	mustWharf(t, "tag", busybox, ref)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", ref) })
	name := uniq(t, "")
	rmOnCleanup(t, name)
	mustWharf(t, "create", "--name", name, busybox, "true")
	_, _, code := wharf(t, "rmi", busybox)
	assert.Equal(t, 0, code, "removing one of two tags only untags, even in use")
	mustWharf(t, "tag", ref, busybox)
	id := mustWharf(t, "image", "inspect", "-f", "{{.Id}}", busybox)
	_, errOut, code := wharf(t, "rmi", id)
	assert.NotEqual(t, 0, code, "an image used by a container cannot be removed by ID")
	assert.NotEmpty(t, errOut)
}

func TestImageImportSaveLoad(t *testing.T) {
	begin(t)
	ref := "e2e/tiny:1"
	tarball := makeTar(t, tarEntry{Name: "etc/", Dir: true}, tarEntry{Name: "etc/tiny", Body: "tiny\n"})
	out := importTar(t, ref, tarball)
	id := mustWharf(t, "image", "inspect", "-f", "{{.Id}}", ref)
	assert.Contains(t, out, strings.TrimPrefix(id, "sha256:"), "import prints the new image ID")

	dir := t.TempDir()
	saved := filepath.Join(dir, "tiny.tar")
	mustWharf(t, "save", "-o", saved, ref)
	names := tarNames(t, saved)
	assert.Contains(t, names, "manifest.json", "save writes a docker-save tarball")
	assert.Contains(t, names, "index.json", "… that is also an OCI layout")
	assert.Contains(t, names, "oci-layout")

	mustWharf(t, "rmi", ref)
	_, _, code := wharf(t, "image", "inspect", id)
	require.NotEqual(t, 0, code, "the image is gone after rmi of its only tag")

	out = mustWharf(t, "load", "-i", saved)
	assert.Contains(t, out, "Loaded image: "+ref)
	assert.Equal(t, id, mustWharf(t, "image", "inspect", "-f", "{{.Id}}", ref), "save/load keeps the image ID")

	saved2 := filepath.Join(dir, "stdout.tar")
	f, err := os.Create(saved2)
	require.NoError(t, err)
	defer f.Close()
	stdout, errOut, code := wharf(t, "save", ref)
	require.Equal(t, 0, code, errOut)
	_, err = f.WriteString(stdout)
	require.NoError(t, err)
	assert.Contains(t, tarNames(t, saved2), "manifest.json", "save without -o writes to stdout")

	// load from stdin
	mustWharf(t, "rmi", ref)
	in, err := os.Open(saved)
	require.NoError(t, err)
	defer in.Close()
	out, errOut, code = wharfIn(t, in, "load")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Loaded image: "+ref)
}

func TestImageImportRuns(t *testing.T) {
	begin(t)
	// busybox saved and loaded under another name must still run.
	ref := "e2e/bb-copy:1"
	saved := filepath.Join(t.TempDir(), "bb.tar")
	mustWharf(t, "tag", busybox, ref)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", ref) })
	mustWharf(t, "save", "-o", saved, ref)
	mustWharf(t, "rmi", ref)
	mustWharf(t, "load", "-i", saved)
	assert.Equal(t, "ok", mustWharf(t, "run", "--rm", ref, "echo", "ok"))
}

func TestImagePrune(t *testing.T) {
	begin(t)
	ref := "e2e/prune:1"
	importTar(t, ref, makeTar(t, tarEntry{Name: "a", Body: "first"}))
	old := mustWharf(t, "image", "inspect", "-f", "{{.Id}}", ref)
	importTar(t, ref, makeTar(t, tarEntry{Name: "a", Body: "second"}))
	require.NotEqual(t, old, mustWharf(t, "image", "inspect", "-f", "{{.Id}}", ref))
	// the first image lost its tag: dangling
	assert.Contains(t, mustWharf(t, "images", "-a", "--filter", "dangling=true", "-q", "--no-trunc"), old)

	out := mustWharf(t, "image", "prune", "-f")
	assert.Contains(t, out, old)
	_, _, code := wharf(t, "image", "inspect", old)
	assert.NotEqual(t, 0, code, "prune removed the dangling image")
	mustWharf(t, "image", "inspect", ref)
	mustWharf(t, "image", "inspect", busybox)
}

// TestImageImportHostile feeds tarballs that try to write outside the layer.
func TestImageImportHostile(t *testing.T) {
	begin(t)
	outside := t.TempDir()
	cases := map[string][]byte{
		"dotdot":   makeTar(t, tarEntry{Name: "../../../../../../../.." + outside + "/dotdot", Body: "x"}),
		"absolute": makeTar(t, tarEntry{Name: outside + "/absolute", Body: "x"}),
		"symlink": makeTar(t,
			tarEntry{Name: "escape", Link: outside},
			tarEntry{Name: "escape/symlink", Body: "x"}),
		"symlink-dotdot": makeTar(t,
			tarEntry{Name: "up", Link: "../../../../../../../../"},
			tarEntry{Name: "up" + outside + "/symlink-dotdot", Body: "x"}),
	}
	for name, tb := range cases {
		t.Run(name, func(t *testing.T) {
			ref := "e2e/hostile:" + name
			_, _, code := wharfIn(t, bytes.NewReader(tb), "import", "-", ref)
			if code == 0 {
				_, _, _ = wharf(t, "rmi", "-f", ref)
			}
			ents, err := os.ReadDir(outside)
			require.NoError(t, err)
			assert.Empty(t, ents, "import wrote outside the layer")
		})
	}
	assert.Empty(t, env.mountsBelow(), "no mount left after hostile imports")
}

func TestImageRmAllListed(t *testing.T) {
	begin(t)
	// `wharf image rm $(wharf image ls -a -q)` with no containers removes
	// every image; busybox is re-imported afterwards for the other tests.
	n, err := env.rmAllContainers()
	require.NoError(t, err)
	require.Zero(t, n, "earlier tests left containers behind")
	t.Cleanup(func() { reimportBusybox(t) })
	// ls -q prints an image once per tag; the shell user would pipe
	// through sort -u for that, and so do we.
	var ids []string
	seen := map[string]bool{}
	for _, id := range lines(mustWharf(t, "image", "ls", "-a", "-q")) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	require.NotEmpty(t, ids)
	mustWharf(t, append([]string{"image", "rm"}, ids...)...)
	assert.Empty(t, mustWharf(t, "image", "ls", "-a", "-q"))
}

func reimportBusybox(t *testing.T) {
	t.Helper()
	tb, err := readBusybox()
	require.NoError(t, err)
	_, errOut, code := wharfIn(t, bytes.NewReader(tb), "import", "-", busybox)
	require.Equal(t, 0, code, errOut)
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names = append(names, strings.TrimPrefix(h.Name, "./"))
	}
	return names
}
