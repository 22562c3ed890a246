package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	imagesBefore := mustWharf(t, "images", "-a", "-q", "--no-trunc")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo before-fail && exit 3\nRUN echo never\n"})
	tag := uniq(t, "")
	out, errOut, code := wharf(t, "build", "-t", tag, dir)
	assert.Equal(t, 3, code, "the exit code is the RUN's")
	assert.Contains(t, out, "before-fail")
	assert.Contains(t, errOut, "The command '/bin/sh -c echo before-fail && exit 3' returned a non-zero code: 3")
	assert.NotContains(t, out, "Step 3/3")
	assert.Equal(t, before, mustWharf(t, "ps", "-aq", "--no-trunc"), "no container is left")
	assert.Equal(t, imagesBefore, mustWharf(t, "images", "-a", "-q", "--no-trunc"), "no half-built image is kept")
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
		// BuildKit-only flags are refused before anything runs, not ignored.
		{"runmount", "FROM busybox\nRUN echo ran\nRUN --mount=type=cache,target=/c true\n", nil, "Dockerfile:3: the --mount option requires BuildKit"},
		{"runnetwork", "FROM busybox\nRUN --network=none true\n", nil, "Dockerfile:2: the --network option requires BuildKit"},
		{"runsecurity", "FROM busybox\nRUN --security=insecure true\n", nil, "the --security option requires BuildKit"},
		{"addchecksum", "FROM busybox\nRUN echo ran\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 http://127.0.0.1:9/f /f\n", nil, "Dockerfile:3: the --checksum option requires BuildKit"},
		{"addkeepgit", "FROM busybox\nADD --keep-git-dir=true https://example.com/x.git /x\n", nil, "the --keep-git-dir option requires BuildKit"},
		{"addunpack", "FROM busybox\nADD --unpack=true Dockerfile /x\n", nil, "the --unpack option requires BuildKit"},
		{"copylink", "FROM busybox\nCOPY --link Dockerfile /x\n", nil, "the --link option requires BuildKit"},
		{"addlink", "FROM busybox\nADD --link Dockerfile /x\n", nil, "the --link option requires BuildKit"},
		{"copyparents", "FROM busybox\nCOPY --parents Dockerfile /x/\n", nil, "the --parents option requires BuildKit"},
		{"copyexclude", "FROM busybox\nCOPY --exclude=*.md . /x/\n", nil, "the --exclude option requires BuildKit"},
		{"addexclude", "FROM busybox\nADD --exclude=*.md . /x/\n", nil, "the --exclude option requires BuildKit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
			out, errOut, code := wharf(t, append(append([]string{"build"}, tc.args...), dir)...)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, out, "Running in", "nothing runs before the error")
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

// builderContainers lists the containers RUN steps run in (the daemon
// labels them io.wharf.builder).
func builderContainers(t *testing.T) []string {
	t.Helper()
	return lines(mustWharf(t, "ps", "-aq", "--no-trunc", "--filter", "label=io.wharf.builder"))
}

// imageExists reports whether ref names an image.
func imageExists(t *testing.T, ref string) bool {
	t.Helper()
	_, _, code := wharf(t, "image", "inspect", ref)
	return code == 0
}

// TestBuildCancelOnDisconnect: a client that goes away mid-RUN stops the
// build: its container is killed and removed, and nothing is tagged. The
// RUN would sleep for 30 s; the test awaits the cleanup for far less.
// GNU tar pads its output to whole records past the end-of-archive
// marker: the daemon must read that too, or it never learns that the
// client has gone.
func TestBuildCancelOnDisconnect(t *testing.T) {
	begin(t)
	require.Empty(t, builderContainers(t))
	for _, client := range []string{"wharf", "docker", "wharf-tar-stdin"} {
		t.Run(client, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 30\n"})
			tag := uniq(t, "")
			rmiOnCleanup(t, tag)
			bin, args, stdin := filepath.Join(env.bin, "wharf"), []string{"build", "-t", tag, dir}, io.Reader(nil)
			switch client {
			case "docker":
				needDocker(t)
				bin = dockerBin
			case "wharf-tar-stdin":
				// 1 MiB records (-b 2048): about 1 MiB of padding, more
				// than any buffer between the socket and the tar reader.
				out, err := exec.Command("tar", "-b", "2048", "-C", dir, "-c", ".").Output()
				require.NoError(t, err)
				require.Equal(t, 1<<20, len(out), "GNU tar pads to whole records")
				stdin, args = bytes.NewReader(out), []string{"build", "-t", tag, "-"}
			}
			b := startCLI(t, stdin, bin, args...)
			eventually(t, func() bool { return strings.Contains(b.stdout.String(), "Running in") }, 30*time.Second,
				"the RUN step never started: %s", b.stderr.String())
			require.Len(t, builderContainers(t), 1)
			require.NoError(t, b.cmd.Process.Kill())
			<-b.done
			eventually(t, func() bool { return len(builderContainers(t)) == 0 }, 15*time.Second,
				"the RUN container outlived its client")
			assert.False(t, imageExists(t, tag), "a cancelled build tags nothing")
		})
	}
}

