package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// debianImage is made once per suite by contrib/mkimage/debian.sh, whose
// debootstrap tarball is cached on the machine, so later suites import it in
// seconds.
const debianImage = "debian:bookworm"

var (
	debianOnce sync.Once
	debianErr  error
)

func needDebian(t *testing.T) {
	t.Helper()
	debianOnce.Do(func() {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			if _, err := os.Stat("/var/cache/wharf-mkimage/debian-bookworm-minbase.tar"); err != nil {
				debianErr = fmt.Errorf("debootstrap is not installed and no cached tarball")
				return
			}
		}
		cmd := exec.Command("/bin/bash", "-c", "set -eo pipefail; "+filepath.Join(env.repo, "contrib/mkimage/debian.sh")+
			" | wharf import -c 'CMD [\"bash\"]' - "+debianImage)
		cmd.Env = env.clientEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			debianErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if debianErr != nil {
		t.Skipf("skipping: no debian base image: %v", debianErr)
	}
}

// writeContext makes a build context dir from name → content.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// rmiOnCleanup removes image refs when the test ends.
func rmiOnCleanup(t *testing.T, refs ...string) {
	t.Cleanup(func() {
		if env.daemonRunning() {
			for _, r := range refs {
				_, _, _ = wharf(t, "rmi", "-f", r)
			}
		}
	})
}

// copyDir copies the example so a test can edit it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, fi.Mode().Perm())
	}))
	return dst
}

// curlHello runs the friendlyhello image published on a free port and
// checks the tutorial's answer.
func curlHello(t *testing.T, run func(args ...string) string, image string) {
	t.Helper()
	port := freePort(t, "tcp")
	id := run("run", "-d", "-p", fmt.Sprintf("%d:80", port), image)
	rmOnCleanup(t, id)
	body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	assert.Contains(t, body, "<h3>Hello World!</h3>")
	assert.Contains(t, body, "<b>Hostname:</b> "+id[:12])
	assert.Contains(t, body, "cannot connect to Redis, counter disabled")
}

func TestBuildFriendlyhello(t *testing.T) {
	begin(t)
	needDebian(t)
	dir := copyDir(t, filepath.Join(env.repo, "examples/friendlyhello"))
	tag := uniq(t, "app")
	rmiOnCleanup(t, tag)

	out := mustWharf(t, "build", "-t", tag, dir)
	assert.Contains(t, out, "Step 1/8 : FROM "+debianImage)
	assert.Contains(t, out, "Setting up python3-flask", "RUN output is streamed")
	assert.Regexp(t, `Successfully built [0-9a-f]{12}`, out)
	assert.Contains(t, out, "Successfully tagged "+tag+":latest")
	cfg := inspect(t, tag, "{{json .Config.Cmd}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{json .Config.Env}}")
	assert.Contains(t, cfg, `["python3","app.py"] /app {"80/tcp":{}}`)
	assert.Contains(t, cfg, "NAME=World")
	curlHello(t, func(args ...string) string { return mustWharf(t, args...) }, tag)

	// Warm: every step after FROM comes from the cache.
	out = mustWharf(t, "build", "-t", tag, dir)
	assert.Equal(t, 7, strings.Count(out, " ---> Using cache"), out)
	assert.NotContains(t, out, "Running in")

	// Editing app.py, which only the late COPY uses, runs no RUN again.
	app := filepath.Join(dir, "app.py")
	b, err := os.ReadFile(app)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(app, append(b, []byte("\n# edited\n")...), 0o644))
	out = mustWharf(t, "build", "-t", tag, dir)
	step4 := out[strings.Index(out, "Step 4/8"):strings.Index(out, "Step 5/8")]
	assert.Contains(t, step4, "Using cache", "the apt-get step is reused")
	step5 := out[strings.Index(out, "Step 5/8"):strings.Index(out, "Step 6/8")]
	assert.NotContains(t, step5, "Using cache", "the COPY of the edited file is not")
	assert.NotContains(t, out, "Running in")

	// The real docker CLI (legacy /build API) builds the same and runs it.
	needDocker(t)
	dtag := uniq(t, "docker")
	rmiOnCleanup(t, dtag)
	dout, derr, code := docker(t, "build", "-t", dtag, dir)
	require.Equal(t, 0, code, derr)
	assert.Contains(t, dout, "Successfully tagged "+dtag+":latest")
	assert.Equal(t, 7, strings.Count(dout, " ---> Using cache"), "docker build shares wharf's cache")
	curlHello(t, func(args ...string) string { return mustDocker(t, args...) }, dtag)
}

