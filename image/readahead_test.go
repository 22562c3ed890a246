package image

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadAheadPassesTheStreamThrough(t *testing.T) {
	data := make([]byte, 3*readAheadChunk*readAheadDepth+123)
	rand.New(rand.NewSource(1)).Read(data)
	r := readAhead(bytes.NewReader(data))
	defer r.Close()
	var got bytes.Buffer
	rng := rand.New(rand.NewSource(2))
	for {
		p := make([]byte, 1+rng.Intn(300<<10))
		n, err := r.Read(p)
		got.Write(p[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
	}
	assert.True(t, bytes.Equal(data, got.Bytes()))
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestReadAheadReportsTheReadError(t *testing.T) {
	r := readAhead(&failingReader{n: readAheadChunk + 10})
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	assert.EqualError(t, err, "disk on fire")
	assert.Equal(t, int64(readAheadChunk+10), n, "everything read before the error is handed on")
}

func TestReadAheadCloseStopsAnUnreadStream(t *testing.T) {
	// Far more than the read-ahead holds: the goroutine must not block
	// forever once the reader gives up.
	r := readAhead(io.LimitReader(zeros{}, 100*readAheadChunk*readAheadDepth))
	p := make([]byte, 10)
	_, err := r.Read(p)
	require.NoError(t, err)
	require.NoError(t, r.Close())
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
