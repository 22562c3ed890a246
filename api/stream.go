package api

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/jsonstream"
)

// flushWriter sends every write to the client at once: log, stats and
// progress streams are read live by the CLI.
type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
	rc *http.ResponseController
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, rc: http.NewResponseController(w)}
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}

// Flush sends the header (and anything buffered) now.
func (f *flushWriter) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rc.Flush()
}

// stdWriter frames writes for one stream of docker's multiplexed format:
// an 8-byte header [stream, 0, 0, 0, size(uint32 big-endian)] then the
// payload. The moby API module ships the reader (stdcopy.StdCopy) but not
// the writer, hence this small one. Frames of several stdWriters sharing w
// must not interleave, so they share mu.
type stdWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream stdcopy.StdType
}

// newStdWriters returns stdout and stderr writers multiplexed onto w.
func newStdWriters(w io.Writer) (stdout, stderr, system *stdWriter) {
	mu := &sync.Mutex{}
	return &stdWriter{mu: mu, w: w, stream: stdcopy.Stdout},
		&stdWriter{mu: mu, w: w, stream: stdcopy.Stderr},
		&stdWriter{mu: mu, w: w, stream: stdcopy.Systemerr}
}

func (s *stdWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	written := 0
	for len(p) > 0 {
		chunk := p
		// Keep frames well below what StdCopy grows its buffer to.
		const maxFrame = 1 << 20
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		buf := make([]byte, 8+len(chunk))
		buf[0] = byte(s.stream)
		binary.BigEndian.PutUint32(buf[4:], uint32(len(chunk)))
		copy(buf[8:], chunk)
		s.mu.Lock()
		_, err := s.w.Write(buf)
		s.mu.Unlock()
		if err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// jsonStream writes docker's newline-delimited JSON progress messages
// ({"status":…}, {"stream":…}, {"errorDetail":…,"error":…}) and flushes
// each one, for load, import, pull and friends. The 200 header goes out
// with the first message, so an error before any output is still answered
// with its proper status (as moby's write-flusher does).
type jsonStream struct {
	w  http.ResponseWriter
	fw *flushWriter
}

func newJSONStream(w http.ResponseWriter) *jsonStream { return &jsonStream{w: w} }

// started reports whether the header was sent; after that errors can only
// be reported in-band with Error.
func (j *jsonStream) started() bool { return j.fw != nil }

// start sends the header now.
func (j *jsonStream) start() error {
	if j.fw != nil {
		return nil
	}
	j.w.Header().Set("Content-Type", "application/json")
	j.w.WriteHeader(http.StatusOK)
	j.fw = newFlushWriter(j.w)
	return j.fw.Flush()
}

// wireMessage adds the legacy top-level "error" string that old clients
// (and the docker CLI's jsonmessage) still read next to errorDetail.
type wireMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

func (j *jsonStream) send(m wireMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = j.Write(append(b, '\r', '\n'))
	return err
}

// Status writes {"status": msg}.
func (j *jsonStream) Status(msg string) error {
	return j.send(wireMessage{Message: jsonstream.Message{Status: msg}})
}

// Stream writes {"stream": text}; text normally ends in a newline.
func (j *jsonStream) Stream(text string) error {
	return j.send(wireMessage{Message: jsonstream.Message{Stream: text}})
}

// Error writes the in-band error message that ends a failed stream.
func (j *jsonStream) Error(err error) error {
	msg := errorMessage(err)
	return j.send(wireMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: msg}}, ErrorMessage: msg})
}

// Write passes through bytes that already are JSON messages (from a
// backend that renders its own progress) and flushes them.
func (j *jsonStream) Write(p []byte) (int, error) {
	if err := j.start(); err != nil {
		return 0, err
	}
	return j.fw.Write(p)
}

// fail reports err: as the HTTP error if nothing was sent yet, else in-band.
func (j *jsonStream) fail(err error) error {
	if !j.started() {
		return err
	}
	return j.Error(err)
}

type stopKey struct{}

// streamContext is the request context, also cancelled when the server
// begins shutting down: long-lived streams (events, logs -f, stats, wait)
// must not hold up a graceful shutdown.
func streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if stopping, ok := r.Context().Value(stopKey{}).(context.Context); ok {
		stop := context.AfterFunc(stopping, cancel)
		return ctx, func() { stop(); cancel() }
	}
	return ctx, cancel
}
