package runc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime is one OCI runtime binary with its state directory. The zero value
// runs "runc" with its default root.
type Runtime struct {
	// Binary is a name looked up on PATH or a path; "" means "runc".
	Binary string
	// Root is the runtime's --root state directory; "" keeps its default.
	Root string
}

// Kill sends sig to the container's init, or to all its processes when all
// is set. A container that is gone or no longer running is
// errdefs.ErrNotFound: there is nothing left to signal.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	_, err := r.run(ctx, id, append(args, id, strconv.Itoa(int(sig)))...)
	return err
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, err := r.run(ctx, id, "pause", id)
	return err
}

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, err := r.run(ctx, id, "resume", id)
	return err
}

// Delete removes the runtime's state (and cgroup) of a stopped container;
// force kills a running one first.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, id, append(args, id)...)
	return err
}

// State reports the runtime's view of the container.
func (r *Runtime) State(ctx context.Context, id string) (*specs.State, error) {
	out, err := r.run(ctx, id, "state", id)
	if err != nil {
		return nil, err
	}
	var s specs.State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("decode %s state of %s: %w", r.binary(), id, err)
	}
	return &s, nil
}

// Ps lists the host pids of the container's processes.
func (r *Runtime) Ps(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, id, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("decode %s ps of %s: %w", r.binary(), id, err)
	}
	return pids, nil
}

// Version reports the runtime's version, e.g. "1.1.5+ds1". It asks the
// binary once per file: every `docker version` wants it, and running the
// runtime costs more than the rest of the request (≈ 5 ms); an upgraded
// binary is a new file and is asked again.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	key, err := fileIdentity(r.binary())
	if err != nil {
		return "", err
	}
	if v, ok := versions.Load(key); ok {
		return v.(string), nil
	}
	out, err := r.run(ctx, "", "--version")
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(out), "\n")
	fields := strings.Fields(line) // "runc version 1.1.5", "crun version 1.8"
	if len(fields) == 0 {
		return "", fmt.Errorf("%s printed no version: %w", r.binary(), errdefs.ErrUnknown)
	}
	v := strings.TrimPrefix(fields[len(fields)-1], "v")
	versions.Store(key, v)
	return v, nil
}

// versions caches Version's answers by fileIdentity.
var versions sync.Map

// identity tells one version of a binary from another.
type identity struct {
	path             string
	dev, ino         uint64
	size, mtimeNanos int64
}

// fileIdentity finds binary (a name on PATH or a path) and says which file
// it is now.
func fileIdentity(binary string) (identity, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return identity{}, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return identity{}, err
	}
	return identity{path: path, dev: st.Dev, ino: st.Ino, size: st.Size, mtimeNanos: st.Mtim.Nano()}, nil
}

func (r *Runtime) binary() string {
	if r.Binary == "" {
		return "runc"
	}
	return r.Binary
}

// run executes the runtime and returns its stdout; a failure carries the
// runtime's own message, classified for the callers.
func (r *Runtime) run(ctx context.Context, id string, args ...string) ([]byte, error) {
	var full []string
	if r.Root != "" {
		full = append(full, "--root", r.Root)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, r.binary(), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if _, ok := err.(*exec.ExitError); !ok {
			return nil, fmt.Errorf("%s %s: %w", r.binary(), args[0], err)
		}
		return nil, classify(r.binary(), args[0], id, msg)
	}
	return stdout.Bytes(), nil
}

// classify maps the runtime's error text to an errdefs class. Reading the
// text is unavoidable at this edge: the CLI's exit code is always 1.
func classify(bin, op, id, msg string) error {
	// runc logs errors as `time="…" level=error msg="…"` on stderr.
	if i := strings.LastIndex(msg, `msg="`); i >= 0 {
		if m, err := strconv.Unquote(msg[i+4:]); err == nil {
			msg = m
		} else if j := strings.LastIndex(msg, `"`); j > i+5 {
			msg = msg[i+5 : j]
		}
	}
	var class error = errdefs.ErrUnknown
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "does not exist"), strings.Contains(lower, "not found"),
		strings.Contains(lower, "no such file or directory"):
		class = errdefs.ErrNotFound
	case strings.Contains(lower, "not running"), strings.Contains(lower, "container is stopped"),
		strings.Contains(lower, "process already finished"):
		// Nothing left to signal or freeze: the process is gone.
		class = errdefs.ErrNotFound
	case strings.Contains(lower, "not paused"), strings.Contains(lower, "is paused"),
		strings.Contains(lower, "already paused"), strings.Contains(lower, "cannot delete container"):
		class = errdefs.ErrFailedPrecondition
	}
	if id != "" {
		return fmt.Errorf("%s %s %s: %s: %w", bin, op, id, msg, class)
	}
	return fmt.Errorf("%s %s: %s: %w", bin, op, msg, class)
}
