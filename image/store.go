package image

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/image/layer"
	"wharf.io/wharf/snapshot"
)

// Image is one image in the store.
type Image struct {
	ID          digest.Digest // digest of the config JSON (Docker's image ID)
	RepoTags    []string      // familiar form, e.g. "busybox:latest"
	RepoDigests []string
	Config      dockerspec.DockerOCIImage
	ChainID     digest.Digest   // chain ID of the top layer; "" if no layers
	Layers      []digest.Digest // layer blob digests as stored (manifest order)
	Size        int64           // sum of unpacked layer sizes
	Created     time.Time
	Parent      digest.Digest // the image it was built on, if built here
}

// Buckets in the shared metadata database; all of ours start with "image".
var (
	bucketImages = []byte("image.images") // image ID → imageRecord
	bucketTags   = []byte("image.tags")   // normalised reference → tagRecord
)

// layerRecord is one layer of an image as stored.
type layerRecord struct {
	Blob      digest.Digest `json:"blob"` // blob in the content store, as loaded
	MediaType string        `json:"mediaType"`
	DiffID    digest.Digest `json:"diffID"` // sha256 of the uncompressed tar
	Size      int64         `json:"size"`   // unpacked content bytes
}

// imageRecord is the stored metadata of an image; its config is the blob
// named by ID.
type imageRecord struct {
	ID      digest.Digest `json:"id"`
	Layers  []layerRecord `json:"layers"`
	Created time.Time     `json:"created"`
	// Parent is the image this one was committed or built on (docker's
	// parent chain of locally built images); empty for loaded, imported
	// and pulled images.
	Parent digest.Digest `json:"parent,omitempty"`
}

type tagRecord struct {
	ID   digest.Digest `json:"id"`
	Time time.Time     `json:"time"`
}

// entry is an image held in memory: its record and parsed config.
type entry struct {
	rec    imageRecord
	config dockerspec.DockerOCIImage
}

func (e *entry) diffIDs() []digest.Digest {
	out := make([]digest.Digest, len(e.rec.Layers))
	for i, l := range e.rec.Layers {
		out[i] = l.DiffID
	}
	return out
}

func (e *entry) chainID() digest.Digest {
	if len(e.rec.Layers) == 0 {
		return ""
	}
	return identity.ChainID(e.diffIDs())
}

func (e *entry) size() int64 {
	var n int64
	for _, l := range e.rec.Layers {
		n += l.Size
	}
	return n
}

// Store is the image store. It is safe for concurrent use.
//
// Lock order: layerMu before mu. layerMu is held shared by every call that
// creates layer snapshots or blobs (import, load, commit) from the first
// write until the image record that references them is committed, and
// exclusively by the calls that garbage-collect layers and blobs (remove,
// prune), so collection never deletes what an in-flight import is about to
// reference. mu guards the in-memory maps and serialises writes to our
// buckets; bbolt gives atomicity and durability.
//
// Snapshot names the store owns: committed "sha256:…" chain IDs and active
// "extract-…" keys.
type Store struct {
	root   string
	db     *bolt.DB
	sn     snapshot.Snapshotter
	blobs  *blobs
	format layer.Format
	logger *slog.Logger

	layerMu sync.RWMutex
	mu      sync.RWMutex
	images  map[digest.Digest]*entry
	tags    map[string]tagRecord // key: reference.Named.String()
}

// New opens the image store: blobs under root, metadata in db (buckets named
// "image…"), layers in sn. It removes what an interrupted call left behind:
// blobs and extraction snapshots no image refers to.
func New(root string, db *bolt.DB, sn snapshot.Snapshotter) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	// Layers a pull unpacked ahead of their turn (Pull.Stage) and never
	// used, because the daemon died first.
	os.RemoveAll(filepath.Join(root, "staging"))
	b, err := newBlobs(root)
	if err != nil {
		return nil, err
	}
	s := &Store{
		root:   root,
		db:     db,
		sn:     sn,
		blobs:  b,
		format: layer.Overlay,
		logger: slog.Default().With("component", "image"),
		images: map[digest.Digest]*entry{},
		tags:   map[string]tagRecord{},
	}
	if os.Geteuid() != 0 {
		// Overlay whiteouts need root; unprivileged stores (tests) can't
		// mount overlays anyway.
		s.format = layer.Plain
	}
	if err := s.loadMetadata(); err != nil {
		return nil, err
	}
	s.collectGarbage(context.Background())
	return s, nil
}

