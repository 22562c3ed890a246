package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"wharf.io/wharf/runtime/shim/wire"
)

// listen binds the control socket. We bind relative to our working
// directory (the state dir) because the absolute path may exceed the
// 108-byte limit of unix socket addresses.
func (s *shim) listen() error {
	os.Remove(wire.SocketName)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: wire.SocketName, Net: "unix"})
	if err != nil {
		return err
	}
	l.SetUnlinkOnClose(false) // exit.json must exist before the socket vanishes: finish decides
	os.Chmod(wire.SocketName, 0o600)
	s.listener = l
	return nil
}

// serve answers clients until the process is gone, then returns once the
// last answers are written.
func (s *shim) serve() {
	for {
		conn, err := s.listener.AcceptUnix()
		if err != nil {
			break // closed by finish
		}
		s.handlers.Add(1)
		go func() {
			defer s.handlers.Done()
			s.handle(conn)
		}()
	}
	<-s.exitedCh
	os.Remove(wire.SocketName)
	// Let in-flight answers (wait, state) reach their readers.
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func (s *shim) handle(conn *net.UnixConn) {
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return
	}
	var req wire.Request
	if err := json.Unmarshal(line, &req); err != nil {
		s.respond(conn, wire.Response{Error: "bad request", Kind: wire.KindInvalid})
		conn.Close()
		return
	}
	switch req.Op {
	case wire.OpAttach:
		s.attach(conn, br, req)
		return // the connection now belongs to the attach
	case wire.OpStart:
		pid, err := s.start()
		if err != nil {
			s.respond(conn, wire.Response{Error: err.Error(), Kind: kindOf(err)})
		} else {
			s.respond(conn, wire.Response{Pid: pid})
		}
	case wire.OpWait:
		// Notice a client that goes away while we wait.
		gone := make(chan struct{})
		go func() { io.Copy(io.Discard, br); close(gone) }()
		select {
		case <-s.exitedCh:
			s.respond(conn, s.state())
		case <-gone:
		}
	case wire.OpState:
		s.respond(conn, s.state())
	case wire.OpResize:
		s.resize(req.Width, req.Height)
		s.respond(conn, wire.Response{})
	case wire.OpCloseStdin:
		s.closeStdin()
		s.respond(conn, wire.Response{})
	default:
		s.respond(conn, wire.Response{Error: "unknown operation " + req.Op, Kind: wire.KindInvalid})
	}
	conn.Close()
}

func (s *shim) respond(conn *net.UnixConn, r wire.Response) {
	b, _ := json.Marshal(r)
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	conn.Write(append(b, '\n'))
	conn.SetWriteDeadline(time.Time{})
}

func (s *shim) state() wire.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return wire.Response{Pid: s.pid, Exit: s.exit}
}

func (s *shim) resize(w, h uint16) {
	ws := &unix.Winsize{Col: w, Row: h}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		s.winsize = ws // applied when the runtime hands us the pty
		return
	}
	unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, ws)
}

// attach registers a client for live output and, if it asked and nobody
// else holds it, gives it the process's stdin.
func (s *shim) attach(conn *net.UnixConn, br *bufio.Reader, req wire.Request) {
	c := &client{conn: conn, stdout: req.Stdout, stderr: req.Stderr && !s.cfg.Terminal}
	s.mu.Lock()
	exit := s.exit
	if exit == nil {
		s.clients[c] = struct{}{}
	}
	var stdin io.Writer
	if req.Stdin && s.cfg.OpenStdin && !s.stdinBusy && exit == nil {
		if s.master != nil {
			stdin = s.master
		} else if s.stdinW != nil {
			stdin = s.stdinW
		} else if s.cfg.Terminal {
			stdin = &lazyMaster{s: s}
		}
		if stdin != nil {
			s.stdinBusy = true
		}
	}
	// Answer under the lock: no output frame may precede the answer.
	c.mu.Lock()
	s.mu.Unlock()
	s.respond(conn, wire.Response{})
	c.mu.Unlock()
	if exit != nil {
		b, _ := json.Marshal(exit)
		wire.WriteFrame(conn, wire.StreamEnd, b)
		conn.Close()
		return
	}
	if stdin == nil {
		return // finish or a failed write closes the connection
	}
	go func() {
		io.Copy(stdin, br)
		s.mu.Lock()
		s.stdinBusy = false
		s.mu.Unlock()
		if s.cfg.StdinOnce && !s.cfg.Terminal {
			s.closeStdin()
		}
	}()
}

// lazyMaster writes to the pty master of an exec that has not started yet.
type lazyMaster struct{ s *shim }

func (l *lazyMaster) Write(p []byte) (int, error) {
	select {
	case <-l.s.masterReady:
	case <-l.s.exitedCh:
		return 0, io.ErrClosedPipe
	}
	l.s.mu.Lock()
	m := l.s.master
	l.s.mu.Unlock()
	return m.Write(p)
}
