package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/runtime/shim/wire"
)

// Config describes the process a shim owns.
type Config struct {
	ID          string // container ID
	Bundle      string // dir with config.json + rootfs (ignored for exec)
	StateDir    string // exists; the shim keeps its socket, pid file and exit.json here
	Runtime     string // "runc" (default), "crun" or a path
	RuntimeRoot string // the runtime's --root
	LogPath     string // json-file log of the init's output; "" → no log
	Terminal    bool
	OpenStdin   bool
	StdinOnce   bool
	// Exec, when set, runs this process inside container ID (runc exec)
	// instead of the container's init. Exec'd output is not logged.
	Exec *specs.Process
	// ShimBinary is the wharf-shim executable; "" looks it up on PATH.
	ShimBinary string
	// CgroupsPath is the container's cgroup, where an OOM kill is noticed.
	CgroupsPath string
}

// Exit is how the process ended.
type Exit struct {
	Code      int // exit status, or 128+signal
	ExitedAt  time.Time
	OOMKilled bool
}

// ErrCommandNotFound and ErrCannotInvoke classify a runtime failure to run
// the process (Docker's exit codes 127 and 126). Errors carrying them also
// match errdefs.ErrInvalidArgument and keep the runtime's message.
var (
	ErrCommandNotFound = errors.New("command not found")
	ErrCannotInvoke    = errors.New("command cannot be invoked")
)

// Task is the daemon's handle on one shim. Its methods are safe for
// concurrent use.
type Task struct {
	stateDir string

	mu     sync.Mutex
	pid    int
	conns  map[net.Conn]struct{}
	closed bool
}

// Create launches a shim with the process's stdio ready but nothing run yet:
// the caller attaches its clients, then Start runs the process.
func Create(ctx context.Context, cfg Config) (*Task, error) {
	if cfg.ID == "" || cfg.StateDir == "" {
		return nil, fmt.Errorf("shim needs a container id and a state dir: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.Exec == nil && cfg.Bundle == "" {
		return nil, fmt.Errorf("shim for %s needs a bundle: %w", cfg.ID, errdefs.ErrInvalidArgument)
	}
	bin := cfg.ShimBinary
	if bin == "" {
		bin = "wharf-shim"
	}
	bin, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("shim binary: %w", errors.Join(err, errdefs.ErrUnavailable))
	}
	wc := wire.Config{
		ID: cfg.ID, Bundle: cfg.Bundle, Runtime: cfg.Runtime, RuntimeRoot: cfg.RuntimeRoot,
		LogPath: cfg.LogPath, Terminal: cfg.Terminal, OpenStdin: cfg.OpenStdin,
		StdinOnce: cfg.StdinOnce, Exec: cfg.Exec != nil, CgroupsPath: cfg.CgroupsPath,
	}
	if wc.Runtime == "" {
		wc.Runtime = "runc"
	}
	if wc.Bundle != "" {
		if wc.Bundle, err = filepath.Abs(wc.Bundle); err != nil {
			return nil, err
		}
	}
	if wc.LogPath != "" {
		if wc.LogPath, err = filepath.Abs(wc.LogPath); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(filepath.Join(cfg.StateDir, wire.ConfigFile), wc); err != nil {
		return nil, err
	}
	if cfg.Exec != nil {
		if err := writeJSON(filepath.Join(cfg.StateDir, wire.ProcessFile), cfg.Exec); err != nil {
			return nil, err
		}
	}
	for _, stale := range []string{wire.ExitFile, wire.SocketName, wire.PidFile} {
		os.Remove(filepath.Join(cfg.StateDir, stale))
	}

	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	shimLog, err := os.OpenFile(filepath.Join(cfg.StateDir, wire.LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		readyW.Close()
		return nil, err
	}
	cmd := exec.Command(bin, cfg.StateDir)
	cmd.Stderr = shimLog
	cmd.ExtraFiles = []*os.File{readyW}
	// Its own session: signals to the daemon's process group, and the
	// daemon's death, must not reach the shim.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	shimLog.Close()
	if err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	// Reap the shim if it exits while this daemon still runs; after a
	// daemon restart it is init's child.
	go cmd.Wait()

	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(readyR)
		ch <- result{b, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
	var resp wire.Response
	if len(strings.TrimSpace(string(res.b))) == 0 || json.Unmarshal(res.b, &resp) != nil {
		return nil, fmt.Errorf("shim for %s exited during create: %s: %w", cfg.ID, tail(filepath.Join(cfg.StateDir, wire.LogFile)), errdefs.ErrUnknown)
	}
	if resp.Error != "" {
		return nil, responseError(resp)
	}
	return &Task{stateDir: cfg.StateDir, pid: resp.Pid, conns: map[net.Conn]struct{}{}}, nil
}

// Connect finds the shim of stateDir again, e.g. after a daemon restart.
// It is errdefs.ErrNotFound when the shim is gone; ReadExit then tells how
// the process ended.
func Connect(ctx context.Context, stateDir string) (*Task, error) {
	t := &Task{stateDir: stateDir, conns: map[net.Conn]struct{}{}}
	resp, err := t.call(ctx, wire.Request{Op: wire.OpState})
	if err != nil {
		return nil, err
	}
	t.pid = resp.Pid
	return t, nil
}

// ReadExit reads the exit record of stateDir's process;
// errdefs.ErrNotFound if there is none (yet).
func ReadExit(stateDir string) (Exit, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, wire.ExitFile))
	if errors.Is(err, os.ErrNotExist) {
		return Exit{}, fmt.Errorf("exit record in %s: %w", stateDir, errdefs.ErrNotFound)
	}
	if err != nil {
		return Exit{}, err
	}
	var e wire.Exit
	if err := json.Unmarshal(b, &e); err != nil {
		return Exit{}, fmt.Errorf("decode exit record in %s: %w", stateDir, err)
	}
	return Exit(e), nil
}

// Start runs the process: `runc run --detach` for an init, `runc exec --detach`
// for an exec. Runtime failures (command not found, …) are reported here.
func (t *Task) Start(ctx context.Context) error {
	resp, err := t.call(ctx, wire.Request{Op: wire.OpStart})
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.pid = resp.Pid
	t.mu.Unlock()
	return nil
}

// Pid is the process's host pid: the container's init pid once created,
// an exec'd process's pid once started.
func (t *Task) Pid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pid
}

