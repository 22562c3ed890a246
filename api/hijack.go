package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/moby/moby/api/types/common"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"wharf.io/wharf/engine"
)

// hijackSession is a client connection taken over from net/http for an
// attach or exec session: stdin is read from it and output written raw
// (TTY) or in stdcopy frames.
type hijackSession struct {
	conn   net.Conn
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	system io.Writer // in-band errors; nil for a TTY
	tty    bool
	// cancel ends the backend call when the client goes away.
	cancel    context.CancelFunc
	ctx       context.Context
	stopWatch func()

	// The upgrade answer, held back until the engine has registered the
	// session (attach) or written at once (exec).
	brw        *bufio.ReadWriter
	head       string
	header     http.Header
	headerSent bool
}

// hijack answers the request like docker does — "101 UPGRADED" when the
// client asked for `Upgrade: tcp`, else "200 OK" — and takes over the
// connection.
func (s *server) hijack(w http.ResponseWriter, r *http.Request, tty bool) (*hijackSession, error) {
	sess, err := s.takeOver(w, r, tty)
	if err != nil {
		return nil, err
	}
	if err := sess.writeHeader(); err != nil {
		sess.conn.Close()
		return nil, err
	}
	return sess, nil
}

// takeOver takes the connection from net/http without answering yet, so
// that the caller can register the session with the engine first and only
// then let the client go on (see hijackSession.writeHeader).
func (s *server) takeOver(w http.ResponseWriter, r *http.Request, tty bool) (*hijackSession, error) {
	mediaType := streamMediaType(r, tty)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("cannot hijack the connection for streaming: %w", errdefs.ErrInternal)
	}
	// The server may have set deadlines (ReadHeaderTimeout etc.): a session
	// lasts as long as the process.
	_ = conn.SetDeadline(time.Time{})

	var head string
	if r.Header.Get("Upgrade") != "" {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + mediaType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	} else {
		head = "HTTP/1.1 200 OK\r\nContent-Type: " + mediaType + "\r\n"
	}
	// Headers set so far (Api-Version, Server, …) go out too, as moby does.
	h := w.Header().Clone()
	h.Del("Content-Type")
	h.Del("Content-Length")

	ctx, cancel := context.WithCancel(r.Context())
	sess := &hijackSession{conn: conn, tty: tty, ctx: ctx, cancel: cancel, brw: brw, head: head, header: h}
	// Bytes the server already read past the request belong to stdin.
	sess.stdin = io.Reader(conn)
	if brw.Reader.Buffered() > 0 {
		sess.stdin = io.MultiReader(bufferedPrefix(brw.Reader), conn)
	}
	if tty {
		sess.stdout, sess.stderr = conn, conn
	} else {
		o, e, sys := newStdWriters(conn)
		sess.stdout, sess.stderr, sess.system = o, e, sys
	}
	sess.stopWatch = func() {}
	return sess, nil
}

// writeHeader sends the upgrade answer; the client starts streaming (and,
// for docker run, sends start) once it has read it. Calling it again is a
// no-op.
func (h *hijackSession) writeHeader() error {
	if h.headerSent {
		return nil
	}
	h.headerSent = true
	if _, err := h.brw.WriteString(h.head); err != nil {
		return err
	}
	if err := h.header.Write(h.brw); err != nil {
		return err
	}
	if _, err := h.brw.WriteString("\r\n"); err != nil {
		return err
	}
	if err := h.brw.Flush(); err != nil {
		return err
	}
	h.stopWatch = watchClose(h.conn, h.cancel)
	return nil
}

