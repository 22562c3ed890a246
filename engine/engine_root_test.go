package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/mountinfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/internal/topdir"
	"wharf.io/wharf/snapshot"
)

// newTestEngine starts an engine on private dirs with a busybox image, the
// shim built from this tree, and a unique cgroup parent; all removed after.
func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	testutil.NeedsRunc(t)
	dir := t.TempDir()
	shimBin := filepath.Join(dir, "wharf-shim")
	build := exec.Command("go", "build", "-o", shimBin, "wharf.io/wharf/cmd/wharf-shim")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	cg := "/wharf-enginetest-" + filepath.Base(dir)
	// Own bridge and nft table: tests never touch the host's wharf0.
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	cfg := Config{Root: filepath.Join(dir, "root"), ExecRoot: filepath.Join(dir, "run"), ShimBinary: shimBin, CgroupParent: cg,
		BridgeName: "wet" + suffix, NftTable: "wharf_enginetest_" + suffix, BridgeSubnet: "10.199.0.0/24"}
	e, err := New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		e := e
		if reopened[t.Name()] != nil {
			e = reopened[t.Name()]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, c := range e.list() {
			e.ContainerRemove(ctx, c.ID, true, true)
		}
		e.nets.Uninstall(context.Background())
		e.Close()
		testutil.RemoveCgroupTree(cg)
	})
	_, err = e.ImageImport(context.Background(), bytes.NewReader(busyboxTar(t)), "busybox", "latest", nil, "")
	require.NoError(t, err)
	return e
}

// reopened tracks engines a test restarted, so cleanup removes through the live one.
var reopened = map[string]*Engine{}

// restartEngine simulates a daemon restart: the old engine lets go (its
// containers keep running under their shims) and a new one opens the state.
func restartEngine(t *testing.T, e *Engine, whileDown func()) *Engine {
	t.Helper()
	require.NoError(t, e.Close())
	whileDown()
	n, err := New(context.Background(), e.cfg)
	require.NoError(t, err)
	reopened[t.Name()] = n
	return n
}

func TestRunEchoThroughEngine(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	resp, err := e.ContainerCreate(ctx, "echo", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "echo hello; hostname; exit 3"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	attached := make(chan error, 1)
	go func() {
		attached <- e.ContainerAttach(ctx, resp.ID, AttachStreams{Stdout: &stdout, Stderr: &stderr, Stream: true})
	}()
	// The attach must be queued before start, as docker run does it.
	require.Eventually(t, func() bool {
		c, _ := e.get(resp.ID)
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.attachQ) == 1
	}, 5*time.Second, 5*time.Millisecond)
	wait, err := e.ContainerWait(ctx, resp.ID, container.WaitConditionNextExit)
	require.NoError(t, err)
	require.NoError(t, e.ContainerStart(ctx, resp.ID))
	w := <-wait
	require.NoError(t, <-attached)
	assert.EqualValues(t, 3, w.StatusCode)
	assert.Equal(t, "hello\n"+resp.ID[:12]+"\n", stdout.String())

	var logs bytes.Buffer
	require.NoError(t, e.ContainerLogs(ctx, resp.ID, LogsOptions{Stdout: true, Stderr: true, Tail: -1}, &logs, &logs))
	assert.Equal(t, "hello\n"+resp.ID[:12]+"\n", logs.String())

	insp, err := e.ContainerInspect(ctx, "echo", false)
	require.NoError(t, err)
	assert.Equal(t, container.StateExited, insp.State.Status)
	assert.Equal(t, 3, insp.State.ExitCode)
}

