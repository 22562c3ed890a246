package image

import (
	"errors"
	"io"
	"sync"
)

// readAheadChunk and readAheadDepth bound what a readAhead holds: 1 MiB.
const (
	readAheadChunk = 128 << 10
	readAheadDepth = 8
)

// readAhead reads r in a goroutine of its own, up to readAheadDepth chunks
// ahead of the caller. Unpacking a layer is two jobs of about the same
// weight, inflating (and hashing) the stream and the file system calls
// that write it out; with the first behind readAhead they run on two CPUs.
// Close stops the goroutine; the caller must call it.
func readAhead(r io.Reader) io.ReadCloser {
	a := &aheadReader{
		full: make(chan []byte, readAheadDepth),
		free: make(chan []byte, readAheadDepth),
		stop: make(chan struct{}),
	}
	a.wg.Add(1)
	go a.fill(r)
	return a
}

type aheadReader struct {
	full, free chan []byte
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
	err        error // set by fill before it closes full

	cur, buf []byte // being read by the caller; buf is cur's whole chunk
}

func (a *aheadReader) fill(r io.Reader) {
	defer a.wg.Done()
	defer close(a.full)
	for {
		var b []byte
		select {
		case b = <-a.free:
		default:
			b = make([]byte, readAheadChunk)
		}
		n, err := io.ReadFull(r, b[:cap(b)])
		if n > 0 {
			select {
			case a.full <- b[:n]:
			case <-a.stop:
				return
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	if len(a.cur) == 0 {
		if a.buf != nil {
			select {
			case a.free <- a.buf:
			default:
			}
			a.buf = nil
		}
		b, ok := <-a.full
		if !ok {
			if a.err != nil {
				return 0, a.err
			}
			return 0, io.EOF
		}
		a.cur, a.buf = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits for it.
func (a *aheadReader) Close() error {
	a.stopOnce.Do(func() { close(a.stop) })
	a.wg.Wait()
	return nil
}