// failBeforeHeader answers a session that never started with a plain HTTP
// error, as if it had not been hijacked.
func (h *hijackSession) failBeforeHeader(err error) {
	body, _ := json.Marshal(common.ErrorResponse{Message: errorMessage(err)})
	status := statusFromError(err)
	fmt.Fprintf(h.brw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", status, http.StatusText(status), len(body)+1)
	_ = h.header.Write(h.brw)
	fmt.Fprintf(h.brw, "\r\n%s\n", body)
	_ = h.brw.Flush()
	h.cancel()
	h.conn.Close()
}

// bufferedPrefix returns only what br holds already, so reads after it go
// straight to the connection.
func bufferedPrefix(br *bufio.Reader) io.Reader {
	b, _ := br.Peek(br.Buffered())
	return io.LimitReader(br, int64(len(b)))
}

// finish reports err in-band, then ends the session: the write side is shut
// first so the client reads all output and then EOF, and the connection is
// closed once the client closes its side (or after a grace period).
func (h *hijackSession) finish(err error) {
	if err != nil && h.ctx.Err() == nil {
		msg := errorMessage(err)
		if h.system != nil {
			_, _ = h.system.Write([]byte(msg))
		} else {
			_, _ = h.conn.Write([]byte(msg + "\r\n"))
		}
	}
	h.cancel()
	type closeWriter interface{ CloseWrite() error }
	cw, ok := h.conn.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		h.stopWatch()
		h.conn.Close()
		return
	}
	// The client has its EOF now; the close watch ends behind it (its
	// poll thread has to wake first: up to a millisecond on a busy host).
	go func() {
		h.stopWatch()
		_ = h.conn.SetReadDeadline(time.Now().Add(hijackCloseGrace))
		_, _ = io.Copy(io.Discard, h.conn)
		h.conn.Close()
	}()
}

// hijackCloseGrace bounds how long a finished session waits for the client to
// close its side before dropping the connection.
const hijackCloseGrace = 30 * time.Second

func (s *server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	requested := time.Now()
	id := r.PathValue("id")
	ctr, err := s.backend.ContainerInspect(r.Context(), id, false)
	if err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	useStdin, useStdout, useStderr := boolValue(r, "stdin"), boolValue(r, "stdout"), boolValue(r, "stderr")

	sess, err := s.takeOver(w, r, tty)
	if err != nil {
		return err
	}
	streams := engine.AttachStreams{
		Logs:       boolValue(r, "logs"),
		Stream:     boolValue(r, "stream"),
		DetachKeys: r.URL.Query().Get("detachKeys"),
		Requested:  requested,
		// The client may send start as soon as it reads the answer, so the
		// engine answers only once the attachment is registered.
		Attached: sess.writeHeader,
	}
	if useStdin {
		streams.Stdin = sess.stdin
	}
	if useStdout {
		streams.Stdout = sess.stdout
	}
	if useStderr {
		streams.Stderr = sess.stderr
	}
	err = s.backend.ContainerAttach(sess.ctx, id, streams)
	if err != nil {
		s.log.DebugContext(r.Context(), "attach ended", "container", id, "error", err)
	}
	if !sess.headerSent {
		if err == nil {
			// Nothing was registered nor streamed (e.g. stream=0, logs=0).
			if werr := sess.writeHeader(); werr != nil {
				sess.conn.Close()
				return nil
			}
		} else {
			sess.failBeforeHeader(err)
			return nil
		}
	}
	sess.finish(err)
	return nil
}

func (s *server) execRoutes() {
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("GET /exec/{id}/json", s.execInspect)
	s.handle("POST /exec/{id}/resize", s.execResize)
}

func (s *server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	id, err := s.backend.ExecCreate(r.Context(), r.PathValue("id"), &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (s *server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	id := r.PathValue("id")
	x, err := s.backend.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := s.backend.ExecStart(r.Context(), id, true, engine.AttachStreams{}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	tty := x.ProcessConfig != nil && x.ProcessConfig.Tty
	sess, err := s.hijack(w, r, tty)
	if err != nil {
		return err
	}
	streams := engine.AttachStreams{Stream: true}
	if x.OpenStdin {
		streams.Stdin = sess.stdin
	}
	if x.OpenStdout {
		streams.Stdout = sess.stdout
	}
	if x.OpenStderr {
		streams.Stderr = sess.stderr
	}
	err = s.backend.ExecStart(sess.ctx, id, false, streams)
	if err != nil {
		s.log.DebugContext(r.Context(), "exec ended", "exec", id, "error", err)
	}
	sess.finish(err)
	return nil
}

func (s *server) execInspect(w http.ResponseWriter, r *http.Request) error {
	x, err := s.backend.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

func (s *server) execResize(w http.ResponseWriter, r *http.Request) error {
	h, err := uintValue(r, "h")
	if err != nil {
		return err
	}
	wd, err := uintValue(r, "w")
	if err != nil {
		return err
	}
	if err := s.backend.ExecResize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
