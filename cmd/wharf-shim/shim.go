package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"wharf.io/wharf/runtime/shim/wire"
)

// drainTimeout bounds how long output is read after the process exited:
// a background child may hold the pipes open forever.
const drainTimeout = 2 * time.Second

type shim struct {
	cfg      wire.Config
	stateDir string
	reaper   *reaper
	log      *jsonLog

	// Process stdio as the shim sees it. Without a terminal: the read ends
	// of stdout/stderr and the write end of stdin; the child ends are kept
	// until the runtime has handed them to the process. With a terminal:
	// the pty master, received from the runtime.
	stdinW, stdoutR, stderrR *os.File
	childIO                  []*os.File
	console                  *net.UnixListener
	consoleCh                chan consoleResult

	mu          sync.Mutex
	pid         int
	started     bool
	reaped      bool
	pumpsReady  chan struct{} // closed when start has returned
	master      *os.File
	masterReady chan struct{} // closed once master is set
	winsize     *unix.Winsize // a resize that arrived before the pty
	clients     map[*client]struct{}
	stdinBusy   bool
	exit        *wire.Exit
	exitedCh    chan struct{}
	pumps       sync.WaitGroup
	listener    *net.UnixListener
	handlers    sync.WaitGroup
	stdinClose  sync.Once
}

type consoleResult struct {
	f   *os.File
	err error
}

type client struct {
	mu             sync.Mutex
	conn           *net.UnixConn
	stdout, stderr bool
}

// runtimeError carries the runtime's message and how the CLI should report it.
type runtimeError struct {
	msg, kind string
}

func (e *runtimeError) Error() string { return e.msg }

func kindOf(err error) string {
	var re *runtimeError
	if errors.As(err, &re) {
		return re.kind
	}
	return ""
}

func newShim(cfg wire.Config, stateDir string) *shim {
	return &shim{
		cfg:         cfg,
		stateDir:    stateDir,
		reaper:      newReaper(),
		clients:     map[*client]struct{}{},
		exitedCh:    make(chan struct{}),
		masterReady: make(chan struct{}),
		pumpsReady:  make(chan struct{}),
	}
}

// create prepares stdio and, for a container's init, runs `runtime create`
// so that Start only has to let the process run.
func (s *shim) create() error {
	if s.cfg.Terminal {
		if err := s.listenConsole(); err != nil {
			return err
		}
	} else if err := s.makePipes(); err != nil {
		return err
	}
	if s.cfg.LogPath != "" && !s.cfg.Exec {
		l, err := openJSONLog(s.cfg.LogPath)
		if err != nil {
			return fmt.Errorf("open container log: %w", err)
		}
		s.log = l
	}
	// The runtime creates and starts in one step at Start (`run --detach`
	// for an init, `exec --detach` for an exec): one runtime process less
	// per container start than create + start, and attached clients are
	// already connected because the daemon attaches between Create and Start.
	return nil
}

// cleanupCreate removes what a failed create left in the state dir.
func (s *shim) cleanupCreate() {
	if s.console != nil {
		s.console.Close()
	}
	os.Remove(wire.ConsoleSocket)
}

func (s *shim) makePipes() error {
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		return err
	}
	s.stdoutR, s.stderrR = stdoutR, stderrR
	var stdin *os.File
	if s.cfg.OpenStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		stdin, s.stdinW = r, w
	} else {
		if stdin, err = os.Open(os.DevNull); err != nil {
			return err
		}
	}
	s.childIO = []*os.File{stdin, stdoutW, stderrW}
	return nil
}

func (s *shim) listenConsole() error {
	os.Remove(wire.ConsoleSocket)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: wire.ConsoleSocket, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	s.console = l
	s.consoleCh = make(chan consoleResult, 1)
	go func() { s.consoleCh <- receiveConsole(l) }()
	return nil
}

// consolePath names the console socket for the runtime. A unix socket path
// must fit in 108 bytes and state dirs nest deep, so a long one is reached
// through our working directory in /proc.
func (s *shim) consolePath() string {
	p := filepath.Join(s.stateDir, wire.ConsoleSocket)
	if len(p) < 100 {
		return p
	}
	return fmt.Sprintf("/proc/%d/cwd/%s", os.Getpid(), wire.ConsoleSocket)
}

