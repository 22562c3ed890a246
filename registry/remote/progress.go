package remote

import (
	"context"
	"io"
	"time"
)

// Progress receives a pull's or push's progress, in docker's terms. id is
// a short layer ID, a tag, or "" for lines about the whole operation;
// current and total are bytes (total 0: no progress bar). Calls come from
// several goroutines.
type Progress interface {
	Update(id, status string, current, total int64)
}

// progressInterval is how often a transfer reports; docker's is 100ms too.
const progressInterval = 100 * time.Millisecond

// progressReader reports bytes read through it, at most every
// progressInterval, and once more at the end.
type progressReader struct {
	r      io.Reader
	p      Progress
	id     string
	status string
	total  int64
	n      int64
	last   time.Time
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.n += int64(n)
	if now := time.Now(); now.Sub(r.last) >= progressInterval || (err == io.EOF && r.n > 0) {
		r.last = now
		total := r.total
		if total < r.n {
			total = r.n
		}
		r.p.Update(r.id, r.status, r.n, total)
	}
	return n, err
}

// Discard is a Progress that drops everything.
type Discard struct{}

// Update implements Progress.
func (Discard) Update(string, string, int64, int64) {}

// acquire takes a slot in sem for layer id, showing "Waiting" while all
// slots are taken, as docker does; the caller releases it with <-sem.
func acquire(ctx context.Context, sem chan struct{}, p Progress, id string) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	p.Update(id, "Waiting", 0, 0)
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
