package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"wharf.io/wharf/internal/topdir"
	"wharf.io/wharf/snapshot"
)

var bucketSnapshots = []byte("snapshots")

// record is the stored metadata of one snapshot, keyed by its key or name.
type record struct {
	ID      uint64        `json:"id"` // directory number under root/snapshots
	Parent  string        `json:"parent,omitempty"`
	Kind    snapshot.Kind `json:"kind"`
	Created time.Time     `json:"created"`
}

// Snapshotter is the overlayfs snapshotter. Every metadata change is one bbolt
// transaction, and a snapshot's directory is created (and fsynced) inside the
// transaction that records it, so after kill -9 the database never refers to
// a missing directory; directories the database does not know are orphans of
// an interrupted call and are removed by New.
type Snapshotter struct {
	root   string
	db     *bolt.DB
	index  bool // the kernel knows overlay's index= option
	logger *slog.Logger
}

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// New opens (creating if needed) the snapshotter rooted at root.
func New(root string) (snapshot.Snapshotter, error) {
	return Open(root)
}

// Open is New returning the concrete type, whose Close a test or a second
// opener of the same root needs (bbolt holds an exclusive file lock).
func Open(root string) (*Snapshotter, error) {
	// Snapshots are trees made and removed in bulk: marked, ext4 spreads
	// them over block groups (see topdir).
	if err := topdir.Mark(filepath.Join(root, "snapshots")); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open snapshot metadata: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketSnapshots)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	_, statErr := os.Stat("/sys/module/overlay/parameters/index")
	s := &Snapshotter{root: root, db: db, index: statErr == nil, logger: slog.Default().With("component", "snapshot")}
	s.removeOrphans()
	return s, nil
}

// Close releases the metadata database.
func (s *Snapshotter) Close() error { return s.db.Close() }

func (s *Snapshotter) dir(id uint64) string {
	return filepath.Join(s.root, "snapshots", strconv.FormatUint(id, 10))
}

func (s *Snapshotter) removeOrphans() {
	known := map[string]bool{}
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(_, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) == nil {
				known[strconv.FormatUint(r.ID, 10)] = true
			}
			return nil
		})
	})
	entries, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		p := filepath.Join(s.root, "snapshots", e.Name())
		s.logger.Info("removing orphaned snapshot directory", "path", p)
		if err := os.RemoveAll(p); err != nil {
			s.logger.Warn("remove orphaned snapshot directory", "path", p, "err", err)
		}
	}
}

func get(b *bolt.Bucket, key string) (record, error) {
	var r record
	v := b.Get([]byte(key))
	if v == nil {
		return r, fmt.Errorf("snapshot %q: %w", key, errdefs.ErrNotFound)
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("snapshot %q: corrupt metadata: %w", key, errdefs.ErrDataLoss)
	}
	return r, nil
}

func put(b *bolt.Bucket, key string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), v)
}

// Prepare implements snapshot.Snapshotter.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string) ([]snapshot.Mount, error) {
	if key == "" {
		return nil, fmt.Errorf("snapshot key must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var mounts []snapshot.Mount
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if b.Get([]byte(key)) != nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		}
		if parent != "" {
			p, err := get(b, parent)
			if err != nil {
				return fmt.Errorf("parent: %w", err)
			}
			if p.Kind != snapshot.KindCommitted {
				return fmt.Errorf("parent snapshot %q is not committed: %w", parent, errdefs.ErrFailedPrecondition)
			}
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r := record{ID: id, Parent: parent, Kind: snapshot.KindActive, Created: time.Now().UTC()}
		dir := s.dir(id)
		if err := s.makeDirs(dir); err != nil {
			os.RemoveAll(dir)
			return err
		}
		if err := put(b, key, r); err != nil {
			os.RemoveAll(dir)
			return err
		}
		mounts, err = s.mounts(b, r)
		if err != nil {
			os.RemoveAll(dir)
		}
		return err
	})
	return mounts, err
}

func (s *Snapshotter) makeDirs(dir string) error {
	// The directory may be left from a transaction that failed to commit.
	_ = os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	// fs is the container's root directory, so it gets the usual 0755.
	if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
		return err
	}
	// No fsync of the new directories (two of them cost ~0.6 ms of every
	// container's create): a layer's Commit syncs the whole filesystem, and
	// a container's directories start empty, so Mounts makes them again
	// should a host crash have lost them.
	return os.Mkdir(filepath.Join(dir, "work"), 0o700)
}

// ensureDirs makes an active snapshot's directories again where a host
// crash lost them (they were empty when the record was written).
func (s *Snapshotter) ensureDirs(id uint64) error {
	dir := s.dir(id)
	if err := os.MkdirAll(filepath.Join(dir, "fs"), 0o755); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(dir, "work"), 0o700)
}

