package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
)

// DriverLocal is the only driver wharf ships.
const DriverLocal = "local"

var bucket = []byte("volumes")

// record is what bbolt keeps per volume.
type record struct {
	Name      string
	Labels    map[string]string
	Options   map[string]string
	CreatedAt time.Time
	// Anonymous volumes were made for a container without a name; `rm -v`
	// and `volume prune` (without --all) remove them.
	Anonymous bool
}

// Store holds the volumes. Safe for concurrent use.
type Store struct {
	root string
	db   *bolt.DB
	mu   sync.Mutex
}

// New opens the volume store; data lives in root/<name>/_data.
func New(root string, db *bolt.DB) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Store{root: root, db: db}, nil
}

// Path is the directory mounted into containers for volume name.
func (s *Store) Path(name string) string { return filepath.Join(s.root, name, "_data") }

// Create makes volume name, or returns the existing one with the same name
// (as Docker does). An empty name makes an anonymous volume with a random name.
func (s *Store) Create(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if req.Driver != "" && req.Driver != DriverLocal {
		return volume.Volume{}, fmt.Errorf("volume driver %q: only %q is supported: %w", req.Driver, DriverLocal, errdefs.ErrNotImplemented)
	}
	if len(req.DriverOpts) > 0 {
		return volume.Volume{}, fmt.Errorf("volume driver options are not supported yet: %w", errdefs.ErrNotImplemented)
	}
	anonymous := req.Name == ""
	if anonymous {
		req.Name = ids.New()
	} else if err := validName(req.Name); err != nil {
		return volume.Volume{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, err := s.get(req.Name); err == nil {
		return s.toAPI(r), nil
	}
	if err := os.MkdirAll(s.Path(req.Name), 0o755); err != nil {
		return volume.Volume{}, err
	}
	r := record{Name: req.Name, Labels: req.Labels, Options: req.DriverOpts, CreatedAt: time.Now().UTC(), Anonymous: anonymous}
	if err := s.put(r); err != nil {
		os.RemoveAll(filepath.Join(s.root, req.Name))
		return volume.Volume{}, err
	}
	return s.toAPI(r), nil
}

func validName(name string) error {
	if err := ids.ValidateName(name); err != nil || len(name) < 2 {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Get returns volume name or errdefs.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (volume.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return volume.Volume{}, err
	}
	return s.toAPI(r), nil
}

// IsAnonymous reports whether name was created without a user-given name.
func (s *Store) IsAnonymous(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	return err == nil && r.Anonymous
}

// List returns all volumes sorted by name.
func (s *Store) List(ctx context.Context) ([]volume.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []volume.Volume
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, s.toAPI(r))
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Remove deletes volume name and its data. The caller checks that no
// container uses it (the store does not know about containers).
func (s *Store) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(name); err != nil {
		return err
	}
	// Metadata first: a crash after this leaves an orphan directory, never a
	// row pointing at missing data.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(name)) }); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(s.root, name))
}

// Size returns the bytes used by volume name's data.
func (s *Store) Size(name string) int64 {
	var n int64
	filepath.Walk(s.Path(name), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func (s *Store) get(name string) (record, error) {
	var r record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}

func (s *Store) put(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(r.Name), b) })
}

func (s *Store) toAPI(r record) volume.Volume {
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	if r.Anonymous {
		labels = map[string]string{"com.docker.volume.anonymous": ""}
		for k, v := range r.Labels {
			labels[k] = v
		}
	}
	return volume.Volume{
		Name:       r.Name,
		Driver:     DriverLocal,
		Mountpoint: s.Path(r.Name),
		CreatedAt:  r.CreatedAt.Format(time.RFC3339),
		Labels:     labels,
		Options:    r.Options,
		Scope:      "local",
	}
}
