package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"

	"wharf.io/wharf/internal/atomicfile"
)

// blobs is the content store: immutable files named by their sha256 under
// root/blobs/sha256/<hex>. A blob is written to root/ingest, hashed, fsynced
// and renamed into place, so a visible blob is always complete and correct.
type blobs struct {
	dir    string // root/blobs/sha256
	ingest string // root/ingest
}

func newBlobs(root string) (*blobs, error) {
	b := &blobs{dir: filepath.Join(root, "blobs", "sha256"), ingest: filepath.Join(root, "ingest")}
	for _, d := range []string{b.dir, b.ingest} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Leftovers of writes interrupted by a crash.
	if entries, err := os.ReadDir(b.ingest); err == nil {
		for _, e := range entries {
			os.RemoveAll(filepath.Join(b.ingest, e.Name()))
		}
	}
	return b, nil
}

func (b *blobs) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("blob digest %q: %w", d, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(b.dir, d.Encoded()), nil
}

// write stores r and returns its digest and size. If expected is set the
// content must hash to it (else InvalidArgument, nothing stored).
func (b *blobs) write(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	f, err := os.CreateTemp(b.ingest, "blob-*")
	if err != nil {
		return "", 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	dg := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(f, dg.Hash()), readerCtx{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	d := dg.Digest()
	if expected != "" && d != expected {
		return "", 0, fmt.Errorf("blob digest mismatch: expected %s, got %s: %w", expected, d, errdefs.ErrInvalidArgument)
	}
	p, _ := b.path(d)
	if _, err := os.Stat(p); err == nil {
		return d, n, nil // content addressed: already there is the same
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", 0, err
	}
	return d, n, atomicfile.SyncDir(b.dir)
}

func (b *blobs) open(d digest.Digest) (*os.File, error) {
	p, err := b.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

func (b *blobs) read(d digest.Digest) ([]byte, error) {
	f, err := b.open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (b *blobs) size(d digest.Digest) (int64, error) {
	p, err := b.path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (b *blobs) remove(d digest.Digest) error {
	p, err := b.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// list returns the digests of all stored blobs.
func (b *blobs) list() ([]digest.Digest, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// readerCtx stops a long copy when the request is cancelled.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (c readerCtx) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