func TestDetachedExecStopRemove(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	resp, err := e.ContainerCreate(ctx, "web", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "1000"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	require.NoError(t, e.ContainerStart(ctx, "web"))

	id, err := e.ExecCreate(ctx, "web", &container.ExecCreateRequest{Cmd: []string{"sh", "-c", "echo in-exec; exit 4"}, AttachStdout: true})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, e.ExecStart(ctx, id, false, AttachStreams{Stdout: &out, Stream: true}))
	assert.Equal(t, "in-exec\n", out.String())
	xi, err := e.ExecInspect(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, xi.ExitCode)
	assert.Equal(t, 4, *xi.ExitCode)

	top, err := e.ContainerTop(ctx, "web", "")
	require.NoError(t, err)
	require.Len(t, top.Processes, 1)
	assert.True(t, strings.HasSuffix(top.Processes[0][len(top.Processes[0])-1], "sleep 1000"))

	zero := 0
	require.NoError(t, e.ContainerStop(ctx, "web", "", &zero))
	insp, err := e.ContainerInspect(ctx, resp.ID, false)
	require.NoError(t, err)
	assert.Equal(t, 137, insp.State.ExitCode)
	require.NoError(t, e.ContainerRemove(ctx, "web", false, false))
	_, err = e.ContainerInspect(ctx, resp.ID, false)
	require.Error(t, err)
}

func TestLiveRestore(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	run := func(name string, cmd ...string) {
		_, err := e.ContainerCreate(ctx, name, &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: cmd}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
		require.NoError(t, err)
		require.NoError(t, e.ContainerStart(ctx, name))
	}
	run("long", "sleep", "1000")
	run("short", "sleep", "1000")
	shortInsp, err := e.ContainerInspect(ctx, "short", false)
	require.NoError(t, err)
	pid := shortInsp.State.Pid

	// While no daemon runs, "short" is killed.
	e = restartEngine(t, e, func() { require.NoError(t, syscallKill(pid)) })

	long, err := e.ContainerInspect(ctx, "long", false)
	require.NoError(t, err)
	assert.Equal(t, container.StateRunning, long.State.Status)
	require.Eventually(t, func() bool {
		s, err := e.ContainerInspect(ctx, "short", false)
		return err == nil && s.State.Status == container.StateExited
	}, 10*time.Second, 10*time.Millisecond)
	short, _ := e.ContainerInspect(ctx, "short", false)
	assert.Equal(t, 137, short.State.ExitCode)

	one := 1
	require.NoError(t, e.ContainerStop(ctx, "long", "", &one))
	long, err = e.ContainerInspect(ctx, "long", false)
	require.NoError(t, err)
	assert.Equal(t, container.StateExited, long.State.Status)
}

func TestRestartPolicyOnFailure(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	_, err := e.ContainerCreate(ctx, "flaky", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"sh", "-c", "exit 1"}},
		HostConfig: &container.HostConfig{NetworkMode: "none", RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}}})
	require.NoError(t, err)
	require.NoError(t, e.ContainerStart(ctx, "flaky"))
	require.Eventually(t, func() bool {
		s, err := e.ContainerInspect(ctx, "flaky", false)
		return err == nil && s.RestartCount == 2 && s.State.Status == container.StateExited
	}, 10*time.Second, 10*time.Millisecond)
}

func syscallKill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

// TestAttachReplaysRunThatFinishedBeforeAttach covers docker run's race: the
// client asked to attach, but the container started and exited before the
// engine registered the attachment. The client must still get the output.
func TestAttachReplaysRunThatFinishedBeforeAttach(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	resp, err := e.ContainerCreate(ctx, "fast", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"echo", "fast output"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	requested := time.Now()
	wait, err := e.ContainerWait(ctx, resp.ID, container.WaitConditionNextExit)
	require.NoError(t, err)
	require.NoError(t, e.ContainerStart(ctx, resp.ID))
	<-wait
	var out bytes.Buffer
	require.NoError(t, e.ContainerAttach(ctx, resp.ID, AttachStreams{Stdout: &out, Stream: true, Requested: requested}))
	assert.Equal(t, "fast output\n", out.String())

	// An attach asked for after that run does not get it replayed: it
	// waits for the next start instead.
	late, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	out.Reset()
	err = e.ContainerAttach(late, resp.ID, AttachStreams{Stdout: &out, Stream: true, Requested: time.Now()})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, out.String())
}

