package storage

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// ErrOutOfOrder is returned for a chunk that does not start at the
// upload's offset, or whose length is not what its range announced (HTTP
// 416); its class is errdefs.ErrInvalidArgument.
var ErrOutOfOrder = fmt.Errorf("chunk out of order: %w", errdefs.ErrInvalidArgument)

// ErrTooLarge is returned for a chunk that would take its upload past the
// size limit (HTTP 413); the chunk is dropped whole and the upload keeps
// its previous offset. Its class is errdefs.ErrInvalidArgument.
var ErrTooLarge = fmt.Errorf("blob upload too large: %w", errdefs.ErrInvalidArgument)

// Upload is a blob upload in progress.
type Upload struct {
	ID         string    `json:"id"`
	Repository string    `json:"repository"`
	Offset     int64     `json:"offset"` // bytes received and kept
	Started    time.Time `json:"started"`
	// SHA256 is the marshalled sha256 state over the first Offset bytes, so
	// finishing a sha256 upload need not read the data again.
	SHA256 []byte `json:"sha256,omitempty"`
}

var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (s *Store) uploadDir(id string) string { return filepath.Join(s.root, "_uploads", id) }

// StartUpload begins an empty upload into repository name.
func (s *Store) StartUpload(name string) (Upload, error) {
	u := Upload{ID: randomID(), Repository: name, Started: time.Now().UTC()}
	dir := s.uploadDir(u.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Upload{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		return Upload{}, err
	}
	return u, s.saveUpload(u)
}

// Upload returns the state of upload id of repository name (NotFound for
// an unknown id or another repository's).
func (s *Store) Upload(name, id string) (Upload, error) {
	if !uploadIDRE.MatchString(id) {
		return Upload{}, fmt.Errorf("upload %q: %w", id, errdefs.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "info.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Upload{}, fmt.Errorf("upload %s: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return Upload{}, err
	}
	var u Upload
	if err := json.Unmarshal(b, &u); err != nil || u.ID != id || u.Repository != name {
		return Upload{}, fmt.Errorf("upload %s in %s: %w", id, name, errdefs.ErrNotFound)
	}
	return u, nil
}

// Uploads lists every upload in progress (for gc's stale-upload purge).
func (s *Store) Uploads() ([]Upload, error) {
	ids, err := listNames(filepath.Join(s.root, "_uploads"))
	if err != nil {
		return nil, err
	}
	var out []Upload
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "info.json"))
		var u Upload
		if err == nil && json.Unmarshal(b, &u) == nil && u.ID == id {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *Store) saveUpload(u Upload) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(s.uploadDir(u.ID), "info.json"), b)
}

// AppendUpload adds a chunk. start is where the client says it begins (-1:
// at the current offset, a streamed PATCH); size is its announced length
// (-1: unknown); limit caps the whole upload (<= 0: no cap), checked here
// under the upload's lock so that no run of chunks gets past it. A chunk
// that starts elsewhere or arrives short (ErrOutOfOrder) or would cross
// limit (ErrTooLarge) is dropped whole and the upload keeps its previous
// offset, so a client can resume from the Range the server reports.
func (s *Store) AppendUpload(name, id string, start, size, limit int64, r io.Reader) (Upload, error) {
	unlock := s.locks.lock("upload:" + id)
	defer unlock()
	u, err := s.Upload(name, id)
	if err != nil {
		return u, err
	}
	h, err := u.hash()
	if err != nil {
		return u, err
	}
	n, err := s.writeChunk(u, start, size, limit, r, h)
	if err != nil {
		return u, err
	}
	u.Offset += n
	if m, ok := h.(encoding.BinaryMarshaler); ok {
		u.SHA256, _ = m.MarshalBinary()
	}
	return u, s.saveUpload(u)
}

// writeChunk writes r at u.Offset into the upload's data, feeding h; on
// any failure the data is cut back to u.Offset.
func (s *Store) writeChunk(u Upload, start, size, limit int64, r io.Reader, h hash.Hash) (int64, error) {
	if start >= 0 && start != u.Offset {
		return 0, fmt.Errorf("chunk starts at %d, upload is at %d: %w", start, u.Offset, ErrOutOfOrder)
	}
	room := int64(-1) // bytes the upload may still grow by; -1: no cap
	if limit > 0 {
		room = max(limit-u.Offset, 0)
		if size > room {
			return 0, fmt.Errorf("chunk of %d bytes at offset %d: limit is %d bytes: %w", size, u.Offset, limit, ErrTooLarge)
		}
	}
	f, err := os.OpenFile(filepath.Join(s.uploadDir(u.ID), "data"), os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Bytes past the offset are the rest of an interrupted chunk: drop them.
	if err := f.Truncate(u.Offset); err != nil {
		return 0, err
	}
	if _, err := f.Seek(u.Offset, io.SeekStart); err != nil {
		return 0, err
	}
	src := r
	switch {
	case size >= 0:
		src = io.LimitReader(r, size+1)
	case room >= 0:
		src = io.LimitReader(r, room+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	switch {
	case err != nil:
	case room >= 0 && n > room:
		err = fmt.Errorf("upload passes its limit of %d bytes: %w", limit, ErrTooLarge)
	case size >= 0 && n != size:
		err = fmt.Errorf("chunk of %d bytes announced, %d received: %w", size, n, ErrOutOfOrder)
	}
	if err != nil {
		f.Truncate(u.Offset)
		return 0, err
	}
	return n, nil
}

// FinishUpload appends a last chunk (r may be empty; start, size and limit
// as in AppendUpload), checks that the whole upload hashes to d, moves it into
// the store and links it into repository name. On a mismatch
// (ErrDigestMismatch) the upload stays as it was before the last chunk.
func (s *Store) FinishUpload(name, id string, start, size, limit int64, r io.Reader, d digest.Digest) error {
	unlock := s.locks.lock("upload:" + id)
	defer unlock()
	u, err := s.Upload(name, id)
	if err != nil {
		return err
	}
	h, err := u.hash()
	if err != nil {
		return err
	}
	n, err := s.writeChunk(u, start, size, limit, r, h)
	if err != nil {
		return err
	}
	data := filepath.Join(s.uploadDir(id), "data")
	var got digest.Digest
	if d.Algorithm() == digest.SHA256 {
		got = digest.NewDigest(digest.SHA256, h)
	} else if got, err = fileDigest(data, d.Algorithm()); err != nil {
		return err
	}
	if got != d {
		os.Truncate(data, u.Offset)
		return fmt.Errorf("upload %s of %d bytes is %s, not %s: %w", id, u.Offset+n, got, d, ErrDigestMismatch)
	}
	if err := syncFile(data); err != nil {
		return err
	}
	if err := s.commitBlob(data, d); err != nil {
		return err
	}
	os.RemoveAll(s.uploadDir(id))
	return s.LinkBlob(name, d)
}

// CancelUpload drops an upload and its data.
func (s *Store) CancelUpload(name, id string) error {
	unlock := s.locks.lock("upload:" + id)
	defer unlock()
	if _, err := s.Upload(name, id); err != nil {
		return err
	}
	return os.RemoveAll(s.uploadDir(id))
}

// hash resumes the upload's sha256 state.
func (u Upload) hash() (hash.Hash, error) {
	h := sha256.New()
	if len(u.SHA256) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.SHA256); err != nil {
			return nil, fmt.Errorf("upload %s: corrupt hash state: %w", u.ID, err)
		}
	}
	return h, nil
}

func fileDigest(path string, alg digest.Algorithm) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return alg.FromReader(f)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
