package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/runtime/runc"
	"wharf.io/wharf/runtime/shim"
	"wharf.io/wharf/runtime/spec"
)

var shimBinary string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 || os.Getenv("WHARF_TEST_DAEMON_CONFIG") != "" {
			return m.Run() // the tests skip themselves, or this is a helper
		}
		dir, err := os.MkdirTemp("", "wharf-shim-test")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		shimBinary = filepath.Join(dir, "wharf-shim")
		// Built as `make install` should build it: static, without cgo,
		// which saves the shim mapping libc.
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", shimBinary, "wharf.io/wharf/cmd/wharf-shim")
		if !strings.Contains(os.Getenv("GOFLAGS"), "-race") {
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		out, err := build.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build wharf-shim: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// env is one container bundle with its runtime state, cleaned up after the
// test even when it fails.
type env struct {
	t        *testing.T
	id       string
	dir      string // bundle and shim state dir, as the engine uses them
	rt       *runc.Runtime
	logPath  string
	hostConf *container.HostConfig
}

func newEnv(t *testing.T) *env {
	testutil.NeedsRunc(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("skipping: /bin/busybox (busybox-static) not installed")
	}
	// Short paths keep unix socket names within their limit; the deep
	// path case is covered by TestLongStateDir.
	base, err := os.MkdirTemp("", "ws")
	require.NoError(t, err)
	e := &env{
		t:        t,
		id:       "wharf-test-" + ids.New()[:12],
		dir:      filepath.Join(base, "c"),
		rt:       &runc.Runtime{Binary: "runc", Root: filepath.Join(base, "runc")},
		hostConf: &container.HostConfig{},
	}
	e.logPath = filepath.Join(base, "json.log")
	require.NoError(t, os.MkdirAll(filepath.Join(e.dir, "rootfs", "bin"), 0o755))
	makeRootfs(t, filepath.Join(e.dir, "rootfs"))
	t.Cleanup(func() {
		ctx := context.Background()
		if err := e.rt.Delete(ctx, e.id, true); err != nil && !errdefs.IsNotFound(err) {
			t.Logf("runc delete: %v", err)
		}
		killShims(t, e.dir)
		os.RemoveAll(base)
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/wharf-test")
		for _, d := range append(dirs, "/sys/fs/cgroup/wharf-test") {
			os.Remove(d) // runc delete removed the container's own cgroup
		}
	})
	return e
}

// killShims kills every shim whose state dir lies under dir.
func killShims(t *testing.T, dir string) {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Name() != "shim.pid" {
			if fi != nil && fi.IsDir() && fi.Name() == "rootfs" {
				return filepath.SkipDir
			}
			return nil
		}
		b, _ := os.ReadFile(p)
		if pid, _ := strconv.Atoi(string(b)); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		return nil
	})
}

func makeRootfs(t *testing.T, root string) {
	b, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755))
	for _, name := range []string{"sh", "echo", "cat", "sleep", "hostname", "true", "ls", "id", "printf", "head"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(root, "bin", name)))
	}
	for _, d := range []string{"etc", "proc", "sys", "dev", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "notexec"), []byte("#!/bin/sh\n"), 0o644))
}

// bundle writes config.json for args.
func (e *env) bundle(terminal bool, args ...string) {
	rootfs := filepath.Join(e.dir, "rootfs")
	user, err := spec.ResolveUser(rootfs, "")
	require.NoError(e.t, err)
	var lim unix.Rlimit
	require.NoError(e.t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	s, err := spec.Generate(spec.Options{
		ID: e.id, Hostname: "testhost", Rootfs: rootfs,
		Process: specs.Process{
			Terminal: terminal, Args: args, Cwd: "/", User: user,
			Env: []string{"PATH=/bin", "TERM=xterm"},
		},
		HostConfig:     e.hostConf,
		CgroupsPath:    "/wharf-test/" + e.id,
		HostNofileHard: lim.Max,
	})
	require.NoError(e.t, err)
	b, err := json.Marshal(s)
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(e.dir, "config.json"), b, 0o600))
}

