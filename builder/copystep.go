package builder

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/go-archive/compression"
)

// maxDownload bounds what ADD fetches from a URL.
const maxDownload = 1 << 30

// copyArgs is what COPY and ADD have in common.
type copyArgs struct {
	name         string // "COPY" or "ADD"
	sd           instructions.SourcesAndDest
	from         string
	chown, chmod string
	add          bool
}

// source is one thing to copy: rel inside root.
type source struct {
	root    *os.Root
	rel     string
	archive bool // ADD: a local tar to unpack
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func (r *run) copyStep(ctx context.Context, stage int, st *state, a copyArgs, cmd instructions.Command, p *progress) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(st.expander()); err != nil {
			return fmt.Errorf("%s: %v: %w", a.name, err, errdefs.ErrInvalidArgument)
		}
		// Expand changed the command in place; re-read what we use.
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			a.sd, a.chown, a.chmod = c.SourcesAndDest, c.Chown, c.Chmod
		case *instructions.AddCommand:
			a.sd, a.chown, a.chmod = c.SourcesAndDest, c.Chown, c.Chmod
		}
	}
	chmod, err := parseChmod(a.chmod)
	if err != nil {
		return err
	}
	var srcs []source
	var content, kind string
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	keepOwner := false
	var ignored func(string) bool

	switch {
	case a.from != "":
		from, err := r.expandMeta(a.from)
		if err != nil {
			return err
		}
		var imageID string
		if j, ok := r.df.stageByName(from, stage); ok {
			imageID = r.results[j].imageID
		} else if imageID, _, err = r.resolveImage(ctx, from, p); err != nil {
			return err
		}
		// An image's content never changes under its ID: the ID and the
		// paths are the key.
		kind = "from:" + imageID
		content = imageID + jsonArgs(a.sd.SourcePaths)
		key := cacheKey(st.imageID, a.createdBy(kind), content)
		if r.useCache(ctx, st, key, p) {
			return nil
		}
		rfs, err := r.b.be.PrepareRootfs(ctx, imageID)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { rfs.Release() })
		root, err := os.OpenRoot(rfs.Path())
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { root.Close() })
		rels, err := expandSources(root, a.sd.SourcePaths, nil)
		if err != nil {
			return err
		}
		for _, rel := range rels {
			srcs = append(srcs, source{root: root, rel: rel})
		}
		keepOwner = true
		return r.doCopy(ctx, st, a, srcs, key, kind, chmod, keepOwner, nil, p)
	default:
		var local []string
		var extra *os.Root
		for _, s := range a.sd.SourcePaths {
			if !isURL(s) {
				local = append(local, s)
				continue
			}
			if !a.add {
				return fmt.Errorf("COPY does not take URLs (%s); use ADD: %w", s, errdefs.ErrInvalidArgument)
			}
			if extra == nil {
				if extra, err = r.tempRoot(&cleanups); err != nil {
					return err
				}
			}
			name, err := download(ctx, s, extra, a.sd.DestPath)
			if err != nil {
				return err
			}
			srcs = append(srcs, source{root: extra, rel: name})
		}
		for i, sc := range a.sd.SourceContents {
			// Heredoc sources: COPY <<EOF /dest.
			if extra == nil {
				if extra, err = r.tempRoot(&cleanups); err != nil {
					return err
				}
			}
			name := path.Base(path.Clean("/" + sc.Path))
			if name == "/" || name == "." {
				name = fmt.Sprintf("heredoc-%d", i)
			}
			if err := extra.WriteFile(name, []byte(sc.Data), 0o644); err != nil {
				return err
			}
			srcs = append(srcs, source{root: extra, rel: name})
		}
		ignored = r.ignored
		rels, err := expandSources(r.ctxRoot, local, ignored)
		if err != nil {
			return err
		}
		for _, rel := range rels {
			src := source{root: r.ctxRoot, rel: rel}
			if a.add {
				src.archive = isArchive(r.ctxRoot, rel)
			}
			srcs = append(srcs, src)
		}
		h := hashOf(&r.hash, r.ctxRoot, rels, ignored)
		if h.err != nil {
			return h.err
		}
		content = h.sum
		if extra != nil {
			var names []string
			for _, s := range srcs {
				if s.root == extra {
					names = append(names, s.rel)
				}
			}
			eh := hashOf(&hasher{}, extra, names, nil)
			if eh.err != nil {
				return eh.err
			}
			content += "+" + eh.sum
		}
		kind = "dir"
		if len(srcs) == 1 {
			if fi, err := srcs[0].root.Stat(srcs[0].rel); err == nil && !fi.IsDir() {
				kind = "file"
			}
		}
		kind += ":" + shortHash(content)
		key := cacheKey(st.imageID, a.createdBy(kind), content)
		if r.useCache(ctx, st, key, p) {
			return nil
		}
		return r.doCopy(ctx, st, a, srcs, key, kind, chmod, keepOwner, ignored, p)
	}
}

