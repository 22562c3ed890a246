package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
)

// maxSymlinks bounds symlink resolution inside a root filesystem.
const maxSymlinks = 40

// resolveInRoot resolves p inside root the way a process chrooted into root
// would: ".." stops at the root, absolute symlink targets start over at
// the root. Directory components are always resolved; the last one only
// with followLast. The result is relative to root ("." for the root).
// Components that do not exist are kept as they are.
func resolveInRoot(root *os.Root, p string, followLast bool) (string, error) {
	parts := strings.Split(p, "/")
	var resolved []string
	links := 0
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		cand := path.Join(append(append([]string{}, resolved...), part)...)
		fi, err := root.Lstat(cand)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || (len(parts) == 0 && !followLast) {
			resolved = append(resolved, part)
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
		}
		target, err := root.Readlink(cand)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			resolved = nil
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	if len(resolved) == 0 {
		return ".", nil
	}
	return path.Join(resolved...), nil
}

// owner is a uid:gid pair; nil means "keep the source's" (COPY --from) or root.
type owner struct{ uid, gid int }

// copyOpts says how COPY/ADD writes what it copies.
type copyOpts struct {
	chown *owner       // nil: root, or the source's owner with keepOwner
	chmod *fs.FileMode // nil: the source's mode
	// keepOwner keeps uid/gid of the source (COPY --from).
	keepOwner bool
	// ignored skips context paths .dockerignore excludes (nil: none).
	ignored func(rel string) bool
}