func TestBuildMultiStageAndConfig(t *testing.T) {
	begin(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `ARG BASE=busybox
FROM $BASE AS one
RUN echo one > /one.txt
FROM busybox AS two
RUN echo two > /two.txt
FROM busybox AS unused
RUN exit 1
FROM busybox
ARG GREETING=hi
COPY --from=one /one.txt /out/
COPY --from=two /two.txt /out/
COPY --chown=7:8 --chmod=644 files/ /files/
ADD archive.tar /unpacked/
WORKDIR /srv
ENV A=1 B="two words"
LABEL org.example.v=$GREETING
EXPOSE 8080 53/udp
USER 1000:1000
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
SHELL ["/bin/sh", "-ec"]
RUN <<EOT
echo "heredoc as $(id -u)" > /tmp/h
EOT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /out/one.txt /out/two.txt /files/f /unpacked/in-tar /tmp/h"]
`,
		"files/f":       "file\n",
		"ignored.md":    "no",
		".dockerignore": "*.md\n",
	})
	// A tar in the context: ADD unpacks it.
	var tb bytes.Buffer
	tarCmd := exec.Command("tar", "-C", writeContext(t, map[string]string{"in-tar": "from tar\n"}), "-c", "in-tar")
	tarCmd.Stdout = &tb
	require.NoError(t, tarCmd.Run())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "archive.tar"), tb.Bytes(), 0o644))

	tag := uniq(t, "")
	rmiOnCleanup(t, tag)
	out := mustWharf(t, "build", "-t", tag, "--label", "from.cli=yes", dir)
	assert.NotContains(t, out, "exit 1", "a stage the target does not need is not built")
	assert.Equal(t, "one\ntwo\nfile\nfrom tar\nheredoc as 1000", mustWharf(t, "run", "--rm", tag))
	assert.Equal(t, "644 7:8", mustWharf(t, "run", "--rm", "--user", "0", "--entrypoint", "stat", tag, "-c", "%a %u:%g", "/files/f"))
	_, _, code := wharf(t, "run", "--rm", "--entrypoint", "test", tag, "-e", "/ignored.md")
	assert.NotEqual(t, 0, code)

	for format, want := range map[string]string{
		"{{.Config.WorkingDir}}":            "/srv",
		"{{json .Config.Env}}":              `"A=1","B=two words"]`,
		"{{json .Config.Labels}}":           `{"from.cli":"yes","org.example.v":"hi"}`,
		"{{json .Config.ExposedPorts}}":     `{"53/udp":{},"8080/tcp":{}}`,
		"{{.Config.User}}":                  "1000:1000",
		"{{json .Config.Volumes}}":          `{"/data":{}}`,
		"{{.Config.StopSignal}}":            "SIGINT",
		"{{json .Config.Healthcheck.Test}}": `["CMD-SHELL","true"]`,
		"{{json .Config.Entrypoint}}":       `["/bin/sh","-c"]`,
		"{{json .Config.Cmd}}":              `["cat /out/one.txt /out/two.txt /files/f /unpacked/in-tar /tmp/h"]`,
	} {
		assert.Contains(t, inspect(t, tag, format), want, format)
	}
	hist := mustWharf(t, "history", "--no-trunc", tag)
	assert.Contains(t, hist, "ENV A=1 B=two words")
	assert.Contains(t, hist, "COPY --chown=7:8 --chmod=644 dir:")

	// Rebuilt: everything cached, also the stages and the --label step.
	out = mustWharf(t, "build", "-t", tag, "--label", "from.cli=yes", dir)
	assert.NotContains(t, out, "Running in")
	// --target stops at a stage.
	ttag := uniq(t, "target")
	rmiOnCleanup(t, ttag)
	mustWharf(t, "build", "-t", ttag, "--target", "two", dir)
	assert.Equal(t, "two", mustWharf(t, "run", "--rm", ttag, "cat", "/two.txt"))
}

func TestBuildFailingRunLeavesNothing(t *testing.T) {
	begin(t)
	before := mustWharf(t, "ps", "-aq", "--no-trunc")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo before-fail && exit 3\nRUN echo never\n"})
	tag := uniq(t, "")
	out, errOut, code := wharf(t, "build", "-t", tag, dir)
	assert.Equal(t, 3, code, "the exit code is the RUN's")
	assert.Contains(t, out, "before-fail")
	assert.Contains(t, errOut, "The command '/bin/sh -c echo before-fail && exit 3' returned a non-zero code: 3")
	assert.NotContains(t, out, "Step 3/3")
	assert.Equal(t, before, mustWharf(t, "ps", "-aq", "--no-trunc"), "no container is left")
	_, _, code = wharf(t, "image", "inspect", tag)
	assert.NotEqual(t, 0, code, "no image is tagged")

	needDocker(t)
	dout, derr, dcode := docker(t, "build", "-t", tag, dir)
	assert.Equal(t, 3, dcode)
	assert.Contains(t, dout, "before-fail")
	assert.Contains(t, derr, "returned a non-zero code: 3")
}