// A removed container's files go in the background, and image removal waits
// for them; a daemon that died before they went removes them at restart.
func TestRemovedContainerFilesReclaimed(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	gone := func(e *Engine, id string) {
		t.Helper()
		_, err := e.snaps.Stat(ctx, id)
		assert.True(t, errdefs.IsNotFound(err), "snapshot of %s left: %v", id, err)
		for _, d := range []string{e.stateDir(id), e.containerDir(id)} {
			_, err := os.Stat(d)
			assert.True(t, os.IsNotExist(err), "%s left", d)
		}
		infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(e.stateDir(id)))
		require.NoError(t, err)
		assert.Empty(t, infos, "mounts left")
	}

	resp, err := e.ContainerCreate(ctx, "", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "1000"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	require.NoError(t, e.ContainerStart(ctx, resp.ID))
	require.NoError(t, e.ContainerRemove(ctx, resp.ID, true, false))
	_, err = e.ImageDelete(ctx, "busybox", false, false) // waits for the reclaim
	require.NoError(t, err)
	gone(e, resp.ID)
	_, err = e.ImageImport(ctx, bytes.NewReader(busyboxTar(t)), "busybox", "latest", nil, "")
	require.NoError(t, err)

	// The daemon died after deleting the record, before the files went:
	// the rootfs is still mounted and the snapshot still there.
	resp, err = e.ContainerCreate(ctx, "", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	mounts, err := e.snaps.Mounts(ctx, resp.ID)
	require.NoError(t, err)
	rootfs := filepath.Join(e.stateDir(resp.ID), "rootfs")
	require.NoError(t, os.MkdirAll(rootfs, 0o711))
	require.NoError(t, snapshot.MountAll(mounts, rootfs))
	t.Cleanup(func() { snapshot.Unmount(rootfs) })
	require.NoError(t, e.deleteRecord(resp.ID))
	e = restartEngine(t, e, func() {})
	gone(e, resp.ID)
}

func busyboxTar(t *testing.T) []byte {
	t.Helper()
	tar, err := exec.Command("bash", "../contrib/mkimage/busybox.sh").Output()
	require.NoError(t, err)
	return tar
}

// The engine's own cleanups wait for a removal already under way (the swarm
// agent removing the same task) instead of failing with a conflict.
func TestRemoveForcedWaitsForRemovalInProgress(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	resp, err := e.ContainerCreate(ctx, "", &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})
	require.NoError(t, err)
	c, err := e.get(resp.ID)
	require.NoError(t, err)
	c.mu.Lock()
	c.State.Status = container.StateRemoving // another caller is removing it
	c.mu.Unlock()
	assert.True(t, errdefs.IsConflict(e.ContainerRemove(ctx, resp.ID, true, false)), "the API reports the conflict, as docker")

	done := make(chan error, 1)
	go func() { done <- e.removeForced(ctx, resp.ID, false) }()
	select {
	case err := <-done:
		t.Fatalf("removeForced returned before the removal finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, e.remove(c, false)) // the other removal completes
	require.NoError(t, <-done)
	require.NoError(t, e.removeForced(ctx, resp.ID, false), "a container already gone is fine")
}

// Two creates racing for one name: one wins, the other gets a conflict and
// leaves nothing behind (no record, no snapshot).
func TestCreateSameNameConcurrently(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	req := func() *container.CreateRequest {
		return &container.CreateRequest{Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}}
	}
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := e.ContainerCreate(ctx, "contested", req())
			errs <- err
		}()
	}
	won := 0
	for range n {
		if err := <-errs; err == nil {
			won++
		} else {
			assert.True(t, errdefs.IsConflict(err), "%v", err)
		}
	}
	assert.Equal(t, 1, won)
	recs, err := e.loadRecords()
	require.NoError(t, err)
	assert.Len(t, recs, 1, "records")
	var snaps []string
	require.NoError(t, e.snaps.Walk(ctx, func(i snapshot.Info) error {
		if containerKey.MatchString(i.Key) {
			snaps = append(snaps, i.Key)
		}
		return nil
	}))
	assert.Equal(t, []string{recs[0].ID}, snaps, "container snapshots")
}

// Container directories are made and deleted with their containers: the
// engine marks their parent as a top of directory hierarchies, so ext4
// spreads them over its block groups (see internal/topdir).
func TestContainersDirIsTopdir(t *testing.T) {
	e := newTestEngine(t)
	marked, ok, err := topdir.Marked(filepath.Join(e.cfg.Root, "containers"))
	require.NoError(t, err)
	if !ok {
		t.Skip("no inode flags on this filesystem")
	}
	assert.True(t, marked)
}