// parseChown resolves --chown=user[:group] against the rootfs's
// /etc/passwd and /etc/group, as Docker does.
func parseChown(rootfs *os.Root, spec string) (*owner, error) {
	if spec == "" {
		return nil, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if uerr == nil && (!hasGroup || gerr == nil) {
		if !hasGroup {
			gid = uid
		}
		if uid < 0 || gid < 0 || uid > maxID || gid > maxID {
			// -1 would mean "leave as it is" to chown(2).
			return nil, fmt.Errorf("invalid chown id %q: %w", spec, errdefs.ErrInvalidArgument)
		}
		return &owner{uid, gid}, nil
	}
	open := func(name string) io.Reader {
		p, err := resolveInRoot(rootfs, name, true)
		if err != nil {
			return nil
		}
		f, err := rootfs.Open(p)
		if err != nil {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(f, 8<<20))
		f.Close()
		return strings.NewReader(string(b))
	}
	userSpec := spec
	if !hasGroup {
		// A user name alone takes the user's primary group.
		userSpec = u
	}
	eu, err := user.GetExecUser(userSpec, &user.ExecUser{}, open("etc/passwd"), open("etc/group"))
	if err != nil {
		return nil, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if eu.Uid < 0 || eu.Gid < 0 || eu.Uid > maxID || eu.Gid > maxID {
		return nil, fmt.Errorf("invalid chown id %q: uid %d, gid %d: %w", spec, eu.Uid, eu.Gid, errdefs.ErrInvalidArgument)
	}
	return &owner{eu.Uid, eu.Gid}, nil
}

// maxID is the largest uid/gid: (uid_t)-1 is chown(2)'s "no change".
const maxID = 1<<32 - 2

// parseChmod reads --chmod's octal mode.
func parseChmod(spec string) (*fs.FileMode, error) {
	if spec == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(spec, 8, 32)
	if err != nil || n > 0o7777 {
		return nil, fmt.Errorf("invalid chmod parameter %q: %w", spec, errdefs.ErrInvalidArgument)
	}
	m := fs.FileMode(n&0o777) | unixModeBits(uint32(n))
	return &m, nil
}

func unixModeBits(n uint32) fs.FileMode {
	var m fs.FileMode
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// hasWildcard reports whether a COPY source is a pattern.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// contextPath cleans a COPY source to a path relative to the context root,
// refusing paths that climb out of it.
func contextPath(src string) (string, error) {
	p := path.Clean("/" + filepath.ToSlash(src))
	if strings.HasPrefix(path.Clean(filepath.ToSlash(src)), "../") || path.Clean(filepath.ToSlash(src)) == ".." {
		return "", fmt.Errorf("forbidden path outside the build context: %s: %w", src, errdefs.ErrInvalidArgument)
	}
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

// expandSources resolves COPY sources (with wildcards) to existing paths
// relative to src.
func expandSources(src *os.Root, sources []string, ignored func(string) bool) ([]string, error) {
	var out []string
	for _, s := range sources {
		p, err := contextPath(s)
		if err != nil {
			return nil, err
		}
		if hasWildcard(p) {
			matches, err := fs.Glob(src.FS(), p)
			if err != nil {
				return nil, fmt.Errorf("%s: %v: %w", s, err, errdefs.ErrInvalidArgument)
			}
			n := 0
			for _, m := range matches {
				if ignored == nil || !ignored(m) {
					out = append(out, m)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("COPY failed: no source files were specified: %w", errdefs.ErrInvalidArgument)
			}
			continue
		}
		if _, err := src.Stat(p); err != nil || (ignored != nil && p != "." && ignored(p)) {
			return nil, fmt.Errorf("COPY failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist: %w", s, errdefs.ErrNotFound)
		}
		out = append(out, p)
	}
	return out, nil
}

// hasher hashes context files once per build: COPY steps that share files
// (and their cache lookups) read each file once.
type hasher struct {
	mu    sync.Mutex
	files map[string]string // rel path → content digest
}

func (h *hasher) fileDigest(root *os.Root, rel string) (string, error) {
	h.mu.Lock()
	d, ok := h.files[rel]
	h.mu.Unlock()
	if ok {
		return d, nil
	}
	f, err := root.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	d = hex.EncodeToString(sum.Sum(nil))
	h.mu.Lock()
	if h.files == nil {
		h.files = map[string]string{}
	}
	h.files[rel] = d
	h.mu.Unlock()
	return d, nil
}

// contentHash digests the sources of a COPY: every file's name, mode,
// owner, link target and content. mtimes are left out, so an identical
// context in another checkout still hits the cache.
func (h *hasher) contentHash(root *os.Root, sources []string, ignored func(string) bool) (string, error) {
	sum := sha256.New()
	for _, s := range sources {
		err := walkSource(root, s, ignored, func(rel string, fi fs.FileInfo) error {
			st := statOwner(fi)
			fmt.Fprintf(sum, "%s\x00%o\x00%d:%d\x00", rel, fi.Mode(), st.uid, st.gid)
			switch {
			case fi.Mode().IsRegular():
				d, err := h.fileDigest(root, rel)
				if err != nil {
					return err
				}
				fmt.Fprintf(sum, "%s\x00", d)
			case fi.Mode()&fs.ModeSymlink != 0:
				t, _ := root.Readlink(rel)
				fmt.Fprintf(sum, "%s\x00", t)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// walkSource calls fn for source s and, if it is a directory, everything
// below it (not following symlinks, skipping ignored paths). s itself is
// followed if it is a symlink, as Docker does.
func walkSource(root *os.Root, s string, ignored func(string) bool, fn func(rel string, fi fs.FileInfo) error) error {
	fi, err := root.Stat(s)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fn(s, fi)
	}
	return fs.WalkDir(root.FS(), s, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != s && ignored != nil && ignored(p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := root.Lstat(p)
		if err != nil {
			return err
		}
		return fn(p, info)
	})
}

// copySource copies source s of srcRoot to dst (a resolved path relative
// to dstRoot): a directory's contents go into dst, a file becomes dst.
func copySource(srcRoot *os.Root, s string, dstRoot *os.Root, dst string, o copyOpts) error {
	return walkSource(srcRoot, s, o.ignored, func(rel string, fi fs.FileInfo) error {
		target := dst
		if rel != s {
			sub := rel
			if s != "." {
				sub = strings.TrimPrefix(rel, s+"/")
			}
			// Entries below the top may land under symlinks of the rootfs.
			dir, err := resolveInRoot(dstRoot, path.Join(dst, path.Dir(sub)), true)
			if err != nil {
				return err
			}
			target = path.Join(dir, path.Base(sub))
		}
		return copyEntry(srcRoot, rel, fi, dstRoot, target, o)
	})
}

// copyEntry writes one entry at target (its parent directories exist or are made).
func copyEntry(srcRoot *os.Root, rel string, fi fs.FileInfo, dstRoot *os.Root, target string, o copyOpts) error {
	if dir := path.Dir(target); dir != "." {
		if err := dstRoot.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := fi.Mode()
	perm := mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	// --chmod changes files; directories keep their mode so they stay
	// traversable (a 644 directory could not be entered).
	if o.chmod != nil && mode.IsRegular() {
		perm = *o.chmod
	}
	switch {
	case mode.IsDir():
		if target != "." {
			if existing, err := dstRoot.Lstat(target); err == nil && !existing.IsDir() {
				if err := dstRoot.Remove(target); err != nil {
					return err
				}
			}
			if err := dstRoot.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
	case mode.IsRegular():
		if existing, err := dstRoot.Lstat(target); err == nil {
			if existing.IsDir() {
				return fmt.Errorf("cannot overwrite directory %q with non-directory: %w", "/"+target, errdefs.ErrInvalidArgument)
			}
			if err := dstRoot.Remove(target); err != nil {
				return err
			}
		}
		in, err := srcRoot.Open(rel)
		if err != nil {
			return err
		}
		out, err := dstRoot.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		link, err := srcRoot.Readlink(rel)
		if err != nil {
			return err
		}
		if existing, err := dstRoot.Lstat(target); err == nil {
			if existing.IsDir() {
				return fmt.Errorf("cannot overwrite directory %q with non-directory: %w", "/"+target, errdefs.ErrInvalidArgument)
			}
			dstRoot.Remove(target)
		}
		if err := dstRoot.Symlink(link, target); err != nil {
			return err
		}
	default:
		return nil // devices, sockets and pipes are not copied
	}
	own := owner{0, 0}
	if o.chown != nil {
		own = *o.chown
	} else if o.keepOwner {
		own = statOwner(fi)
	}
	if err := dstRoot.Lchown(target, own.uid, own.gid); err != nil {
		return err
	}
	if mode&fs.ModeSymlink != 0 {
		return nil
	}
	if err := dstRoot.Chmod(target, perm); err != nil {
		return err
	}
	return dstRoot.Chtimes(target, fi.ModTime(), fi.ModTime())
}
