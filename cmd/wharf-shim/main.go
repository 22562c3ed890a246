package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"

	"golang.org/x/sys/unix"

	"wharf.io/wharf/runtime/shim/wire"
)

func logf(format string, args ...any) { log.Printf(format, args...) }

func main() {
	// One container's monitor needs little: keep threads and heap small
	// (the brief's target is ≤ 3 MiB PSS per container).
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("wharf-shim[%d] ", os.Getpid()))

	if len(os.Args) != 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: wharf-shim STATE_DIR | --spare (started by wharfd)")
		os.Exit(2)
	}
	// The daemon's terminal session or its death must not take us down.
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	stateDir := os.Args[1]
	if stateDir == wire.SpareFlag {
		var ok bool
		if stateDir, ok = awaitStateDir(); !ok {
			return
		}
	}
	ready := os.NewFile(wire.ReadyFD, "ready")
	if err := run(stateDir, ready); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}

// awaitStateDir is a spare's wait for its container: the state dir arrives
// on fd SpareStateDirFD; false when the daemon closed it without one. The
// spare's diagnostics then go to the state dir's log, as a shim's do.
func awaitStateDir() (string, bool) {
	// Pay now for what the first child process costs a Go program: the
	// runtime's one-time check that pidfds work forks a throwaway child.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Release()
	}
	f := os.NewFile(wire.SpareStateDirFD, "state-dir")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || len(b) == 0 {
		return "", false
	}
	stateDir := string(b)
	if l, err := os.OpenFile(filepath.Join(stateDir, wire.LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
		unix.Dup3(int(l.Fd()), 2, 0)
		l.Close()
	}
	return stateDir, true
}

// run creates the process, reports readiness on ready and serves until the
// process is gone and its exit recorded.
func run(stateDir string, ready *os.File) error {
	if err := os.Chdir(stateDir); err != nil {
		return err
	}
	stateDir, _ = filepath.Abs(".")
	b, err := os.ReadFile(wire.ConfigFile)
	if err != nil {
		return err
	}
	var cfg wire.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("decode %s: %w", wire.ConfigFile, err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	os.WriteFile(wire.ShimPidFile, []byte(strconv.Itoa(os.Getpid())), 0o600)
	s := newShim(cfg, stateDir)
	if err := s.create(); err != nil {
		reply(ready, wire.Response{Error: err.Error(), Kind: kindOf(err)})
		s.cleanupCreate()
		return err
	}
	if err := s.listen(); err != nil {
		reply(ready, wire.Response{Error: err.Error()})
		return err
	}
	reply(ready, wire.Response{Pid: s.pid})
	s.serve()
	return nil
}

func reply(f *os.File, r wire.Response) {
	if f == nil {
		return
	}
	b, _ := json.Marshal(r)
	f.Write(append(b, '\n'))
	f.Close()
}
