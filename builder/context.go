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
	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// DefaultContextLimit bounds the build context a daemon accepts.
const DefaultContextLimit = 2 << 30

// limitedReader fails once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
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
		return 0, fmt.Errorf("build context is larger than %d MiB; use .dockerignore to leave files out: %w", DefaultContextLimit>>20, errdefs.ErrInvalidArgument)
	}
	return n, err
}

// ExtractContext writes the build context read from r into dir: a tar
// (plain, gzip, bzip2, xz or zstd) is unpacked; anything else is taken as
// a bare Dockerfile and written as dir/Dockerfile. At most limit bytes
// (compressed) are read.
func ExtractContext(r io.Reader, dir string, limit int64) error {
	if limit <= 0 {
		limit = DefaultContextLimit
	}
	dec, err := compression.DecompressStream(&limitedReader{r: r, n: limit})
	if err != nil {
		return fmt.Errorf("build context: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 64<<10)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if _, terr := tar.NewReader(bytes.NewReader(head)).Next(); terr != nil || len(head) < 512 {
		// Not a tar: a Dockerfile sent on its own (`build - < Dockerfile`).
		b, err := io.ReadAll(io.LimitReader(br, maxDockerfileSize+1))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "Dockerfile"), b, 0o600)
	}
	// The context's own owners and modes are kept: COPY chowns to root
	// anyway, and hashes them like Docker's tarsum.
	if err := archive.Untar(br, dir, &archive.TarOptions{NoLchown: false}); err != nil {
		return fmt.Errorf("build context: %w", wrapInvalid(err))
	}
	return nil
}

func wrapInvalid(err error) error {
	if errdefs.IsInvalidArgument(err) {
		return err
	}
	return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
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
