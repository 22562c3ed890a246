package storage

import (
	"crypto/rand"
	_ "crypto/sha256" // the digest algorithms the store verifies
	_ "crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"

	"wharf.io/wharf/internal/atomicfile"
)

// ErrDigestMismatch is returned when content does not hash to the digest
// it was sent with; its class is errdefs.ErrInvalidArgument.
var ErrDigestMismatch = fmt.Errorf("content does not match its digest: %w", errdefs.ErrInvalidArgument)

// Store is a registry's content on disk. It is safe for concurrent use by
// one process; Lock keeps a second process (gc) out.
type Store struct {
	root  string
	locks keyedMutex
}

// New opens (creating if needed) a store at root and removes the temporary
// files a crash may have left.
func New(root string) (*Store, error) {
	for _, d := range []string{"blobs", "repositories", "_uploads"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	s := &Store{root: root}
	tmps, _ := filepath.Glob(filepath.Join(root, "_uploads", ".direct-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Lock takes the store's exclusive lock (flock on <root>/lock) without
// waiting: a server holds it while it runs, and gc needs it to sweep. The
// error is of class errdefs.ErrUnavailable when another process holds it.
func (s *Store) Lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("registry storage %s is in use by another process (a running server?): %w", s.root, errdefs.ErrUnavailable)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ----- blobs -----

// BlobPath is where the content of d lives (present or not).
func (s *Store) BlobPath(d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), enc[:2], enc)
}

// HasBlob reports whether the store holds d's content.
func (s *Store) HasBlob(d digest.Digest) bool { return exists(s.BlobPath(d)) }

// OpenBlob opens d's content for reading.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) {
	f, err := os.Open(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

// ReadBlob reads a small blob (a manifest) whole.
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	b, err := os.ReadFile(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return b, err
}

// PutBlob stores what r yields if it hashes to want; nothing becomes
// visible otherwise (ErrDigestMismatch). It returns the size written.
func (s *Store) PutBlob(r io.Reader, want digest.Digest) (int64, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "_uploads"), ".direct-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	v := want.Algorithm().Hash()
	n, err := io.Copy(io.MultiWriter(f, v), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if digest.NewDigest(want.Algorithm(), v) != want {
		return n, ErrDigestMismatch
	}
	return n, s.commitBlob(f.Name(), want)
}

// commitBlob renames a verified, synced temp file into place.
func (s *Store) commitBlob(tmp string, d digest.Digest) error {
	dst := s.BlobPath(d)
	if exists(dst) {
		return nil // content-addressed: the same bytes are already there
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// DeleteBlob removes d's content (gc only: repositories may still link it).
func (s *Store) DeleteBlob(d digest.Digest) error {
	err := os.Remove(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return err
}

// WalkBlobs calls fn for every blob in the store.
func (s *Store) WalkBlobs(fn func(d digest.Digest, size int64) error) error {
	base := filepath.Join(s.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		return fn(d, fi.Size())
	})
}

// ----- repository links -----

func (s *Store) repoPath(name string, parts ...string) string {
	return filepath.Join(append([]string{s.root, "repositories", filepath.FromSlash(name)}, parts...)...)
}

func (s *Store) layerLink(name string, d digest.Digest) string {
	return s.repoPath(name, "_layers", d.Algorithm().String(), d.Encoded())
}

func (s *Store) manifestLink(name string, d digest.Digest) string {
	return s.repoPath(name, "_manifests", d.Algorithm().String(), d.Encoded())
}

func (s *Store) tagPath(name, tag string) string { return s.repoPath(name, "_tags", tag) }

func (s *Store) referrerDir(name string, subject digest.Digest) string {
	return s.repoPath(name, "_referrers", subject.Algorithm().String(), subject.Encoded())
}

// RepositoryExists reports whether anything was ever pushed to name.
func (s *Store) RepositoryExists(name string) bool { return exists(s.repoPath(name)) }

// LinkBlob makes d (already in the store) visible in repository name.
func (s *Store) LinkBlob(name string, d digest.Digest) error {
	if !s.HasBlob(d) {
		return fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return writeFile(s.layerLink(name, d), nil)
}

// HasBlobLink reports whether d was pushed or mounted into name and is
// still in the store. Manifests count as blobs of their repository, as
// distribution serves them on the blob route too.
func (s *Store) HasBlobLink(name string, d digest.Digest) bool {
	return (exists(s.layerLink(name, d)) || exists(s.manifestLink(name, d))) && s.HasBlob(d)
}

// UnlinkBlob removes d from repository name (its content stays until gc).
func (s *Store) UnlinkBlob(name string, d digest.Digest) error {
	err := os.Remove(s.layerLink(name, d))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s in %s: %w", d, name, errdefs.ErrNotFound)
	}
	return err
}

// BlobLinks lists the blobs linked into repository name.
func (s *Store) BlobLinks(name string) ([]digest.Digest, error) {
	return listDigests(s.repoPath(name, "_layers"))
}

// PutManifest stores a manifest body under its digest d in repository
// name, remembering its media type.
func (s *Store) PutManifest(name string, d digest.Digest, mediaType string, body []byte) error {
	if _, err := s.PutBlob(strings.NewReader(string(body)), d); err != nil {
		return err
	}
	return writeFile(s.manifestLink(name, d), []byte(mediaType))
}

// Manifest returns a manifest of repository name and its media type.
func (s *Store) Manifest(name string, d digest.Digest) (mediaType string, body []byte, err error) {
	mt, err := os.ReadFile(s.manifestLink(name, d))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("manifest %s in %s: %w", d, name, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", nil, err
	}
	body, err = s.ReadBlob(d)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s in %s: %w", d, name, err)
	}
	return string(mt), body, nil
}

// HasManifest reports whether d is a manifest of repository name.
func (s *Store) HasManifest(name string, d digest.Digest) bool {
	return exists(s.manifestLink(name, d)) && s.HasBlob(d)
}

// Manifests lists the manifests of repository name.
func (s *Store) Manifests(name string) ([]digest.Digest, error) {
	return listDigests(s.repoPath(name, "_manifests"))
}

// DeleteManifest removes manifest d from repository name, with the tags
// that point at it and its entry in the referrers of its subject.
func (s *Store) DeleteManifest(name string, d digest.Digest) error {
	unlock := s.locks.lock("repo:" + name)
	defer unlock()
	if err := os.Remove(s.manifestLink(name, d)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("manifest %s in %s: %w", d, name, errdefs.ErrNotFound)
	} else if err != nil {
		return err
	}
	// The manifest is gone; what follows only tidies up, so it goes on
	// past a failure and reports them all: a tag left behind would point
	// at nothing.
	tags, errs := s.Tags(name)
	for _, t := range tags {
		if td, err := s.ResolveTag(name, t); err == nil && td == d {
			errs = errors.Join(errs, removeFile(s.tagPath(name, t)))
		}
	}
	entry := referrerEntry(d)
	base := s.repoPath(name, "_referrers")
	filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == entry {
			errs = errors.Join(errs, removeFile(p))
		}
		return nil
	})
	return errs
}

// removeFile removes p; a file already gone is no failure.
func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Tag points tag at manifest d in repository name.
func (s *Store) Tag(name, tag string, d digest.Digest) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	unlock := s.locks.lock("repo:" + name)
	defer unlock()
	if !exists(s.manifestLink(name, d)) {
		return fmt.Errorf("manifest %s in %s: %w", d, name, errdefs.ErrNotFound) // deleted meanwhile
	}
	return writeFile(s.tagPath(name, tag), []byte(d.String()))
}

// ResolveTag returns the manifest digest tag points at.
func (s *Store) ResolveTag(name, tag string) (digest.Digest, error) {
	if err := ValidateTag(tag); err != nil {
		return "", err
	}
	b, err := os.ReadFile(s.tagPath(name, tag))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("tag %s in %s: %w", tag, name, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return ParseDigest(strings.TrimSpace(string(b)))
}

// Untag removes tag (the manifest stays).
func (s *Store) Untag(name, tag string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	err := os.Remove(s.tagPath(name, tag))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tag %s in %s: %w", tag, name, errdefs.ErrNotFound)
	}
	return err
}

// Tags lists repository name's tags, sorted.
func (s *Store) Tags(name string) ([]string, error) {
	names, err := listNames(s.repoPath(name, "_tags"))
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if ValidateTag(n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// AddReferrer records desc (a manifest of repository name) as a referrer
// of subject; descJSON is the descriptor the referrers API returns.
func (s *Store) AddReferrer(name string, subject, d digest.Digest, descJSON []byte) error {
	return writeFile(filepath.Join(s.referrerDir(name, subject), referrerEntry(d)), descJSON)
}

// Referrers returns the recorded descriptors (JSON) of subject's referrers
// in repository name, ordered by their digest.
func (s *Store) Referrers(name string, subject digest.Digest) ([][]byte, error) {
	dir := s.referrerDir(name, subject)
	names, err := listNames(dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			out = append(out, b)
		}
	}
	return out, nil
}

func referrerEntry(d digest.Digest) string { return d.Algorithm().String() + "-" + d.Encoded() }

// Repositories lists every repository name, sorted.
func (s *Store) Repositories() ([]string, error) {
	base := filepath.Join(s.root, "repositories")
	var out []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "_") {
			return nil
		}
		rel, _ := filepath.Rel(base, filepath.Dir(p))
		name := filepath.ToSlash(rel)
		if ValidateRepository(name) == nil && (len(out) == 0 || out[len(out)-1] != name) {
			out = append(out, name)
		}
		return fs.SkipDir
	})
	sort.Strings(out)
	return dedup(out), err
}

// ----- helpers -----

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// listNames returns the sorted entry names of dir, without temporary files.
func listNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// listDigests reads a <dir>/<alg>/<hex> link tree.
func listDigests(dir string) ([]digest.Digest, error) {
	algs, err := listNames(dir)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, alg := range algs {
		encs, err := listNames(filepath.Join(dir, alg))
		if err != nil {
			return nil, err
		}
		for _, enc := range encs {
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
			if d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// keyedMutex serialises work on one key (an upload, a repository's tags).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