// receiveConsole accepts the runtime's connection and takes the pty master
// it sends with SCM_RIGHTS.
func receiveConsole(l *net.UnixListener) consoleResult {
	conn, err := l.AcceptUnix()
	if err != nil {
		return consoleResult{err: err}
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return consoleResult{err: fmt.Errorf("receive pty master: %w", err)}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return consoleResult{err: fmt.Errorf("receive pty master: bad control message")}
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return consoleResult{err: fmt.Errorf("receive pty master: no descriptor")}
	}
	// Non-blocking makes the file pollable, so drain deadlines work.
	unix.SetNonblock(fds[0], true)
	unix.CloseOnExec(fds[0])
	return consoleResult{f: os.NewFile(uintptr(fds[0]), "pty-master")}
}

// afterRuntime runs once the runtime created the process: it learns the
// pid and the pty master and drops the child's ends of the pipes, so that
// EOF arrives when the process (not us) closes them.
func (s *shim) afterRuntime() error {
	for _, f := range s.childIO {
		f.Close()
	}
	s.childIO = nil
	if s.console != nil {
		var res consoleResult
		select {
		case res = <-s.consoleCh:
		case <-time.After(10 * time.Second):
			res.err = errors.New("runtime sent no pty master")
		}
		s.console.Close()
		os.Remove(wire.ConsoleSocket)
		s.console = nil
		if res.err != nil {
			return res.err
		}
		s.mu.Lock()
		s.master = res.f
		close(s.masterReady)
		if s.winsize != nil {
			unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, s.winsize)
		}
		s.mu.Unlock()
	}
	b, err := os.ReadFile(wire.PidFile)
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("bad pid file %q", b)
	}
	s.mu.Lock()
	s.pid = pid
	s.mu.Unlock()
	return nil
}

// runtime runs one runtime command to completion with the process's stdio
// (the runtime hands it to the container process) and turns a failure into
// the runtime's own message.
func (s *shim) runtime(op string, args ...string) error {
	logPath := filepath.Join(s.stateDir, wire.RuntimeLogFile)
	var offset int64
	if fi, err := os.Stat(logPath); err == nil {
		offset = fi.Size()
	}
	full := []string{s.cfg.Runtime, "--log", logPath, "--log-format", "json"}
	if s.cfg.RuntimeRoot != "" {
		full = append(full, "--root", s.cfg.RuntimeRoot)
	}
	full = append(full, args...)
	files := s.childIO
	if files == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		files = []*os.File{devnull, devnull, devnull}
	}
	bin := s.cfg.Runtime
	if !strings.Contains(bin, "/") {
		if p, err := lookPath(bin); err == nil {
			bin = p
		}
	}
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	// syscall.ForkExec, not os.StartProcess: at its first use the latter
	// probes pidfd support with a fork of its own, in every shim, and the
	// reaper needs only the pid.
	pid, err := syscall.ForkExec(bin, full, &syscall.ProcAttr{Env: os.Environ(), Files: fds})
	if err != nil {
		return fmt.Errorf("OCI runtime %s failed: %w", op, err)
	}
	ws := s.reaper.wait(pid)
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	msg := runtimeLogError(logPath, offset)
	if msg == "" {
		msg = fmt.Sprintf("%s exited with status %d", s.cfg.Runtime, exitCode(ws))
	}
	return &runtimeError{msg: fmt.Sprintf("OCI runtime %s failed: %s", op, msg), kind: classify(msg)}
}

// classify follows Docker: these runtime messages mean the command could
// not be found (exit 127) or not be run (exit 126).
func classify(msg string) string {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return wire.KindCommandNotFound
	case strings.Contains(msg, "permission denied"):
		return wire.KindCannotInvoke
	}
	return ""
}

// runtimeLogError returns the last error the runtime logged after offset.
func runtimeLogError(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			last = e.Msg
		}
	}
	return last
}

func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

// start lets the process run: `runtime start` for an init, `runtime exec
// --detach` for an exec. Output pumping begins only after the runtime
// succeeded, so a failing runtime's own stderr never reaches log or clients.
func (s *shim) start() (int, error) {
	s.mu.Lock()
	if s.started {
		msg := "process already started"
		if s.exit != nil || s.reaped {
			msg = "process exited before it was started"
		}
		s.mu.Unlock()
		return 0, &runtimeError{msg: msg, kind: wire.KindInvalid}
	}
	s.started = true
	s.mu.Unlock()
	defer close(s.pumpsReady)
	var args []string
	op := "exec"
	if s.cfg.Exec {
		args = []string{"exec", "--detach", "--pid-file", filepath.Join(s.stateDir, wire.PidFile),
			"--process", filepath.Join(s.stateDir, wire.ProcessFile)}
	} else {
		op = "run"
		args = []string{"run", "--detach", "--bundle", s.cfg.Bundle, "--pid-file", filepath.Join(s.stateDir, wire.PidFile)}
	}
	if s.console != nil {
		args = append(args, "--console-socket", s.consolePath())
	}
	err := s.runtime(op, append(args, s.cfg.ID)...)
	if err == nil {
		err = s.afterRuntime()
	}
	if err != nil {
		// No process will ever exit: record the failure ourselves.
		code := 126
		if kindOf(err) == wire.KindCommandNotFound {
			code = 127
		}
		go s.finish(code, false)
		return 0, err
	}
	s.startPumps()
	go s.monitor()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid, nil
}

