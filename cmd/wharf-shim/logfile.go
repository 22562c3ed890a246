package main

import (
	"bytes"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// maxLogLine is where Docker splits a line without a newline into partial
// entries.
const maxLogLine = 16 * 1024

// jsonLog writes Docker's json-file format: one object per line, split at
// newlines and after maxLogLine bytes.
type jsonLog struct {
	mu      sync.Mutex
	f       *os.File
	pending map[string][]byte // per stream: bytes after the last newline
	buf     bytes.Buffer
}

func openJSONLog(path string) (*jsonLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return &jsonLog{f: f, pending: map[string][]byte{}}, nil
}

func (l *jsonLog) write(stream string, p []byte) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	data := append(l.pending[stream], p...)
	now := time.Now()
	for {
		i := bytes.IndexByte(data, '\n')
		switch {
		case i >= 0 && i < maxLogLine:
			l.entry(stream, data[:i+1], now)
			data = data[i+1:]
			continue
		case len(data) >= maxLogLine:
			l.entry(stream, data[:maxLogLine], now)
			data = data[maxLogLine:]
			continue
		}
		break
	}
	l.pending[stream] = append(l.pending[stream][:0], data...)
	l.flush()
}

// close logs what is left of unterminated lines and closes the file.
func (l *jsonLog) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range []string{"stdout", "stderr"} {
		if len(l.pending[s]) > 0 {
			l.entry(s, l.pending[s], time.Now())
			l.pending[s] = nil
		}
	}
	l.flush()
	l.f.Close()
}

func (l *jsonLog) entry(stream string, line []byte, t time.Time) {
	msg, _ := json.Marshal(string(line)) // invalid UTF-8 becomes U+FFFD, as in Docker
	l.buf.WriteString(`{"log":`)
	l.buf.Write(msg)
	l.buf.WriteString(`,"stream":"`)
	l.buf.WriteString(stream)
	l.buf.WriteString(`","time":"`)
	l.buf.WriteString(t.UTC().Format(time.RFC3339Nano))
	l.buf.WriteString("\"}\n")
}

// flush writes the collected entries with one write so that readers
// following the file never see half an entry from us.
func (l *jsonLog) flush() {
	if l.buf.Len() == 0 {
		return
	}
	if _, err := l.f.Write(l.buf.Bytes()); err != nil {
		logf("write container log: %v", err)
	}
	l.buf.Reset()
}
