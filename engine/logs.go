package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"time"
)

// logRecord is one line of Docker's json-file log format.
type logRecord struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// followPoll is how often a followed log is checked for growth once the
// reader has caught up.
const followPoll = 50 * time.Millisecond

// ContainerLogs implements GET /containers/{id}/logs from the json-file log
// the container's shim writes.
func (e *Engine) ContainerLogs(ctx context.Context, idOrName string, opts LogsOptions, stdout, stderr io.Writer) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	f, err := os.Open(e.logPath(c.ID))
	if errors.Is(err, os.ErrNotExist) {
		if !opts.Follow {
			return nil
		}
		// Not started yet: wait for the first start and the log file.
		f, err = e.waitLogFile(ctx, c)
	}
	if err != nil {
		return err
	}
	defer f.Close()

	emit := func(r logRecord) error {
		if !opts.Since.IsZero() && r.Time.Before(opts.Since) {
			return nil
		}
		if !opts.Until.IsZero() && r.Time.After(opts.Until) {
			return nil
		}
		w := stdout
		if r.Stream == "stderr" {
			w = stderr
		}
		if w == nil || (r.Stream == "stderr" && !opts.Stderr) || (r.Stream != "stderr" && !opts.Stdout) {
			return nil
		}
		line := r.Log
		if opts.Timestamps {
			line = r.Time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		_, err := io.WriteString(w, line)
		return err
	}

	rd := bufio.NewReaderSize(f, 64*1024)
	if opts.Tail >= 0 {
		// Keep only the last Tail records; json-file has no index, so this
		// reads the whole file once.
		var ring []logRecord
		if opts.Tail > 0 {
			for {
				r, err := readRecord(rd)
				if err != nil {
					break
				}
				ring = append(ring, r)
				if len(ring) > opts.Tail {
					ring = ring[1:]
				}
			}
		} else {
			f.Seek(0, io.SeekEnd)
			rd.Reset(f)
		}
		for _, r := range ring {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	var partial []byte
	for {
		line, err := rd.ReadBytes('\n')
		if err == nil {
			line = append(partial, line...)
			partial = nil
			var r logRecord
			if json.Unmarshal(line, &r) == nil {
				if err := emit(r); err != nil {
					return err
				}
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		partial = append(partial, line...)
		if !opts.Follow {
			return nil
		}
		if !opts.Until.IsZero() && time.Now().After(opts.Until) {
			return nil
		}
		c.mu.Lock()
		live := c.running() || c.State.Status == "restarting"
		ch := c.watch()
		c.mu.Unlock()
		if !live {
			// Drain what the shim wrote before it exited, then stop.
			rest, _ := io.ReadAll(rd)
			partial = append(partial, rest...)
			for _, l := range splitLines(partial) {
				var r logRecord
				if json.Unmarshal(l, &r) == nil {
					emit(r)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		case <-time.After(followPoll):
		}
	}
}

func readRecord(rd *bufio.Reader) (logRecord, error) {
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return logRecord{}, err
		}
		var r logRecord
		if json.Unmarshal(line, &r) == nil {
			return r, nil
		}
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func (e *Engine) waitLogFile(ctx context.Context, c *Container) (*os.File, error) {
	for {
		f, err := os.Open(e.logPath(c.ID))
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return f, err
		}
		c.mu.Lock()
		ch := c.watch()
		removed := c.removed
		c.mu.Unlock()
		if removed {
			return nil, ctx.Err()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
