package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteFrame(&b, StreamStderr, []byte("oops\n")))
	require.NoError(t, WriteFrame(&b, StreamEnd, nil))
	s, p, err := ReadFrame(&b, nil)
	require.NoError(t, err)
	assert.Equal(t, StreamStderr, s)
	assert.Equal(t, "oops\n", string(p))
	s, p, err = ReadFrame(&b, nil)
	require.NoError(t, err)
	assert.Equal(t, StreamEnd, s)
	assert.Empty(t, p)
	_, _, err = ReadFrame(&b, nil)
	assert.ErrorIs(t, err, io.EOF)
}

func TestFrameTooLarge(t *testing.T) {
	_, _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff}), nil)
	assert.Error(t, err)
}

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	WriteFrame(&b, StreamStdout, []byte("hello"))
	f.Add(b.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			s, p, err := ReadFrame(r, nil)
			if err != nil {
				return
			}
			var out bytes.Buffer
			require.NoError(t, WriteFrame(&out, s, p))
			require.Equal(t, 5+len(p), out.Len())
		}
	})
}
