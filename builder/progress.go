package builder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
)

// progress writes docker JSON messages ({"stream": …}) for one stage.
type progress struct {
	w io.Writer // whole messages per Write
}

func (p *progress) send(m jsonstream.Message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	p.w.Write(append(b, '\r', '\n'))
}

// printf writes one line of builder output.
func (p *progress) printf(format string, args ...any) {
	p.send(jsonstream.Message{Stream: fmt.Sprintf(format, args...)})
}

// aux sends {"aux": v}, which the docker CLI reads the image ID from.
func (p *progress) aux(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	raw := json.RawMessage(b)
	p.send(jsonstream.Message{Aux: &raw})
}

// output streams a RUN step's stdout/stderr as {"stream": chunk} messages.
type output struct{ p *progress }

func (o output) Write(b []byte) (int, error) {
	if len(b) > 0 {
		o.p.send(jsonstream.Message{Stream: string(b)})
	}
	return len(b), nil
}

// sequencer lets stages run in parallel while their output reads as if
// they ran one after another: the earliest unfinished stage writes through,
// later ones are buffered until every stage before them is done.
type sequencer struct {
	mu   sync.Mutex
	out  io.Writer
	bufs []bytes.Buffer
	done []bool
	head int
}

func newSequencer(out io.Writer, n int) *sequencer {
	return &sequencer{out: out, bufs: make([]bytes.Buffer, n), done: make([]bool, n)}
}

type seqWriter struct {
	s *sequencer
	i int
}

func (w seqWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.i == w.s.head {
		return w.s.out.Write(b)
	}
	return w.s.bufs[w.i].Write(b)
}

func (s *sequencer) writer(i int) io.Writer { return seqWriter{s, i} }

// finish marks stage i done and lets the next stages' output through.
func (s *sequencer) finish(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[i] = true
	for s.head < len(s.done) && s.done[s.head] {
		s.head++
		if s.head < len(s.done) {
			s.out.Write(s.bufs[s.head].Bytes())
			s.bufs[s.head].Reset()
		}
	}
}

// flushAll writes whatever is still buffered, in stage order (after a failure).
func (s *sequencer) flushAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := s.head; i < len(s.bufs); i++ {
		s.out.Write(s.bufs[i].Bytes())
		s.bufs[i].Reset()
	}
	s.head = len(s.bufs)
}
