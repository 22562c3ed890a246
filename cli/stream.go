package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"golang.org/x/sys/unix"
)

const defaultDetachKeys = "ctrl-p,ctrl-q"

// errDetached reports that the user typed the detach sequence; the command then succeeds.
var errDetached = errors.New("detached from container")

// session relays one attached container (run, start -a, attach): terminal mode, window
// size, signal forwarding, the hijacked streams, and finally the exit code.
type session struct {
	c          *CLI
	api        APIClient
	id         string
	tty        bool
	stdin      bool
	noStdout   bool
	noStderr   bool
	sigProxy   bool
	detachKeys string
	// resize applies a window size; nil means resize the container.
	resize func(ctx context.Context, height, width uint) error

	resp client.HijackedResponse
	open bool
	// signals delivers the stop of the signal relay once it is set up
	// (see relaySignals).
	signals chan func()
}

// attach opens the hijacked stream; docker does this before start so no output is lost.
func (s *session) attach(ctx context.Context) error {
	res, err := s.api.ContainerAttach(ctx, s.id, client.ContainerAttachOptions{
		Stream: true, Stdin: s.stdin, Stdout: !s.noStdout, Stderr: !s.noStderr, DetachKeys: s.detachKeys,
	})
	if err != nil {
		return err
	}
	s.resp, s.open = res.HijackedResponse, true
	return nil
}

func (s *session) close() {
	if s.open {
		s.resp.Close()
		s.open = false
	}
	if s.signals != nil { // set up for a start that failed: hand them back
		go func(ready <-chan func()) { (<-ready)() }(s.signals)
		s.signals = nil
	}
}

// run relays streams until the output ends or the user detaches, then collects the
// container's exit code from waitC (registered before start by the caller).
func (s *session) run(ctx context.Context, waitC client.ContainerWaitResult) error {
	if s.tty {
		restore := s.setRawTerminal()
		defer restore()
		stop := s.monitorSize(ctx)
		defer stop()
	}
	if s.sigProxy {
		s.relaySignals(ctx)
		stop := <-s.signals
		s.signals = nil
		// Handing the signals back costs as much as taking them (~1 ms);
		// the command need not wait for it.
		defer func() { go stop() }()
	}
	// With signals forwarded, an interrupt is the container's business: keep relaying.
	streamCtx := ctx
	if s.sigProxy {
		streamCtx = context.WithoutCancel(ctx)
	}
	if s.open {
		err := s.stream(streamCtx)
		if errors.Is(err, errDetached) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return waitExit(streamCtx, waitC)
}

// waitExit turns a wait result into docker's exit status.
func waitExit(ctx context.Context, waitC client.ContainerWaitResult) error {
	select {
	case r := <-waitC.Result:
		if r.Error != nil && r.Error.Message != "" {
			return StatusError{Status: r.Error.Message, StatusCode: 125}
		}
		if r.StatusCode != 0 {
			return StatusError{StatusCode: int(r.StatusCode)}
		}
		return nil
	case err := <-waitC.Error:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stream copies container output to the client and client input to the container.
func (s *session) stream(ctx context.Context) error {
	outDone := make(chan error, 1)
	go func() { outDone <- copyOutput(s.resp.Reader, s.tty, s.c.Out, s.c.Err) }()

	inDone := make(chan error, 1)
	if s.stdin && s.c.In != nil {
		go func() {
			in := s.c.In
			if s.tty {
				keys := s.detachKeys
				if keys == "" {
					keys = defaultDetachKeys
				}
				if b, err := term.ToBytes(keys); err == nil {
					in = term.NewEscapeProxy(in, b)
				}
			}
			_, err := io.Copy(s.resp.Conn, in)
			_ = s.resp.CloseWrite()
			inDone <- err
		}()
	}
	select {
	case err := <-outDone:
		return err
	case err := <-inDone:
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return errDetached
		}
		// Input ended (EOF): the container may still be writing.
		select {
		case err := <-outDone:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setRawTerminal puts the local terminal in raw mode so keys reach the container
// unchanged; the returned func restores it and must run on every exit path.
func (s *session) setRawTerminal() func() {
	var restores []func()
	if fd, ok := term.GetFdInfo(s.c.In); ok && s.stdin {
		if st, err := term.SetRawTerminal(fd); err == nil {
			restores = append(restores, func() { _ = term.RestoreTerminal(fd, st) })
		}
	}
	if fd, ok := term.GetFdInfo(s.c.Out); ok {
		if st, err := term.SetRawTerminalOutput(fd); err == nil && st != nil {
			restores = append(restores, func() { _ = term.RestoreTerminal(fd, st) })
		}
	}
	return func() {
		for i := len(restores) - 1; i >= 0; i-- {
			restores[i]()
		}
	}
}

// terminalSize returns the client terminal's size, or ok=false when Out is no terminal.
func (c *CLI) terminalSize() (height, width uint, ok bool) {
	fd, isTerm := term.GetFdInfo(c.Out)
	if !isTerm {
		return 0, 0, false
	}
	ws, err := term.GetWinsize(fd)
	if err != nil || ws.Height == 0 || ws.Width == 0 {
		return 0, 0, false
	}
	return uint(ws.Height), uint(ws.Width), true
}

// monitorSize sends the initial window size and every change (SIGWINCH).
func (s *session) monitorSize(ctx context.Context) func() {
	resize := s.resize
	if resize == nil {
		resize = func(ctx context.Context, h, w uint) error {
			_, err := s.api.ContainerResize(ctx, s.id, client.ContainerResizeOptions{Height: h, Width: w})
			return err
		}
	}
	apply := func() {
		if h, w, ok := s.c.terminalSize(); ok {
			_ = resize(ctx, h, w)
		}
	}
	apply()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				apply()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// relaySignals sets up the signal relay in the background. Asking Go for
// every signal costs a hand-off with its signal thread per signal (~1.7 ms
// in all here): callers start it before they start the container, whose
// start takes far longer, and run waits for it.
func (s *session) relaySignals(ctx context.Context) {
	if !s.sigProxy || s.signals != nil {
		return
	}
	s.signals = make(chan func(), 1)
	go func() { s.signals <- s.forwardSignals(ctx) }()
}

// forwardSignals relays the signals the client receives to the container (docker's
// --sig-proxy). SIGCHLD, SIGPIPE, SIGWINCH and SIGURG (Go's preemption) stay local.
func (s *session) forwardSignals(ctx context.Context) func() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				ss, ok := sig.(syscall.Signal)
				if !ok {
					continue
				}
				switch ss {
				case syscall.SIGCHLD, syscall.SIGPIPE, syscall.SIGWINCH, syscall.SIGURG:
					continue
				}
				name := unix.SignalName(ss)
				_, _ = s.api.ContainerKill(context.WithoutCancel(ctx), s.id, client.ContainerKillOptions{Signal: name})
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