func (e *env) config(terminal, stdin bool) shim.Config {
	return shim.Config{
		ID: e.id, Bundle: e.dir, StateDir: e.dir, Runtime: "runc", RuntimeRoot: e.rt.Root,
		LogPath: e.logPath, Terminal: terminal, OpenStdin: stdin, StdinOnce: stdin,
		ShimBinary: shimBinary, CgroupsPath: "/wharf-test/" + e.id,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe for the attach goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run creates, attaches, starts and waits, returning stdout, stderr, exit.
func (e *env) run(ctx context.Context, cfg shim.Config, stdin io.Reader) (string, string, shim.Exit) {
	task, err := shim.Create(ctx, cfg)
	require.NoError(e.t, err)
	defer task.Close()
	var stdout, stderr syncBuffer
	stream, err := task.OpenAttach(ctx, stdin, &stdout, &stderr)
	require.NoError(e.t, err)
	attached := make(chan error, 1)
	go func() { attached <- stream() }()
	require.NoError(e.t, task.Start(ctx))
	assert.Greater(e.t, task.Pid(), 0)
	exit, err := task.Wait(ctx)
	require.NoError(e.t, err)
	require.NoError(e.t, <-attached)
	return stdout.String(), stderr.String(), exit
}

func TestEchoHello(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sh", "-c", "echo hello; echo oops >&2")
	stdout, stderr, exit := e.run(ctx, e.config(false, false), nil)
	assert.Equal(t, "hello\n", stdout)
	assert.Equal(t, "oops\n", stderr)
	assert.Equal(t, 0, exit.Code)
	assert.False(t, exit.ExitedAt.IsZero())

	// The json-file log has one entry per line, with Docker's fields.
	b, err := os.ReadFile(e.logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2, string(b))
	got := map[string]string{}
	for _, l := range lines {
		var entry struct{ Log, Stream, Time string }
		require.NoError(t, json.Unmarshal([]byte(l), &entry))
		_, err := time.Parse(time.RFC3339Nano, entry.Time)
		require.NoError(t, err)
		got[entry.Stream] = entry.Log
	}
	assert.Equal(t, map[string]string{"stdout": "hello\n", "stderr": "oops\n"}, got)

	x, err := shim.ReadExit(e.dir)
	require.NoError(t, err)
	assert.Equal(t, 0, x.Code)
}

func TestExitCode(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sh", "-c", "exit 3")
	_, _, exit := e.run(ctx, e.config(false, false), nil)
	assert.Equal(t, 3, exit.Code)
}

func TestKilledBySignal(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sleep", "100")
	task, err := shim.Create(ctx, e.config(false, false))
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, task.Start(ctx))
	require.NoError(t, e.rt.Kill(ctx, e.id, syscall.SIGKILL, false))
	exit, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 128+9, exit.Code)
}

func TestStdin(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "cat")
	stdout, _, exit := e.run(ctx, e.config(false, true), strings.NewReader("from stdin\n"))
	assert.Equal(t, "from stdin\n", stdout)
	assert.Equal(t, 0, exit.Code)
}