// Attach streams the process's output to stdout and stderr (stderr is
// unused for a terminal) and stdin, if not nil, to the process, until the
// process exited and its output is drained (nil) or ctx is cancelled. It
// may be called before Start, then nothing is missed.
func (t *Task) Attach(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	stream, err := t.OpenAttach(ctx, stdin, stdout, stderr)
	if err != nil {
		return err
	}
	return stream()
}

// OpenAttach registers the attach with the shim and returns the function
// that streams it; output produced after OpenAttach returns is delivered.
// The stdin copy runs until stdin ends: a Read blocked on a stdin that never
// ends is released only when the caller closes it.
func (t *Task) OpenAttach(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (func() error, error) {
	conn, br, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	req := wire.Request{Op: wire.OpAttach, Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil}
	if _, err := t.roundTrip(ctx, conn, br, req); err != nil {
		t.drop(conn)
		return nil, err
	}
	return func() error {
		defer t.drop(conn)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		if stdin != nil {
			go func() {
				io.Copy(conn, stdin)
				conn.CloseWrite()
			}()
		}
		var buf []byte
		for {
			stream, p, err := wire.ReadFrame(br, buf)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if _, rerr := ReadExit(t.stateDir); rerr == nil {
					return nil // the shim finished while we read
				}
				return fmt.Errorf("attach to %s: connection to shim lost: %w", t.stateDir, errdefs.ErrUnavailable)
			}
			buf = p[:0]
			var w io.Writer
			switch stream {
			case wire.StreamEnd:
				return nil
			case wire.StreamStdout:
				w = stdout
			case wire.StreamStderr:
				w = stderr
			}
			if w != nil {
				if _, err := w.Write(p); err != nil {
					return err
				}
			}
		}
	}, nil
}

// Wait blocks until the process exited, or returns at once if it has.
func (t *Task) Wait(ctx context.Context) (Exit, error) {
	resp, err := t.call(ctx, wire.Request{Op: wire.OpWait})
	if err == nil && resp.Exit != nil {
		return Exit(*resp.Exit), nil
	}
	if ctx.Err() != nil {
		return Exit{}, ctx.Err()
	}
	// The shim is gone (or went while we waited): its record says how the
	// process ended.
	if e, rerr := ReadExit(t.stateDir); rerr == nil {
		return e, nil
	}
	if err == nil {
		err = fmt.Errorf("shim of %s answered wait without an exit: %w", t.stateDir, errdefs.ErrUnknown)
	}
	return Exit{}, err
}