func TestBuildBadInput(t *testing.T) {
	begin(t)
	for _, tc := range []struct {
		name, dockerfile string
		args             []string
		want             string
	}{
		{"syntax", "FROM busybox\nRUN true\nFOO bar\n", nil, "Dockerfile:3: unknown instruction: FOO"},
		{"nobase", "FROM e2e-no-such-image:1\n", nil, "e2e-no-such-image:1"},
		{"nocopy", "FROM busybox\nCOPY missing.txt /\n", nil, "COPY failed: file not found in build context"},
		{"outside", "FROM busybox\nCOPY ../x /\n", nil, "forbidden path outside the build context"},
		{"target", "FROM busybox AS a\n", []string{"--target", "nope"}, "failed to reach build target nope"},
		{"expose", "FROM busybox\nEXPOSE abc\n", nil, "invalid containerPort: abc"},
		{"metaarg", "ARG V=${UNSET:?required}\nFROM busybox\n", nil, "ARG V: failed to process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
			_, errOut, code := wharf(t, append(append([]string{"build"}, tc.args...), dir)...)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errOut, tc.want)
		})
	}
	// A symlink in the context that points out of it is never followed.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY leak /leak\n"})
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(dir, "leak")))
	_, errOut, code := wharf(t, "build", dir)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "leak")
}

func TestBuildStdinAndCache(t *testing.T) {
	begin(t)
	tag := uniq(t, "")
	rmiOnCleanup(t, tag)
	// A bare Dockerfile on stdin; a unique ARG default keeps other suites'
	// cache records out of the way.
	df := fmt.Sprintf("FROM busybox\nARG U=%d\nRUN echo $U > /u\nCMD [\"cat\", \"/u\"]\n", time.Now().UnixNano())
	out, errOut, code := wharfIn(t, strings.NewReader(df), "build", "-t", tag, "-")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Running in")
	id := inspect(t, tag, "{{.Id}}")

	// -q prints only the ID; --iidfile writes it.
	iid := filepath.Join(t.TempDir(), "iid")
	out, errOut, code = wharfIn(t, strings.NewReader(df), "build", "-q", "--iidfile", iid, "-t", tag, "-")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, id, strings.TrimSpace(out))
	b, err := os.ReadFile(iid)
	require.NoError(t, err)
	assert.Equal(t, id, string(b))

	// The build's intermediate images are hidden from `images` (not from
	// -a), and neither a dangling prune nor `images -f dangling=true`
	// touches them: they are the cache.
	parent := inspect(t, id, "{{.Id}}")
	shown := mustWharf(t, "images", "-q")
	dangling := mustWharf(t, "images", "-q", "--filter", "dangling=true")
	var hidden []string
	for _, id := range lines(mustWharf(t, "images", "-a", "-q")) {
		if !strings.Contains(shown, id) {
			hidden = append(hidden, id)
		}
	}
	assert.NotEmpty(t, hidden, "images -a shows the intermediate images")
	for _, id := range hidden {
		assert.NotContains(t, dangling, id, "an intermediate image is not dangling")
	}
	mustWharf(t, "image", "prune", "-f")
	out, errOut, code = wharfIn(t, strings.NewReader(df), "build", "-t", tag, "-")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 3, strings.Count(out, "Using cache"), "a dangling prune keeps the cache: %s", out)
	assert.Equal(t, parent, inspect(t, tag, "{{.Id}}"))

	// The cache survives a daemon restart.
	env.killDaemon(syscall.SIGTERM, 15*time.Second)
	require.NoError(t, env.startDaemon())
	out, errOut, code = wharfIn(t, strings.NewReader(df), "build", "-t", tag, "-")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 3, strings.Count(out, "Using cache"), out)
	// --no-cache runs the step again.
	out = func() string {
		o, e, c := wharfIn(t, strings.NewReader(df), "build", "--no-cache", "-t", tag, "-")
		require.Equal(t, 0, c, e)
		return o
	}()
	assert.Contains(t, out, "Running in")
	assert.Regexp(t, regexp.MustCompile(`Successfully built [0-9a-f]{12}`), out)

	// builder prune drops the records: the next build runs RUN again.
	mustWharf(t, "builder", "prune", "-af")
	out, errOut, code = wharfIn(t, strings.NewReader(df), "build", "-t", tag, "-")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Running in")
}
