package main

import (
	"encoding/json"
	"fmt"
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

	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wharf-shim STATE_DIR (started by wharfd)")
		os.Exit(2)
	}
	ready := os.NewFile(3, "ready")
	if err := run(os.Args[1], ready); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}

// run creates the process, reports readiness on ready and serves until the
// process is gone and its exit recorded.
func run(stateDir string, ready *os.File) error {
	// The daemon's terminal session or its death must not take us down.
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
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