func (s *shim) startPumps() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		s.pumps.Add(1)
		go s.pump(s.master, wire.StreamStdout, "stdout")
		return
	}
	s.pumps.Add(2)
	go s.pump(s.stdoutR, wire.StreamStdout, "stdout")
	go s.pump(s.stderrR, wire.StreamStderr, "stderr")
}

func (s *shim) pump(f *os.File, stream byte, name string) {
	defer s.pumps.Done()
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			s.log.write(name, buf[:n])
			s.broadcast(stream, buf[:n])
		}
		if err != nil {
			return // EOF, or EIO from a pty whose last slave closed
		}
	}
}

func (s *shim) broadcast(stream byte, p []byte) {
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		if (stream == wire.StreamStdout && c.stdout) || (stream == wire.StreamStderr && c.stderr) {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		err := wire.WriteFrame(c.conn, stream, p)
		c.mu.Unlock()
		if err != nil {
			s.dropClient(c)
		}
	}
}

func (s *shim) dropClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	c.conn.Close()
}

// monitor waits for the process, then finishes.
func (s *shim) monitor() {
	s.mu.Lock()
	pid := s.pid
	s.mu.Unlock()
	ws := s.reaper.wait(pid)
	// A fast process can exit before start has set up the pumps; its
	// output waits in the pipes, so wait for the pumps, unless start
	// never ran (the process was killed while only created).
	s.mu.Lock()
	started := s.started
	s.started, s.reaped = true, true
	s.mu.Unlock()
	if started {
		<-s.pumpsReady
	}
	oom := false
	if !s.cfg.Exec {
		oom = oomKilled(s.cfg.CgroupsPath)
	}
	s.finish(exitCode(ws), oom)
}

// finish drains output, records the exit and tells everyone, in that order,
// so that whoever sees the exit also has all of the output.
func (s *shim) finish(code int, oom bool) {
	exitedAt := time.Now().UTC()
	done := make(chan struct{})
	go func() { s.pumps.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		for _, f := range []*os.File{s.stdoutR, s.stderrR, s.master} {
			if f != nil {
				f.SetReadDeadline(time.Now())
			}
		}
		<-done
	}
	s.log.close()
	s.closeStdin()
	s.cleanupCreate()
	exit := &wire.Exit{Code: code, ExitedAt: exitedAt, OOMKilled: oom}
	b, _ := json.Marshal(exit)
	if err := writeFileAtomic(wire.ExitFile, b); err != nil {
		logf("record exit: %v", err)
	}
	s.mu.Lock()
	s.exit = exit
	close(s.exitedCh)
	cs := s.clients
	s.clients = map[*client]struct{}{}
	s.mu.Unlock()
	for c := range cs {
		c.mu.Lock()
		wire.WriteFrame(c.conn, wire.StreamEnd, b)
		c.mu.Unlock()
		c.conn.Close()
	}
	if s.listener != nil {
		s.listener.Close()
	}
}

func (s *shim) closeStdin() {
	s.stdinClose.Do(func() {
		if s.stdinW != nil {
			s.stdinW.Close()
		}
	})
}

// oomKilled tells whether the kernel OOM-killed a process of the
// container's cgroup, which still exists until the daemon deletes the
// container.
func oomKilled(cgroupsPath string) bool {
	if cgroupsPath == "" || strings.Contains(cgroupsPath, ":") {
		return false // systemd cgroup paths are not handled
	}
	cg := filepath.Clean("/" + cgroupsPath)
	for _, f := range []string{
		"/sys/fs/cgroup/memory" + cg + "/memory.oom_control", // v1
		"/sys/fs/cgroup" + cg + "/memory.events",             // v2
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" && v != "0" {
				return true
			}
		}
		return false
	}
	return false
}

// writeFileAtomic replaces name whole (write, then rename) so the daemon
// never reads half a record. It does not fsync: the shim's records live in
// the runtime state directory and describe processes, which a host crash
// ends anyway; against a daemon's kill -9 the page cache is enough, and an
// fsync on the exit path delays every `run --rm` by a millisecond or more.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