// TestBuildParallelStages: independent stages run at once — both RUN
// containers exist at the same time. Killing the client then ends both.
func TestBuildParallelStages(t *testing.T) {
	begin(t)
	require.Empty(t, builderContainers(t))
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS a
RUN sleep 30
FROM busybox AS b
RUN sleep 30
FROM busybox
COPY --from=a /bin/busybox /a
COPY --from=b /bin/busybox /b
`})
	b := startWharf(t, "build", dir)
	eventually(t, func() bool { return len(builderContainers(t)) == 2 }, 30*time.Second,
		"the two stages' RUN containers never existed at once: %s", b.stdout.String())
	require.NoError(t, b.cmd.Process.Kill())
	<-b.done
	eventually(t, func() bool { return len(builderContainers(t)) == 0 }, 15*time.Second,
		"the RUN containers outlived their client")
}

// TestBuildKill9MidRun: a daemon killed during a RUN leaves a running
// build container, an unpacked context and maybe a rootfs mount; the next
// daemon removes them all.
func TestBuildKill9MidRun(t *testing.T) {
	begin(t)
	require.Empty(t, builderContainers(t))
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 60\n"})
	b := startWharf(t, "build", dir)
	eventually(t, func() bool { return strings.Contains(b.stdout.String(), "Running in") }, 30*time.Second,
		"the RUN step never started: %s", b.stderr.String())
	builds, _ := filepath.Glob(filepath.Join(env.root, "builder", "build-*"))
	require.NotEmpty(t, builds, "the context is unpacked under <root>/builder")
	kill9AndRestart(t, nil)
	<-b.done
	assert.Empty(t, builderContainers(t), "the RUN container is removed at start")
	builds, _ = filepath.Glob(filepath.Join(env.root, "builder", "build-*"))
	assert.Empty(t, builds, "the unpacked context is removed at start")
	mounts, _ := filepath.Glob(filepath.Join(env.execRoot, "builder", "*"))
	assert.Empty(t, mounts)
	for _, m := range env.mountsBelow() {
		assert.NotContains(t, m, filepath.Join(env.execRoot, "builder"))
	}
}

// TestBuildOptions covers the `wharf build` options and Dockerfile
// features the other tests leave out.
func TestBuildOptions(t *testing.T) {
	begin(t)
	// A unique value per run keeps the cache of earlier runs out of the way.
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	runCat := func(t *testing.T, image string, args ...string) string {
		t.Helper()
		return mustWharf(t, append([]string{"run", "--rm", image}, args...)...)
	}

	t.Run("file", func(t *testing.T) {
		dir := writeContext(t, map[string]string{
			"a.txt":      "a-" + nonce + "\n",
			"sub/s.txt":  "s\n",
			"sub/Df":     "FROM busybox\nCOPY a.txt /x\n",
			"Dockerfile": "FROM busybox\nRUN exit 1\n",
		})
		in := uniq(t, "in")
		rmiOnCleanup(t, in)
		mustWharf(t, "build", "-f", filepath.Join(dir, "sub/Df"), "-t", in, dir)
		assert.Equal(t, "a-"+nonce, runCat(t, in, "cat", "/x"))

		outside := filepath.Join(t.TempDir(), "Other.df")
		require.NoError(t, os.WriteFile(outside, []byte("FROM busybox\nCOPY sub/s.txt /s\nCOPY . /ctx/\n"), 0o644))
		out := uniq(t, "out")
		rmiOnCleanup(t, out)
		mustWharf(t, "build", "-f", outside, "-t", out, dir)
		assert.Equal(t, "s", runCat(t, out, "cat", "/s"))
		assert.Equal(t, "Dockerfile\na.txt\nsub", runCat(t, out, "ls", "/ctx"),
			"the Dockerfile from outside is not part of the context")

		// Errors name it Dockerfile, not the name it travels under.
		require.NoError(t, os.WriteFile(outside, []byte("FROM busybox\nFOO bar\n"), 0o644))
		_, errOut, code := wharf(t, "build", "-f", outside, dir)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Dockerfile:2: unknown instruction: FOO")
		assert.NotContains(t, errOut, ".dockerfile.")
		_, errOut, code = wharfIn(t, strings.NewReader("FROM busybox\nFOO bar\n"), "build", "-f", "-", dir)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "Dockerfile:2: unknown instruction: FOO")
		if _, err := os.Stat(dockerBin); err == nil {
			_, errOut, code = docker(t, "build", "-f", outside, dir)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errOut, "Dockerfile:2: unknown instruction: FOO")
			assert.NotContains(t, errOut, ".dockerfile.")
		}
	})

	t.Run("build-arg", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nARG V=def\nRUN echo v=$V > /v\n"})
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		out := mustWharf(t, "build", "--build-arg", "V=one"+nonce, "--build-arg", "UNUSED=x", "-t", tag, dir)
		assert.Contains(t, out, "[Warning] One or more build-args [UNUSED] were not consumed")
		assert.Contains(t, out, "Running in")
		assert.Equal(t, "v=one"+nonce, runCat(t, tag, "cat", "/v"), "RUN sees the value")
		out = mustWharf(t, "build", "--build-arg", "V=one"+nonce, "-t", tag, dir)
		assert.NotContains(t, out, "Running in", "the same value hits the cache")
		assert.NotContains(t, out, "[Warning]")
		out = mustWharf(t, "build", "--build-arg", "V=two"+nonce, "-t", tag, dir)
		assert.Contains(t, out, "Running in", "another value misses it")
		assert.Equal(t, "v=two"+nonce, runCat(t, tag, "cat", "/v"))
	})

	t.Run("tags", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL n=" + nonce + "\n"})
		a, b := uniq(t, "a"), uniq(t, "b")+":2"
		rmiOnCleanup(t, a, b)
		out := mustWharf(t, "build", "-t", a, "-t", b, dir)
		assert.Contains(t, out, "Successfully tagged "+a+":latest")
		assert.Contains(t, out, "Successfully tagged "+b)
		assert.Equal(t, inspect(t, a, "{{.Id}}"), inspect(t, b, "{{.Id}}"))
	})

	t.Run("stdin-tar", func(t *testing.T) {
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nCOPY a.txt /a\n",
			"a.txt":      "tar-" + nonce + "\n",
		})
		var plain bytes.Buffer
		tarCmd := exec.Command("tar", "-C", dir, "-c", ".")
		tarCmd.Stdout = &plain
		require.NoError(t, tarCmd.Run())
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, err := zw.Write(plain.Bytes())
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		for name, body := range map[string][]byte{"plain": plain.Bytes(), "gzip": gz.Bytes()} {
			tag := uniq(t, name)
			rmiOnCleanup(t, tag)
			_, errOut, code := wharfIn(t, bytes.NewReader(body), "build", "-t", tag, "-")
			require.Equal(t, 0, code, errOut)
			assert.Equal(t, "tar-"+nonce, runCat(t, tag, "cat", "/a"), name)
		}
	})

	t.Run("network-none", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN ls /sys/class/net > /nets\n"})
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "--no-cache", "--network", "none", "-t", tag, dir)
		assert.Equal(t, "lo", runCat(t, tag, "cat", "/nets"))
		mustWharf(t, "build", "--no-cache", "-t", tag, dir)
		assert.Equal(t, "eth0\nlo", runCat(t, tag, "cat", "/nets"), "the default is the bridge")
	})

	t.Run("pull", func(t *testing.T) {
		reg := startWharfRegistry(t, t.TempDir()).addr
		ref := reg + "/e2e/base:1"
		rmiOnCleanup(t, ref)
		mustWharf(t, "tag", busybox, ref)
		mustWharf(t, "push", ref)
		// The local name now points elsewhere: only a pull brings back
		// the registry's image.
		local := uniq(t, "local")
		rmiOnCleanup(t, local)
		mustWharf(t, "build", "-t", local, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL x=" + nonce + "\n"}))
		mustWharf(t, "tag", local, ref)
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\n"})
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "-t", tag, dir)
		assert.Equal(t, inspect(t, local, "{{.Id}}"), inspect(t, tag, "{{.Id}}"), "without --pull the local image is used")
		out := mustWharf(t, "build", "--pull", "-t", tag, dir)
		assert.Contains(t, out, "Pulling from e2e/base")
		assert.Equal(t, inspect(t, busybox, "{{.Id}}"), inspect(t, tag, "{{.Id}}"), "--pull takes the registry's image")
	})

	t.Run("scratch", func(t *testing.T) {
		dir := writeContext(t, map[string]string{
			"Dockerfile": "FROM scratch\nCOPY a.txt /\n",
			"a.txt":      "scratch-" + nonce + "\n",
			"run.df":     "FROM scratch\nRUN true\n",
		})
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "-t", tag, dir)
		assert.Equal(t, "1", inspect(t, tag, "{{len .RootFS.Layers}}"))
		// It has no shell to look with: copy its file out into another image.
		check := uniq(t, "check")
		rmiOnCleanup(t, check)
		mustWharf(t, "build", "-t", check, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY --from=" + tag + " / /s/\n"}))
		assert.Equal(t, "a.txt", runCat(t, check, "ls", "/s"))
		assert.Equal(t, "scratch-"+nonce, runCat(t, check, "cat", "/s/a.txt"))
		_, errOut, code := wharf(t, "build", "-f", filepath.Join(dir, "run.df"), dir)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "RUN on an empty (scratch) image")
	})

	t.Run("copy-from-image", func(t *testing.T) {
		src := uniq(t, "src")
		rmiOnCleanup(t, src)
		mustWharf(t, "build", "-t", src, writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nCOPY f /data/f\n", "f": "from-image-" + nonce + "\n"}))
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "-t", tag, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY --from=" + src + " /data/f /copied\n"}))
		assert.Equal(t, "from-image-"+nonce, runCat(t, tag, "cat", "/copied"))
	})

	t.Run("copy-heredoc", func(t *testing.T) {
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "-t", tag, writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nCOPY <<EOT /h.txt\nin heredoc " + nonce + "\nEOT\n"}))
		assert.Equal(t, "in heredoc "+nonce, runCat(t, tag, "cat", "/h.txt"))
	})

	t.Run("onbuild", func(t *testing.T) {
		base, child := uniq(t, "base"), uniq(t, "child")
		rmiOnCleanup(t, base, child)
		mustWharf(t, "build", "-t", base, writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nONBUILD COPY f /from-child\nONBUILD RUN echo triggered-" + nonce + " > /trig\n"}))
		_, _, code := wharf(t, "run", "--rm", base, "test", "-e", "/trig")
		assert.NotEqual(t, 0, code, "triggers do not run in the image that declares them")
		out := mustWharf(t, "build", "-t", child, writeContext(t, map[string]string{
			"Dockerfile": "FROM " + base + "\nCMD [\"cat\", \"/trig\", \"/from-child\"]\n", "f": "child-file\n"}))
		assert.Contains(t, out, "# Executing 2 build triggers")
		assert.Equal(t, "triggered-"+nonce+"\nchild-file", runCat(t, child))
		assert.Equal(t, "null", inspect(t, child, "{{json .Config.OnBuild}}"), "triggers are not inherited further")
	})

	t.Run("add-url", func(t *testing.T) {
		// ADD downloads in the daemon, not in a container: a server on the
		// host's loopback is reachable.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/files/f.txt" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
			io.WriteString(w, "served-"+nonce+"\n")
		}))
		t.Cleanup(srv.Close)
		tag := uniq(t, "")
		rmiOnCleanup(t, tag)
		mustWharf(t, "build", "-t", tag, writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nADD " + srv.URL + "/files/f.txt /dl/\n"}))
		assert.Equal(t, "served-"+nonce, runCat(t, tag, "cat", "/dl/f.txt"))
		assert.Equal(t, "600 1136214245", runCat(t, tag, "stat", "-c", "%a %Y", "/dl/f.txt"),
			"mode 0600 and the server's Last-Modified, as Docker")
		_, errOut, code := wharf(t, "build", writeContext(t, map[string]string{
			"Dockerfile": "FROM busybox\nADD " + srv.URL + "/missing /dl/\n"}))
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errOut, "404")
	})

	// Last: it empties the cache of the subtests before.
	t.Run("prune-reclaims", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 300000 /dev/urandom > /r # " + nonce + "\n"})
		id := strings.TrimSpace(mustWharf(t, "build", "-q", dir))
		out := mustWharf(t, "builder", "prune", "-af")
		assert.Contains(t, out, id, "the untagged result is a cache object")
		m := regexp.MustCompile(`Total reclaimed space: ([0-9.]+)kB`).FindStringSubmatch(out)
		require.NotNil(t, m, "the layer's size is reported: %s", out)
		kb, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, kb, 300.0)
		assert.False(t, imageExists(t, id))
	})
}