func TestTerminal(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(true, "sh", "-c", "echo tty; echo err >&2; stty size 2>/dev/null || true")
	cfg := e.config(true, false)
	task, err := shim.Create(ctx, cfg)
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, task.Resize(ctx, 100, 40))
	var out syncBuffer
	stream, err := task.OpenAttach(ctx, nil, &out, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- stream() }()
	require.NoError(t, task.Start(ctx))
	_, err = task.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, <-done)
	// A terminal translates \n to \r\n and merges stderr into the output.
	assert.Contains(t, out.String(), "tty\r\n")
	assert.Contains(t, out.String(), "err\r\n")
	b, err := os.ReadFile(e.logPath)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"log":"tty\r\n","stream":"stdout"`)
}

func TestTerminalStdin(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(true, "sh", "-c", "read line; echo got:$line")
	task, err := shim.Create(ctx, e.config(true, true))
	require.NoError(t, err)
	defer task.Close()
	var out syncBuffer
	pr, pw := io.Pipe()
	defer pw.Close()
	stream, err := task.OpenAttach(ctx, pr, &out, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- stream() }()
	require.NoError(t, task.Start(ctx))
	_, err = pw.Write([]byte("abc\n"))
	require.NoError(t, err)
	exit, err := task.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, 0, exit.Code)
	assert.Contains(t, out.String(), "got:abc")
}

func TestCommandNotFound(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "nosuchcommand")
	task, err := shim.Create(ctx, e.config(false, false))
	require.NoError(t, err, "the runtime runs at Start")
	defer task.Close()
	err = task.Start(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, shim.ErrCommandNotFound)
	assert.True(t, errdefs.IsInvalidArgument(err))
	assert.Contains(t, err.Error(), "executable file not found in $PATH")
	// The runtime's stderr text must not land in the container's log.
	b, _ := os.ReadFile(e.logPath)
	assert.Empty(t, string(b))
}

func TestCannotInvoke(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "/notexec")
	task, err := shim.Create(ctx, e.config(false, false))
	require.NoError(t, err, "the runtime runs at Start")
	defer task.Close()
	err = task.Start(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, shim.ErrCannotInvoke)
	assert.Contains(t, err.Error(), "permission denied")
}

// TestConnect drops the task as a daemon restart would and finds the shim
// again; the container keeps running meanwhile.
func TestConnect(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sh", "-c", "echo before; read x; echo after:$x")
	task, err := shim.Create(ctx, e.config(false, true))
	require.NoError(t, err)
	require.NoError(t, task.Start(ctx))
	pid := task.Pid()
	require.NoError(t, task.Close())

	st, err := e.rt.State(ctx, e.id)
	require.NoError(t, err)
	assert.Equal(t, specs.StateRunning, st.Status)

	again, err := shim.Connect(ctx, e.dir)
	require.NoError(t, err)
	defer again.Close()
	assert.Equal(t, pid, again.Pid())
	var out syncBuffer
	stream, err := again.OpenAttach(ctx, strings.NewReader("x\n"), &out, nil)
	require.NoError(t, err)
	require.NoError(t, stream())
	assert.Equal(t, "after:x\n", out.String())
	exit, err := again.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, exit.Code)

	// Once the shim is gone, Connect says so and the record remains.
	require.Eventually(t, func() bool {
		_, err := shim.Connect(ctx, e.dir)
		return errdefs.IsNotFound(err)
	}, 10*time.Second, 20*time.Millisecond)
	x, err := shim.ReadExit(e.dir)
	require.NoError(t, err)
	assert.Equal(t, 0, x.Code)
	b, err := os.ReadFile(e.logPath)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"log":"before\n"`)
	assert.Contains(t, string(b), `"log":"after:x\n"`)
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sleep", "100")
	task, err := shim.Create(ctx, e.config(false, false))
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, task.Start(ctx))

	b, err := os.ReadFile(filepath.Join(e.dir, "config.json"))
	require.NoError(t, err)
	var s specs.Spec
	require.NoError(t, json.Unmarshal(b, &s))

	execDir := filepath.Join(e.dir, "exec", "1")
	require.NoError(t, os.MkdirAll(execDir, 0o700))
	proc := *s.Process
	proc.Args = []string{"sh", "-c", "hostname; echo $((6*7)) >&2; exit 5"}
	execCfg := shim.Config{ID: e.id, StateDir: execDir, Runtime: "runc", RuntimeRoot: e.rt.Root,
		Exec: &proc, ShimBinary: shimBinary}
	stdout, stderr, exit := e.run(ctx, execCfg, nil)
	assert.Equal(t, "testhost\n", stdout)
	assert.Equal(t, "42\n", stderr)
	assert.Equal(t, 5, exit.Code)

	// Exec output is not logged.
	if b, err := os.ReadFile(e.logPath); err == nil {
		assert.NotContains(t, string(b), "testhost")
	}

	// An exec of a missing command fails at Start, classified.
	execDir2 := filepath.Join(e.dir, "exec", "2")
	require.NoError(t, os.MkdirAll(execDir2, 0o700))
	proc.Args = []string{"nosuchcommand"}
	execCfg.StateDir = execDir2
	et, err := shim.Create(ctx, execCfg)
	require.NoError(t, err)
	defer et.Close()
	err = et.Start(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, shim.ErrCommandNotFound)
	x, err := et.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 127, x.Code)

	// An exec with a terminal.
	execDir3 := filepath.Join(e.dir, "exec", "3")
	require.NoError(t, os.MkdirAll(execDir3, 0o700))
	proc.Args = []string{"sh", "-c", "echo in-tty"}
	proc.Terminal = true
	execCfg.StateDir, execCfg.Terminal = execDir3, true
	stdout, _, exit = e.run(ctx, execCfg, nil)
	assert.Equal(t, "in-tty\r\n", stdout)
	assert.Equal(t, 0, exit.Code)

	require.NoError(t, e.rt.Kill(ctx, e.id, syscall.SIGKILL, false))
	_, err = task.Wait(ctx)
	require.NoError(t, err)
}

