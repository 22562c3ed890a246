//go:build linux

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerSaveID is the image ID Docker 20.10 gave dtiny:1 (see
// testdata/docker-save/README.md): loading must reproduce it exactly.
const dockerSaveID = "sha256:0583c683566cd2454d38f9d703738036df1421d8a4486f4d5d3304eae8039f3e"

// TestLoadRealDockerSave loads a tarball written by a real `docker save`.
func TestLoadRealDockerSave(t *testing.T) {
	begin(t)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", "-f", "dtiny:1", "dtiny:base") })
	out := mustWharf(t, "load", "-i", filepath.Join(env.repo, "test/e2e/testdata/docker-save/docker-20.10-save.tar.gz"))
	assert.Contains(t, out, "Loaded image: dtiny:1")
	assert.Contains(t, out, "Loaded image: dtiny:base")

	assert.Equal(t, dockerSaveID, strings.TrimSpace(mustWharf(t, "image", "inspect", "-f", "{{.Id}}", "dtiny:1")))
	assert.Equal(t, "3", strings.TrimSpace(mustWharf(t, "image", "inspect", "-f", "{{len .RootFS.Layers}}", "dtiny:1")))
	assert.Equal(t, "layer2", strings.TrimSpace(mustWharf(t, "run", "--rm", "dtiny:1")), "CMD and the COPY layer")
	// The RUN layer's whiteout hides /etc/motd of the base layer; its new
	// directory and the image's ENV come through.
	got := mustWharf(t, "run", "--rm", "dtiny:1", "sh", "-c", "test -e /etc/motd && echo motd; cat /opaque/y; echo $FROM")
	assert.Equal(t, "x\ndocker", strings.TrimSpace(got))
	assert.Equal(t, "from docker 20.10", strings.TrimSpace(mustWharf(t, "run", "--rm", "dtiny:base", "cat", "/etc/motd")))
}

// TestSaveReadableBySkopeo checks `wharf save` against an independent
// reader of both formats the tarball carries: skopeo (containers/image)
// reads it as a docker-save archive and as an OCI layout, and copies the
// image out with every layer verified. (Checked by hand against Docker
// 20.10's `docker load` too; no Docker daemon runs in CI.)
func TestSaveReadableBySkopeo(t *testing.T) {
	begin(t)
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo is not installed (make deps installs it)")
	}
	ref := uniq(t, "") + ":v1"
	mustWharf(t, "tag", busybox, ref)
	t.Cleanup(func() { _, _, _ = wharf(t, "rmi", ref) })
	tarball := filepath.Join(t.TempDir(), "saved.tar")
	mustWharf(t, "save", "-o", tarball, ref)

	want := strings.TrimSpace(mustWharf(t, "image", "inspect", "-f", "{{json .RootFS.Layers}}", ref))
	// The OCI index names each manifest by its tag alone, as Docker 25+ does
	// (org.opencontainers.image.ref.name), the full name in containerd's key.
	for _, src := range []string{"docker-archive:" + tarball + ":" + ref, "oci-archive:" + tarball + ":v1"} {
		out, err := exec.Command(skopeo, "inspect", "--config", src).CombinedOutput()
		require.NoError(t, err, "skopeo inspect %s: %s", src, out)
		assert.Contains(t, strings.ReplaceAll(string(out), " ", ""), strings.Trim(want, "[]"), "%s: same layer diff IDs", src)

		dest := "oci:" + filepath.Join(t.TempDir(), "copy") + ":x"
		out, err = exec.Command(skopeo, "copy", "-q", src, dest).CombinedOutput()
		assert.NoError(t, err, "skopeo copy %s: %s", src, out)
	}
}
