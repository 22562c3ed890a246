package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/errdefs"
	goarchive "github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
)

// Format is how deletions are represented on disk after unpacking.
type Format int

const (
	// Overlay turns ".wh.name" entries into 0:0 character devices and
	// ".wh..wh..opq" into the trusted.overlay.opaque=y xattr, the form an
	// overlayfs upper directory uses. Needs root (the xattr needs
	// CAP_SYS_ADMIN).
	Overlay Format = iota
	// Plain applies deletions directly (the whiteout removes the file from
	// dir) — for unpacking onto a full copy of the lower layers, and for tests.
	Plain
)

// Apply unpacks the layer diff r (plain tar or gzip/bzip2/xz/zstd) into dir
// and returns the layer's size: bytes of file content (for Overlay, of
// everything in dir, which is a fresh upper directory). Entries naming paths
// outside dir ("../x", symlinks leading out) fail with InvalidArgument;
// absolute names are taken relative to dir. Ownership from the tar is kept
// when running as root.
func Apply(ctx context.Context, dir string, r io.Reader, format Format) (int64, error) {
	rc, err := compression.DecompressStream(ctxReader{ctx, r})
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("decompress layer: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer rc.Close()
	// containerd's applier: every path is resolved inside dir in user
	// space (fs.RootPath), then written with plain calls. go-archive's
	// os.Root re-walks a path component by component for each of the
	// half-dozen calls a file takes (about 30 system calls a file): on the
	// tutorial's image that made unpacking CPU-bound, at twice the time.
	var opts []archive.ApplyOpt
	if os.Geteuid() != 0 {
		opts = append(opts, archive.WithNoSameOwner())
	}
	if format == Overlay {
		// Deletions become overlay whiteouts instead of being applied to
		// dir; otherwise they remove what they name.
		opts = append(opts, archive.WithConvertWhiteout(archive.OverlayConvertWhiteout))
	}
	_, err = archive.Apply(ctx, dir, ctxReader{ctx, rc}, opts...)
	var size int64
	if err == nil {
		size, err = contentSize(dir)
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if isIOError(err) {
			return 0, fmt.Errorf("apply layer: %w", err)
		}
		// Anything else is the archive's fault: bad headers, paths leaving
		// dir, links to nowhere.
		return 0, fmt.Errorf("apply layer: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return size, nil
}

func isIOError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// contentSize is the apparent size of the files under dir, each hard-linked
// inode once.
func contentSize(dir string) (int64, error) {
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Diff writes the changes of an overlay upper directory as a layer tar to w:
// 0:0 character devices become ".wh.name" entries and opaque directories get
// a ".wh..wh..opq" entry, the portable AUFS form every image tool reads.
func Diff(ctx context.Context, upperDir string, w io.Writer) error {
	rc, err := goarchive.TarWithOptions(upperDir, &goarchive.TarOptions{
		Compression:    compression.None,
		WhiteoutFormat: goarchive.OverlayWhiteoutFormat,
	})
	if err != nil {
		return fmt.Errorf("diff %s: %w", upperDir, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, ctxReader{ctx, rc})
	return err
}