func (s *Store) loadMetadata() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bi, err := tx.CreateBucketIfNotExists(bucketImages)
		if err != nil {
			return err
		}
		bt, err := tx.CreateBucketIfNotExists(bucketTags)
		if err != nil {
			return err
		}
		if err := bi.ForEach(func(k, v []byte) error {
			var rec imageRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				s.logger.Warn("skipping corrupt image record", "id", string(k), "err", err)
				return nil
			}
			raw, err := s.blobs.read(rec.ID)
			if err != nil {
				s.logger.Warn("skipping image without config", "id", rec.ID, "err", err)
				return nil
			}
			var cfg dockerspec.DockerOCIImage
			if err := json.Unmarshal(raw, &cfg); err != nil {
				s.logger.Warn("skipping image with corrupt config", "id", rec.ID, "err", err)
				return nil
			}
			s.images[rec.ID] = &entry{rec: rec, config: cfg}
			return nil
		}); err != nil {
			return err
		}
		return bt.ForEach(func(k, v []byte) error {
			var t tagRecord
			if json.Unmarshal(v, &t) == nil {
				s.tags[string(k)] = t
			}
			return nil
		})
	})
}

// collectGarbage removes blobs and snapshots no image refers to. It runs at
// start-up, before the store is shared.
func (s *Store) collectGarbage(ctx context.Context) {
	usedBlobs := map[digest.Digest]bool{}
	usedChains := map[string]bool{}
	for _, e := range s.images {
		usedBlobs[e.rec.ID] = true
		for _, l := range e.rec.Layers {
			usedBlobs[l.Blob] = true
		}
		for _, c := range identity.ChainIDs(e.diffIDs()) {
			usedChains[c.String()] = true
		}
	}
	if all, err := s.blobs.list(); err == nil {
		for _, d := range all {
			if !usedBlobs[d] {
				s.logger.Info("removing unreferenced blob", "digest", d)
				s.blobs.remove(d)
			}
		}
	}
	// Children before parents: repeat until a pass removes nothing.
	for range 1000 {
		var victims []string
		s.sn.Walk(ctx, func(i snapshot.Info) error {
			switch {
			case i.Kind == snapshot.KindActive && strings.HasPrefix(i.Key, extractPrefix):
				victims = append(victims, i.Key)
			case i.Kind == snapshot.KindCommitted && strings.HasPrefix(i.Key, "sha256:") && !usedChains[i.Key]:
				victims = append(victims, i.Key)
			}
			return nil
		})
		removed := 0
		for _, k := range victims {
			if err := s.sn.Remove(ctx, k); err == nil {
				removed++
			}
		}
		if removed == 0 {
			return
		}
	}
}

// image makes the exported view of e. Callers hold mu.
func (s *Store) image(e *entry) *Image {
	img := &Image{
		ID:          e.rec.ID,
		RepoTags:    []string{},
		RepoDigests: []string{},
		Config:      e.config,
		ChainID:     e.chainID(),
		Size:        e.size(),
		Created:     e.rec.Created,
		Parent:      e.rec.Parent,
	}
	for _, l := range e.rec.Layers {
		img.Layers = append(img.Layers, l.Blob)
	}
	for _, ref := range s.refsOf(e.rec.ID) {
		if _, ok := ref.(reference.Tagged); ok {
			img.RepoTags = append(img.RepoTags, FamiliarString(ref))
		} else {
			img.RepoDigests = append(img.RepoDigests, FamiliarString(ref))
		}
	}
	return img
}