func TestAttachAfterExit(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sh", "-c", "echo 1; read x")
	task, err := shim.Create(ctx, e.config(false, true))
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, task.Start(ctx))
	// Several attaches at once each see the output; the first holds stdin.
	var a, b syncBuffer
	sa, err := task.OpenAttach(ctx, strings.NewReader("go\n"), &a, nil)
	require.NoError(t, err)
	sb, err := task.OpenAttach(ctx, nil, &b, nil)
	require.NoError(t, err)
	errs := make(chan error, 2)
	go func() { errs <- sa() }()
	go func() { errs <- sb() }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	_, err = task.Wait(ctx)
	require.NoError(t, err)
	// An attach after the exit returns at once (the shim may be gone).
	err = task.Attach(ctx, nil, io.Discard, io.Discard)
	if err != nil {
		assert.True(t, errdefs.IsNotFound(err), "%v", err)
	}
}

func TestLongLines(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	// 40000 bytes without a newline, then "end" without a newline.
	e.bundle(false, "sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; printf end")
	require.NoError(t, os.Symlink("busybox", filepath.Join(e.dir, "rootfs", "bin", "tr")))
	stdout, _, _ := e.run(ctx, e.config(false, false), nil)
	assert.Len(t, stdout, 40003)
	b, err := os.ReadFile(e.logPath)
	require.NoError(t, err)
	var sizes []int
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var entry struct{ Log string }
		require.NoError(t, json.Unmarshal([]byte(l), &entry))
		sizes = append(sizes, len(entry.Log))
	}
	assert.Equal(t, []int{16384, 16384, 7235}, sizes)
}

