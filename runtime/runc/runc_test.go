package runc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/runtime/spec"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		msg  string
		want func(error) bool
	}{
		{`time="2026-11-26T18:58:55Z" level=error msg="container does not exist"`, errdefs.IsNotFound},
		{`container not running`, errdefs.IsNotFound},
		{`time="x" level=error msg="container not paused"`, errdefs.IsFailedPrecondition},
		{`something odd`, errdefs.IsUnknown},
	}
	for _, tc := range cases {
		err := classify("runc", "kill", "abc", tc.msg)
		assert.True(t, tc.want(err), "%q → %v", tc.msg, err)
	}
	err := classify("runc", "kill", "abc", `time="x" level=error msg="container does not exist"`)
	assert.Equal(t, "runc kill abc: container does not exist: not found", err.Error())
}

func TestParseStats(t *testing.T) {
	in := `{"type":"stats","id":"x","data":{"cpu":{"usage":{"percpu":[1,2],"total":3,"kernel":1,"user":2},"throttling":{}},
	"memory":{"usage":{"limit":67108864,"usage":1048576,"max":2097152,"failcnt":0},"raw":{"cache":4096,"rss":8192}},
	"pids":{"current":2,"limit":100}}}`
	s, err := parseStats([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, &Stats{
		CPUTotal: 3, CPUKernel: 1, CPUUser: 2, CPUPerCPU: []uint64{1, 2},
		MemoryUsage: 1048576, MemoryLimit: 67108864, MemoryMaxUsage: 2097152,
		MemoryStats: map[string]uint64{"cache": 4096, "rss": 8192},
		Pids:        2, PidsLimit: 100,
	}, s)
}

func FuzzParseStats(f *testing.F) {
	f.Add([]byte(`{"type":"stats","data":{"cpu":{"usage":{"total":3}}}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStats(b)
	})
}

func FuzzClassify(f *testing.F) {
	f.Add(`time="x" level=error msg="container does not exist"`)
	f.Add(`msg="`)
	f.Fuzz(func(t *testing.T, msg string) {
		require.Error(t, classify("runc", "op", "id", msg))
	})
}

// TestLifecycle drives a real container through every driver call.
func TestLifecycle(t *testing.T) {
	testutil.NeedsRunc(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("skipping: /bin/busybox (busybox-static) not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := t.TempDir()
	r := &Runtime{Root: filepath.Join(base, "state")}
	id := "wharf-runc-test-" + ids.New()[:12]
	rootfs := filepath.Join(base, "bundle", "rootfs")
	require.NoError(t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	bb, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755))
	require.NoError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", "sleep")))
	pids := int64(50)
	s, err := spec.Generate(spec.Options{
		ID: id, Rootfs: rootfs, HostNofileHard: 1024,
		Process:     specs.Process{Args: []string{"sleep", "100"}, Env: []string{"PATH=/bin"}},
		CgroupsPath: "/wharf-test/" + id,
		HostConfig:  nil,
	})
	require.NoError(t, err)
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(base, "bundle", "config.json"), b, 0o600))

	t.Cleanup(func() {
		r.Delete(context.Background(), id, true)
		removeTestCgroups()
	})
	cmd := exec.CommandContext(ctx, "runc", "--root", r.Root, "run", "--detach", "--bundle", filepath.Join(base, "bundle"), id)
	// The container inherits runc's stdio: a pipe would stay open for as
	// long as it runs, so let it write to a file.
	errFile, err := os.Create(filepath.Join(base, "runc.err"))
	require.NoError(t, err)
	defer errFile.Close()
	cmd.Stdout, cmd.Stderr = errFile, errFile
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(errFile.Name())
		t.Fatalf("runc run: %v: %s", err, out)
	}

	v, err := r.Version(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, v)

	st, err := r.State(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, specs.StateRunning, st.Status)
	assert.Greater(t, st.Pid, 0)

	ps, err := r.Ps(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []int{st.Pid}, ps)

	stats, err := r.Stats(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), stats.Pids)
	assert.Equal(t, uint64(50), stats.PidsLimit)
	assert.Greater(t, stats.MemoryUsage, uint64(0))

	require.NoError(t, r.Pause(ctx, id))
	st, err = r.State(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "paused", string(st.Status))
	require.NoError(t, r.Resume(ctx, id))

	require.NoError(t, r.Kill(ctx, id, syscall.SIGKILL, true))
	require.Eventually(t, func() bool {
		st, err := r.State(ctx, id)
		return err == nil && st.Status == specs.StateStopped
	}, 10*time.Second, 10*time.Millisecond)
	err = r.Kill(ctx, id, syscall.SIGTERM, false)
	assert.True(t, errdefs.IsNotFound(err), "kill of a stopped container: %v", err)

	require.NoError(t, r.Delete(ctx, id, false))
	_, err = r.State(ctx, id)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	err = r.Delete(ctx, id, false)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	err = r.Kill(ctx, id, syscall.SIGKILL, false)
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
}

// removeTestCgroups removes the parent cgroup the tests share; runc delete
// removes each container's own. Busy ones stay for the next test to reuse.
func removeTestCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/wharf-test")
	for _, d := range append(dirs, "/sys/fs/cgroup/wharf-test") {
		os.Remove(d)
	}
}

// TestVersionAsksEachBinaryOnce: the version is asked of a binary once, and
// again when the file changes (an upgrade).
func TestVersionAsksEachBinaryOnce(t *testing.T) {
	dir := t.TempDir()
	bin, calls := filepath.Join(dir, "fakert"), filepath.Join(dir, "calls")
	install := func(version string) {
		script := "#!/bin/sh\necho x >>" + calls + "\necho \"fakert version " + version + "\"\necho \"spec: 1.0.2\"\n"
		require.NoError(t, os.WriteFile(bin+".new", []byte(script), 0o755))
		require.NoError(t, os.Rename(bin+".new", bin)) // a new file, as a package upgrade makes
	}
	asked := func() int {
		b, _ := os.ReadFile(calls)
		return len(b) / 2
	}
	r := &Runtime{Binary: bin}
	install("1.2.3")
	for range 3 {
		v, err := r.Version(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "1.2.3", v)
	}
	assert.Equal(t, 1, asked())
	install("v1.3.0")
	v, err := r.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "1.3.0", v)
	assert.Equal(t, 2, asked())

	_, err = (&Runtime{Binary: filepath.Join(dir, "missing")}).Version(context.Background())
	assert.Error(t, err)
}