// refsOf returns the references pointing at id, sorted. Callers hold mu.
func (s *Store) refsOf(id digest.Digest) []reference.Named {
	var keys []string
	for k, t := range s.tags {
		if t.ID == id {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []reference.Named
	for _, k := range keys {
		if n, err := reference.ParseNormalizedNamed(k); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// resolve finds the image refOrID names. Callers hold mu. ref is the
// reference that matched when refOrID was a name, nil for IDs.
func (s *Store) resolve(refOrID string) (e *entry, ref reference.Named, err error) {
	p, err := parseRefOrID(refOrID)
	if err != nil {
		return nil, nil, err
	}
	if p.id != "" {
		if e := s.images[p.id]; e != nil {
			return e, nil, nil
		}
		return nil, nil, notFound(refOrID)
	}
	if p.named != nil {
		if t, ok := s.tags[p.named.String()]; ok {
			if e := s.images[t.ID]; e != nil {
				return e, p.named, nil
			}
		}
		if p.prefix == "" {
			return nil, nil, notFound(FamiliarString(p.named))
		}
	}
	var found *entry
	for id, e := range s.images {
		if strings.HasPrefix(id.Encoded(), p.prefix) {
			if found != nil {
				// Docker answers an ambiguous prefix with "No such image" too.
				return nil, nil, notFound(refOrID)
			}
			found = e
		}
	}
	if found == nil {
		if p.named != nil {
			return nil, nil, notFound(FamiliarString(p.named))
		}
		return nil, nil, notFound(refOrID)
	}
	return found, nil, nil
}

// Get returns the image refOrID names: a reference ("busybox",
// "busybox:latest", "docker.io/library/busybox:1", "name@sha256:…"), a full
// ID, "sha256:<id>" or a unique ID prefix.
func (s *Store) Get(ctx context.Context, refOrID string) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, _, err := s.resolve(refOrID)
	if err != nil {
		return nil, err
	}
	return s.image(e), nil
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Image, 0, len(s.images))
	for _, e := range s.images {
		out = append(out, s.image(e))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Tag points target (normalised, default tag latest) at the image src names.
func (s *Store) Tag(ctx context.Context, src, target string) error {
	named, err := parseTag(target)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _, err := s.resolve(src)
	if err != nil {
		return err
	}
	return s.putTags(e.rec.ID, []reference.Named{named})
}

// parseTag parses a reference that names a tag to create.
func parseTag(s string) (reference.Named, error) {
	named, err := ParseReference(s)
	if err != nil {
		return nil, err
	}
	if _, ok := named.(reference.Tagged); !ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
	}
	return named, nil
}

// putTags records refs → id in one transaction. Callers hold mu.
func (s *Store) putTags(id digest.Digest, refs []reference.Named) error {
	now := time.Now().UTC()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTags)
		for _, r := range refs {
			v, _ := json.Marshal(tagRecord{ID: id, Time: now})
			if err := b.Put([]byte(r.String()), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store tags: %w", err)
	}
	for _, r := range refs {
		s.tags[r.String()] = tagRecord{ID: id, Time: now}
	}
	return nil
}

// addImage stores the record and tags of an image whose blobs and layer
// snapshots are already durable, in one transaction, and returns it.
func (s *Store) addImage(rec imageRecord, cfg dockerspec.DockerOCIImage, refs []reference.Named) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		// An image that exists already keeps its record (same ID, same content).
		if _, exists := s.images[rec.ID]; !exists {
			if err := tx.Bucket(bucketImages).Put([]byte(rec.ID), recJSON); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketTags)
		for _, r := range refs {
			v, _ := json.Marshal(tagRecord{ID: rec.ID, Time: now})
			if err := b.Put([]byte(r.String()), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store image %s: %w", rec.ID, err)
	}
	e, exists := s.images[rec.ID]
	if !exists {
		e = &entry{rec: rec, config: cfg}
		s.images[rec.ID] = e
	}
	for _, r := range refs {
		s.tags[r.String()] = tagRecord{ID: rec.ID, Time: now}
	}
	return s.image(e), nil
}