type hashResult struct {
	sum string
	err error
}

func hashOf(h *hasher, root *os.Root, rels []string, ignored func(string) bool) hashResult {
	sum, err := h.contentHash(root, rels, ignored)
	return hashResult{sum, err}
}

func shortHash(s string) string {
	if len(s) > 64 {
		return s[len(s)-64:]
	}
	return s
}

// createdBy is the history text and the instruction part of the cache key.
func (a copyArgs) createdBy(kind string) string {
	flags := ""
	if a.chown != "" {
		flags += " --chown=" + a.chown
	}
	if a.chmod != "" {
		flags += " --chmod=" + a.chmod
	}
	if a.from != "" {
		flags += " --from=" + a.from
	}
	return fmt.Sprintf("/bin/sh -c #(nop) %s%s %s in %s ", a.name, flags, kind, a.sd.DestPath)
}

func (r *run) tempRoot(cleanups *[]func()) (*os.Root, error) {
	dir, err := os.MkdirTemp(filepath.Dir(r.opts.ContextDir), "add-")
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	*cleanups = append(*cleanups, func() { root.Close(); os.RemoveAll(dir) })
	return root, nil
}

// doCopy writes srcs into a new layer on st's image.
func (r *run) doCopy(ctx context.Context, st *state, a copyArgs, srcs []source, key, kind string, chmod *fs.FileMode, keepOwner bool, ignored func(string) bool, p *progress) error {
	rfs, err := r.b.be.PrepareRootfs(ctx, st.imageID)
	if err != nil {
		return err
	}
	defer rfs.Release()
	dst, err := os.OpenRoot(rfs.Path())
	if err != nil {
		return err
	}
	defer dst.Close()
	chown, err := parseChown(dst, a.chown)
	if err != nil {
		return err
	}
	o := copyOpts{chown: chown, chmod: chmod, keepOwner: keepOwner, ignored: ignored}

	dest := a.sd.DestPath
	if !path.IsAbs(dest) {
		wd := st.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	destIsDir := strings.HasSuffix(a.sd.DestPath, "/") || a.sd.DestPath == "." || len(srcs) > 1
	for _, s := range a.sd.SourcePaths {
		destIsDir = destIsDir || hasWildcard(s)
	}
	resolved, err := resolveInRoot(dst, dest, true)
	if err != nil {
		return err
	}
	if fi, err := dst.Stat(resolved); err == nil && fi.IsDir() {
		destIsDir = true
	}
	for _, s := range srcs {
		fi, err := s.root.Stat(s.rel)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := dst.MkdirAll(resolved, 0o755); err != nil {
				return err
			}
			if err := copySource(s.root, s.rel, dst, resolved, o); err != nil {
				return err
			}
		case s.archive:
			if err := dst.MkdirAll(resolved, 0o755); err != nil {
				return err
			}
			if err := unpack(s.root, s.rel, dst, resolved); err != nil {
				return err
			}
		default:
			target := resolved
			if destIsDir {
				if err := dst.MkdirAll(resolved, 0o755); err != nil {
					return err
				}
				target = path.Join(resolved, path.Base(s.rel))
			}
			if err := copySource(s.root, s.rel, dst, target, o); err != nil {
				return err
			}
		}
	}
	cfg := withHistory(st, a.createdBy(kind), false)
	id, err := rfs.Commit(ctx, cfg)
	if err != nil {
		return err
	}
	st.cfg = cfg
	r.record(st, key, id, p)
	return nil
}