// Resize sets the terminal's size; it is a no-op without a terminal.
func (t *Task) Resize(ctx context.Context, width, height uint16) error {
	_, err := t.call(ctx, wire.Request{Op: wire.OpResize, Width: width, Height: height})
	return err
}

// CloseStdin closes the process's stdin so it reads EOF.
func (t *Task) CloseStdin(ctx context.Context) error {
	_, err := t.call(ctx, wire.Request{Op: wire.OpCloseStdin})
	return err
}

// Close drops the daemon's connections to the shim (ending Attach and Wait
// calls in progress); the shim and its process keep running.
func (t *Task) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.conns = map[net.Conn]struct{}{}
	return nil
}

// call makes one request on a fresh connection.
func (t *Task) call(ctx context.Context, req wire.Request) (wire.Response, error) {
	conn, br, err := t.dial(ctx)
	if err != nil {
		return wire.Response{}, err
	}
	defer t.drop(conn)
	return t.roundTrip(ctx, conn, br, req)
}

func (t *Task) roundTrip(ctx context.Context, conn *net.UnixConn, br *bufio.Reader, req wire.Request) (wire.Response, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return wire.Response{}, t.connErr(ctx, err)
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return wire.Response{}, t.connErr(ctx, err)
	}
	var resp wire.Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return wire.Response{}, fmt.Errorf("decode shim response: %w", err)
	}
	if resp.Error != "" {
		return resp, responseError(resp)
	}
	return resp, nil
}

func (t *Task) connErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("task %s closed: %w", t.stateDir, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("shim of %s: %v: %w", t.stateDir, err, errdefs.ErrUnavailable)
}

// dial connects to the shim's socket; a missing or dead socket is
// errdefs.ErrNotFound (the shim is gone).
func (t *Task) dial(ctx context.Context) (*net.UnixConn, *bufio.Reader, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, nil, fmt.Errorf("task %s closed: %w", t.stateDir, errdefs.ErrFailedPrecondition)
	}
	t.mu.Unlock()
	path := filepath.Join(t.stateDir, wire.SocketName)
	var dirFile *os.File
	if len(path) >= 100 {
		// Unix socket addresses are limited to 108 bytes: go through an
		// open descriptor of the state dir instead.
		f, err := os.OpenFile(t.stateDir, os.O_RDONLY|unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return nil, nil, t.goneErr(err)
		}
		dirFile = f
		path = fmt.Sprintf("/proc/self/fd/%d/%s", f.Fd(), wire.SocketName)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if dirFile != nil {
		dirFile.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, t.goneErr(err)
	}
	conn := c.(*net.UnixConn)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		conn.Close()
		return nil, nil, fmt.Errorf("task %s closed: %w", t.stateDir, errdefs.ErrFailedPrecondition)
	}
	t.conns[conn] = struct{}{}
	t.mu.Unlock()
	return conn, bufio.NewReader(conn), nil
}

func (t *Task) goneErr(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("shim of %s: %w", t.stateDir, errdefs.ErrNotFound)
	}
	return fmt.Errorf("shim of %s: %v: %w", t.stateDir, err, errdefs.ErrUnavailable)
}

func (t *Task) drop(conn net.Conn) {
	conn.Close()
	t.mu.Lock()
	delete(t.conns, conn)
	t.mu.Unlock()
}

// runtimeError keeps the runtime's message while matching its classes.
type runtimeError struct {
	msg     string
	classes []error
}

func (e *runtimeError) Error() string   { return e.msg }
func (e *runtimeError) Unwrap() []error { return e.classes }

func responseError(r wire.Response) error {
	switch r.Kind {
	case wire.KindCommandNotFound:
		return &runtimeError{r.Error, []error{ErrCommandNotFound, errdefs.ErrInvalidArgument}}
	case wire.KindCannotInvoke:
		return &runtimeError{r.Error, []error{ErrCannotInvoke, errdefs.ErrInvalidArgument}}
	case wire.KindInvalid:
		return &runtimeError{r.Error, []error{errdefs.ErrFailedPrecondition}}
	}
	return &runtimeError{r.Error, []error{errdefs.ErrUnknown}}
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// tail returns the end of the shim's own log, for errors when it died.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no diagnostics"
	}
	return s
}