func TestLongStateDir(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(true, "sh", "-c", "echo deep")
	deep := filepath.Join(e.dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	require.NoError(t, os.MkdirAll(deep, 0o700))
	cfg := e.config(true, false)
	cfg.StateDir = deep
	stdout, _, exit := e.run(ctx, cfg, nil)
	assert.Equal(t, "deep\r\n", stdout)
	assert.Equal(t, 0, exit.Code)
}

// TestShimFootprint reports the shims' proportional memory (PSS) with one
// and with several containers running; shims share their program text, so
// PSS per container falls as containers are added. It asserts only a
// generous bound: the figures are for the report.
func TestShimFootprint(t *testing.T) {
	ctx := ctxT(t)
	const n = 10
	var pids []string
	for i := 0; i < n; i++ {
		e := newEnv(t)
		e.bundle(false, "sleep", "100")
		task, err := shim.Create(ctx, e.config(false, false))
		require.NoError(t, err)
		require.NoError(t, task.Start(ctx))
		b, err := os.ReadFile(filepath.Join(e.dir, "shim.pid"))
		require.NoError(t, err)
		pids = append(pids, string(b))
		t.Cleanup(func() {
			e.rt.Kill(context.Background(), e.id, syscall.SIGKILL, false)
			task.Wait(context.Background())
			task.Close()
		})
	}
	pss := func(pid string) int {
		rollup, err := os.ReadFile("/proc/" + pid + "/smaps_rollup")
		require.NoError(t, err)
		for _, l := range strings.Split(string(rollup), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "Pss:" {
				kb, err := strconv.Atoi(f[1])
				require.NoError(t, err)
				return kb
			}
		}
		t.Fatal("no Pss in smaps_rollup")
		return 0
	}
	total := 0
	for _, p := range pids {
		total += pss(p)
	}
	t.Logf("shim PSS with %d containers: %d KiB per container (first shim: %d KiB)", n, total/n, pss(pids[0]))
	if !raceEnabled {
		assert.Less(t, total/n, 8*1024)
	}
}

// TestDaemonKill starts a shim from a helper process standing in for the
// daemon, kills that process with SIGKILL and checks that the shim and the
// container live on and can be reached again.
func TestDaemonKill(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "sh", "-c", "read x; echo got:$x")
	// Adopt the shim when its "daemon" dies, so that we can reap it: in a
	// test there may be no init that reaps orphans.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	cfgJSON, err := json.Marshal(e.config(false, true))
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	cmd.Env = append(os.Environ(), "WHARF_TEST_DAEMON_CONFIG="+string(cfgJSON))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make([]byte, 64)
	n, err := stdout.Read(line)
	require.NoError(t, err)
	require.Contains(t, string(line[:n]), "started")

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()

	task, err := shim.Connect(ctx, e.dir)
	require.NoError(t, err, "shim died with its daemon")
	defer task.Close()
	var out syncBuffer
	require.NoError(t, task.Attach(ctx, strings.NewReader("y\n"), &out, nil))
	assert.Equal(t, "got:y\n", out.String())
	exit, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, exit.Code)

	b, err := os.ReadFile(filepath.Join(e.dir, "shim.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(pid, &ws, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, ws.ExitStatus(), "the shim exits cleanly after the process")
}

// TestHelperDaemon is the "daemon" of TestDaemonKill; it does nothing when
// run as a test of its own.
func TestHelperDaemon(t *testing.T) {
	raw := os.Getenv("WHARF_TEST_DAEMON_CONFIG")
	if raw == "" {
		t.Skip("helper process for TestDaemonKill")
	}
	var cfg shim.Config
	require.NoError(t, json.Unmarshal([]byte(raw), &cfg))
	ctx := context.Background()
	task, err := shim.Create(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, task.Start(ctx))
	fmt.Println("started")
	select {} // wait for SIGKILL
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.hostConf.Memory = 8 << 20
	e.hostConf.MemorySwap = 8 << 20 // no swap: the kernel must kill
	e.bundle(false, "sh", "-c", "x=a; while true; do x=$x$x; done")
	_, _, exit := e.run(ctx, e.config(false, false), nil)
	assert.Equal(t, 137, exit.Code)
	assert.True(t, exit.OOMKilled)
}

func TestCloseStdinAndCancel(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.bundle(false, "cat")
	cfg := e.config(false, true)
	cfg.StdinOnce = false
	task, err := shim.Create(ctx, cfg)
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, task.Start(ctx))
	require.NoError(t, task.Resize(ctx, 80, 24), "resize without a terminal is a no-op")

	// A cancelled attach returns and leaves the process alone.
	actx, cancel := context.WithCancel(ctx)
	stream, err := task.OpenAttach(actx, nil, io.Discard, io.Discard)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- stream() }()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	st, err := e.rt.State(ctx, e.id)
	require.NoError(t, err)
	assert.Equal(t, specs.StateRunning, st.Status)

	// With StdinOnce unset, an attach's stdin EOF keeps stdin open...
	var out syncBuffer
	stream, err = task.OpenAttach(ctx, strings.NewReader("one\n"), &out, nil)
	require.NoError(t, err)
	go func() { done <- stream() }()
	require.Eventually(t, func() bool { return out.String() == "one\n" }, 10*time.Second, 10*time.Millisecond)
	st, err = e.rt.State(ctx, e.id)
	require.NoError(t, err)
	assert.Equal(t, specs.StateRunning, st.Status)

	// ...until CloseStdin, then cat sees EOF and exits.
	require.NoError(t, task.CloseStdin(ctx))
	exit, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, exit.Code)
	require.NoError(t, <-done)
}
