package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// DefaultContextLimit bounds the build context a daemon accepts.
const DefaultContextLimit = 2 << 30

// errTooBig is the context-size error, returned as it is (not wrapped
// again by whatever was reading when the limit was hit).
type errTooBig struct{ limit int64 }

func (e errTooBig) Error() string {
	return fmt.Sprintf("build context is larger than %s; use .dockerignore to leave files out", units.BytesSize(float64(e.limit)))
}

func (errTooBig) Unwrap() error { return errdefs.ErrInvalidArgument }

// limitedReader fails once more than limit bytes were read.
type limitedReader struct {
	r     io.Reader
	limit int64
	n     int64 // bytes left
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n >= 0 && int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		// Nothing of an oversized context is handed on: the reader
		// above must not finish before it sees the error.
		return 0, errTooBig{l.limit}
	}
	return n, err
}

// classify keeps errTooBig as it is and gives other context errors the
// InvalidArgument class, once.
func classify(err error) error {
	var big errTooBig
	if errors.As(err, &big) {
		return big
	}
	if errdefs.IsInvalidArgument(err) {
		return fmt.Errorf("build context: %w", err)
	}
	return fmt.Errorf("build context: %v: %w", err, errdefs.ErrInvalidArgument)
}

// ExtractContext writes the build context read from r into dir: a tar
// (plain, gzip, bzip2, xz or zstd) is unpacked; anything else is taken as
// a bare Dockerfile and written as dir/Dockerfile. At most limit bytes
// (compressed) are read. r is read to its end, also past the tar's end
// marker: an HTTP server notices a client that went away only once the
// request body is consumed, and a build must stop when its client does.
func ExtractContext(r io.Reader, dir string, limit int64) error {
	if limit <= 0 {
		limit = DefaultContextLimit
	}
	lr := &limitedReader{r: r, limit: limit, n: limit}
	if err := extract(lr, dir); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return classify(err)
	}
	return nil
}

func extract(r io.Reader, dir string) error {
	dec, err := compression.DecompressStream(r)
	if err != nil {
		return classify(err)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 64<<10)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return classify(err)
	}
	if _, terr := tar.NewReader(bytes.NewReader(head)).Next(); terr != nil || len(head) < 512 {
		// Not a tar: a Dockerfile sent on its own (`build - < Dockerfile`).
		b, err := io.ReadAll(io.LimitReader(br, maxDockerfileSize+1))
		if err != nil {
			return classify(err)
		}
		return os.WriteFile(filepath.Join(dir, "Dockerfile"), b, 0o600)
	}
	// The context's own owners and modes are kept: COPY chowns to root
	// anyway, and hashes them like Docker's tarsum.
	if err := archive.Untar(br, dir, &archive.TarOptions{NoLchown: false}); err != nil {
		return classify(err)
	}
	return nil
}

// ignoreMatcher reads dir/.dockerignore; nil if there is none. The
// Dockerfile and .dockerignore are never hidden from the builder itself.
func ignoreMatcher(root *os.Root) (func(rel string) bool, error) {
	f, err := root.Open(".dockerignore")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return func(rel string) bool {
		rel = path.Clean(rel)
		ok, err := pm.MatchesOrParentMatches(rel)
		return err == nil && ok
	}, nil
}
