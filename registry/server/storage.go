package server

import (
	"crypto/rand"
	_ "crypto/sha256" // digest algorithms the registry accepts
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

	digest "github.com/opencontainers/go-digest"
)

// store is the registry's on-disk layout:
//
//	blobs/<alg>/<hex>                         content, any repository's
//	repos/<name>/_layers/<alg>/<hex>          blob visible in the repository
//	repos/<name>/_manifests/<alg>/<hex>       manifest in the repository (holds its media type)
//	repos/<name>/_tags/<tag>                  tag → manifest digest
//	repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  manifest with that subject (holds its descriptor)
//	uploads/<id>                              upload in progress (+ <id>.repo)
type store struct{ root string }

func (s *store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func (s *store) repoPath(name string, parts ...string) string {
	return filepath.Join(append([]string{s.root, "repos", filepath.FromSlash(name)}, parts...)...)
}

func (s *store) layerLink(name string, d digest.Digest) string {
	return s.repoPath(name, "_layers", d.Algorithm().String(), d.Encoded())
}

func (s *store) manifestLink(name string, d digest.Digest) string {
	return s.repoPath(name, "_manifests", d.Algorithm().String(), d.Encoded())
}

func (s *store) tagPath(name, tag string) string { return s.repoPath(name, "_tags", tag) }

// writeAtomic writes a small file whole (temp + rename).
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp-" + randomID()
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// putBlob stores data read from r if it has digest want; the blob appears
// only once verified.
func (s *store) putBlob(r io.Reader, want digest.Digest) (int64, error) {
	tmpDir := filepath.Join(s.root, "uploads")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(tmpDir, "direct-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	v := want.Algorithm().Digester()
	n, err := io.Copy(io.MultiWriter(f, v.Hash()), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if v.Digest() != want {
		return 0, errDigestMismatch
	}
	return n, s.commitBlob(f.Name(), want)
}

var errDigestMismatch = errors.New("digest mismatch")

func (s *store) commitBlob(tmp string, d digest.Digest) error {
	dst := s.blobPath(d)
	if exists(dst) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	return os.Rename(tmp, dst)
}

// list returns the sorted names below dir (files or directories).
func list(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// repositories lists every repository name (directories holding _tags,
// _manifests or _layers), sorted.
func (s *store) repositories() ([]string, error) {
	base := filepath.Join(s.root, "repos")
	var out []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			rel, _ := filepath.Rel(base, filepath.Dir(p))
			name := filepath.ToSlash(rel)
			if len(out) == 0 || out[len(out)-1] != name {
				out = append(out, name)
			}
			return fs.SkipDir
		}
		return nil
	})
	sort.Strings(out)
	out = dedup(out)
	return out, err
}

func dedup(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", s, err)
	}
	return d, nil
}