// mounts builds the mounts of r: a bind mount of its own directory when it has
// no parents, else an overlay with the parent chain as lowerdirs (nearest
// first, as overlayfs wants). A committed snapshot gets a read-only view.
func (s *Snapshotter) mounts(b *bolt.Bucket, r record) ([]snapshot.Mount, error) {
	var lowers []string
	for p := r.Parent; p != ""; {
		pr, err := get(b, p)
		if err != nil {
			return nil, fmt.Errorf("parent chain: %w", err)
		}
		lowers = append(lowers, filepath.Join(s.dir(pr.ID), "fs"))
		p = pr.Parent
		if len(lowers) > 1000 {
			return nil, fmt.Errorf("snapshot parent chain too deep: %w", errdefs.ErrFailedPrecondition)
		}
	}
	own := filepath.Join(s.dir(r.ID), "fs")
	if r.Kind == snapshot.KindCommitted {
		lowers = append([]string{own}, lowers...)
		if len(lowers) == 1 {
			return []snapshot.Mount{{Type: "bind", Source: own, Options: []string{"rbind", "ro"}}}, nil
		}
		return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: s.overlayOptions("lowerdir=" + strings.Join(lowers, ":"))}}, nil
	}
	if len(lowers) == 0 {
		return []snapshot.Mount{{Type: "bind", Source: own, Options: []string{"rbind", "rw"}}}, nil
	}
	return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: s.overlayOptions(
		"workdir="+filepath.Join(s.dir(r.ID), "work"),
		"upperdir="+own,
		"lowerdir="+strings.Join(lowers, ":"),
	)}}, nil
}

func (s *Snapshotter) overlayOptions(opts ...string) []string {
	if s.index {
		// Without index=off, reusing an upper directory with other lowers
		// (which happens after a layer is removed and re-pulled) fails.
		return append([]string{"index=off"}, opts...)
	}
	return opts
}

// Mounts implements snapshot.Snapshotter.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	var mounts []snapshot.Mount
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, err := get(b, key)
		if err != nil {
			return err
		}
		if r.Kind == snapshot.KindActive {
			if err := s.ensureDirs(r.ID); err != nil {
				return err
			}
		}
		mounts, err = s.mounts(b, r)
		return err
	})
	return mounts, err
}

// Commit implements snapshot.Snapshotter.
func (s *Snapshotter) Commit(ctx context.Context, name, key string) error {
	if name == "" {
		return fmt.Errorf("snapshot name must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, err := get(b, key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive {
			return fmt.Errorf("snapshot %q is not active: %w", key, errdefs.ErrFailedPrecondition)
		}
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
		}
		// The layer's files must be on disk before the metadata that makes
		// them a shared parent.
		if err := syncFS(filepath.Join(s.dir(r.ID), "fs")); err != nil {
			return err
		}
		r.Kind = snapshot.KindCommitted
		r.Created = time.Now().UTC()
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		return put(b, name, r)
	})
}

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// Remove implements snapshot.Snapshotter.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var dir string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		r, err := get(b, key)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var child record
			if json.Unmarshal(v, &child) == nil && child.Parent == key {
				return fmt.Errorf("snapshot %q has children (e.g. %q): %w", key, k, errdefs.ErrFailedPrecondition)
			}
		}
		dir = s.dir(r.ID)
		return b.Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	// Once the record is gone the directory is garbage; if this fails (or we
	// crash first) the next New removes it.
	if err := os.RemoveAll(dir); err != nil {
		s.logger.WarnContext(ctx, "remove snapshot directory", "path", dir, "err", err)
	}
	return nil
}

// Stat implements snapshot.Snapshotter.
func (s *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var info snapshot.Info
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := get(tx.Bucket(bucketSnapshots), key)
		if err != nil {
			return err
		}
		info = snapshot.Info{Key: key, Parent: r.Parent, Kind: r.Kind, Created: r.Created}
		return nil
	})
	return info, err
}

// Usage implements snapshot.Snapshotter. It counts the apparent size of the
// files in the snapshot's own directory, each hard-linked inode once, as
// docker's SizeRw does.
func (s *Snapshotter) Usage(ctx context.Context, key string) (int64, error) {
	var id uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		r, err := get(tx.Bucket(bucketSnapshots), key)
		id = r.ID
		return err
	}); err != nil {
		return 0, err
	}
	root := filepath.Join(s.dir(id), "fs")
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += fi.Size()
		return nil
	})
	return total, err
}

// Walk implements snapshot.Snapshotter. fn runs outside the database
// transaction so it may call back into the snapshotter.
func (s *Snapshotter) Walk(ctx context.Context, fn func(snapshot.Info) error) error {
	var infos []snapshot.Info
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: corrupt metadata: %w", k, errdefs.ErrDataLoss)
			}
			infos = append(infos, snapshot.Info{Key: string(k), Parent: r.Parent, Kind: r.Kind, Created: r.Created})
			return nil
		})
	}); err != nil {
		return err
	}
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}