// isArchive reports whether an ADD source is a tar (maybe compressed),
// which ADD unpacks instead of copying.
func isArchive(root *os.Root, rel string) bool {
	fi, err := root.Stat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := root.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	dec, err := compression.DecompressStream(f)
	if err != nil {
		return false
	}
	defer dec.Close()
	br := bufio.NewReader(dec)
	head, err := br.Peek(512)
	if err != nil || len(head) < 512 {
		return false
	}
	_, err = tar.NewReader(strings.NewReader(string(head))).Next()
	return err == nil
}

// unpack extracts the archive rel of src into dir (resolved, relative to
// dst). Every entry's parent is resolved inside dst, so neither the
// archive's names nor symlinks already in the image (or made by earlier
// entries) can send a write outside it. Owners and modes come from the
// archive, as with Docker's ADD.
func unpack(src *os.Root, rel string, dst *os.Root, dir string) error {
	f, err := src.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	dec, err := compression.DecompressStream(f)
	if err != nil {
		return err
	}
	defer dec.Close()
	bad := func(err error) error { return fmt.Errorf("ADD %s: %v: %w", rel, err, errdefs.ErrInvalidArgument) }
	tr := tar.NewReader(dec)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(err)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		parent, err := resolveInRoot(dst, path.Join(dir, path.Dir(name)), true)
		if err != nil {
			return err
		}
		if err := dst.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		target := path.Join(parent, path.Base(name))
		mode := fs.FileMode(hdr.Mode).Perm() | unixModeBits(uint32(hdr.Mode))
		if existing, err := dst.Lstat(target); err == nil && !(existing.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := dst.RemoveAll(target); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := dst.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
		case tar.TypeReg:
			out, err := dst.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return bad(err)
			}
		case tar.TypeSymlink:
			if err := dst.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := resolveInRoot(dst, path.Join(dir, path.Clean("/"+hdr.Linkname)), false)
			if err != nil {
				return err
			}
			if err := dst.Link(old, target); err != nil {
				return bad(err)
			}
			continue
		default:
			continue // devices, fifos: not in a build
		}
		if err := dst.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := dst.Chmod(target, mode); err != nil {
				return err
			}
			dst.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
}

// download fetches an ADD URL into root and returns the file's name there:
// the last element of the URL path, or of dest when dest names a file. The
// file keeps the server's Last-Modified time and gets mode 0600, as Docker does.
func download(ctx context.Context, rawURL string, root *os.Root, dest string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %v: %w", rawURL, err, errdefs.ErrInvalidArgument)
	}
	name := path.Base(u.Path)
	if !strings.HasSuffix(dest, "/") {
		name = path.Base(dest)
	}
	if name == "/" || name == "." || name == "" {
		return "", fmt.Errorf("cannot determine filename from url: %s: %w", rawURL, errdefs.ErrInvalidArgument)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %v: %w", rawURL, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "", fmt.Errorf("ADD %s: HTTP %s: %w", rawURL, resp.Status, errdefs.ErrInvalidArgument)
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxDownload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("ADD %s: %v: %w", rawURL, err, errdefs.ErrUnavailable)
	}
	if n > maxDownload {
		return "", fmt.Errorf("ADD %s: larger than %d bytes: %w", rawURL, maxDownload, errdefs.ErrInvalidArgument)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		root.Chtimes(name, lm, lm)
	} else {
		now := time.Now()
		root.Chtimes(name, now, now)
	}
	return name, nil
}
