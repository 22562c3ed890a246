package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"wharf.io/wharf/internal/topdir"
	"wharf.io/wharf/snapshot"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// bucketBlobSources maps a blob digest to the repositories
// ("registry/path") it is known to exist in, so a push can ask the registry
// to mount it from there instead of uploading it again.
var bucketBlobSources = []byte("image.blobsources")

// maxBlobSources bounds the repositories remembered per blob.
const maxBlobSources = 8

// Docker schema2 layer media types; the store records the OCI equivalents.
const (
	mediaTypeDockerLayer     = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Pull is an image being pulled into the store. BeginPull creates it; the
// caller writes the missing layer blobs (in any order, concurrently),
// unpacks the layers bottom-up with Unpack (unpacking layer i may overlap
// the download of later ones), then Commit records the image. Close must
// always be called: from BeginPull to Close, rmi and prune wait, so they
// never collect a blob or layer the pull is about to reference.
type Pull struct {
	s      *Store
	raw    []byte
	id     digest.Digest
	cfg    dockerspec.DockerOCIImage
	layers []ocispec.Descriptor
	chains []digest.Digest
	sizes  []int64
	next   int // the next layer Unpack expects
	closed bool

	stageMu sync.Mutex
	staged  map[int]stagedLayer // layers unpacked ahead of their turn (Stage)
}

// stagedLayer is a layer unpacked into a directory of its own.
type stagedLayer struct {
	dir  string
	size int64
	err  error
}

// BeginPull validates an image's raw config against the layer descriptors
// of its manifest and returns the pull.
func (s *Store) BeginPull(config []byte, layers []ocispec.Descriptor) (*Pull, error) {
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(layers) {
		return nil, fmt.Errorf("image config lists %d layers, manifest has %d: %w", len(diffIDs), len(layers), errdefs.ErrInvalidArgument)
	}
	for i, d := range diffIDs {
		if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("image config: bad diff ID %q: %w", d, errdefs.ErrInvalidArgument)
		}
		if layers[i].Digest.Validate() != nil || layers[i].Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("manifest: bad layer digest %q: %w", layers[i].Digest, errdefs.ErrInvalidArgument)
		}
	}
	s.layerMu.RLock()
	return &Pull{
		s: s, raw: config, id: digest.FromBytes(config), cfg: cfg, layers: layers,
		chains: identity.ChainIDs(slices.Clone(diffIDs)), sizes: make([]int64, len(layers)),
	}, nil
}

// ID is the image ID the pull will produce.
func (p *Pull) ID() digest.Digest { return p.id }

// HasBlob reports whether the content store already holds d.
func (p *Pull) HasBlob(d digest.Digest) bool {
	_, err := p.s.blobs.size(d)
	return err == nil
}

// LayerExists reports whether layer i is already unpacked (with its blob
// stored), which docker reports as "Already exists".
func (p *Pull) LayerExists(ctx context.Context, i int) bool {
	if !p.HasBlob(p.layers[i].Digest) {
		return false
	}
	_, err := p.s.sn.Stat(ctx, p.chains[i].String())
	return err == nil
}

// WriteBlob stores layer content r, which must hash to d (else
// InvalidArgument and nothing is stored).
func (p *Pull) WriteBlob(ctx context.Context, d digest.Digest, r io.Reader) error {
	_, _, err := p.s.blobs.write(ctx, r, d)
	return err
}

// Unpack unpacks layer i onto layer i-1; layers must be unpacked in order,
// each after its blob was written.
func (p *Pull) Unpack(ctx context.Context, i int) error {
	if i != p.next {
		return fmt.Errorf("unpack layer %d before layer %d: %w", i, p.next, errdefs.ErrFailedPrecondition)
	}
	var parent digest.Digest
	if i > 0 {
		parent = p.chains[i-1]
	}
	p.stageMu.Lock()
	st, staged := p.staged[i]
	delete(p.staged, i)
	p.stageMu.Unlock()
	var size int64
	var err error
	if staged && st.err == nil && !p.s.hasLayer(ctx, p.chains[i]) {
		size, err = p.s.makeLayer(ctx, parent, p.chains[i], func(upper string) (int64, error) {
			// The snapshot's upper directory is new and empty: the staged
			// one takes its place (same filesystem, one rename).
			if err := os.Remove(upper); err != nil {
				return 0, err
			}
			if err := os.Rename(st.dir, upper); err != nil {
				os.Mkdir(upper, 0o755)
				return p.s.extractLayer(ctx, upper, p.layers[i].Digest, p.cfg.RootFS.DiffIDs[i])
			}
			return st.size, nil
		})
	} else {
		if staged {
			os.RemoveAll(st.dir)
			if st.err != nil {
				return st.err
			}
		}
		size, err = p.s.ensureLayer(ctx, parent, p.chains[i], p.cfg.RootFS.DiffIDs[i], p.layers[i].Digest)
	}
	if err != nil {
		return err
	}
	p.sizes[i] = size
	p.next++
	return nil
}

// Commit stores the config and the image record and points refs (tags
// and repo@digest references) at it. All layers must be unpacked.
func (p *Pull) Commit(ctx context.Context, refs ...reference.Named) (*Image, error) {
	if p.next != len(p.layers) {
		return nil, fmt.Errorf("image %s: %d of %d layers unpacked: %w", p.id, p.next, len(p.layers), errdefs.ErrFailedPrecondition)
	}
	if _, _, err := p.s.blobs.write(ctx, bytes.NewReader(p.raw), p.id); err != nil {
		return nil, err
	}
	rec := imageRecord{ID: p.id, Created: time.Now().UTC()}
	if p.cfg.Created != nil {
		rec.Created = p.cfg.Created.UTC()
	}
	for i, l := range p.layers {
		rec.Layers = append(rec.Layers, layerRecord{
			Blob: l.Digest, MediaType: ociLayerType(l.MediaType, p.s.sniffMediaType(l.Digest)),
			DiffID: p.cfg.RootFS.DiffIDs[i], Size: p.sizes[i],
		})
	}
	return p.s.addImage(rec, p.cfg, refs)
}

// Close ends the pull; blobs of a pull that did not commit are collected
// by the next rmi, prune or start-up.
func (p *Pull) Close() {
	p.stageMu.Lock()
	for i, st := range p.staged {
		os.RemoveAll(st.dir)
		delete(p.staged, i)
	}
	p.stageMu.Unlock()
	if !p.closed {
		p.closed = true
		p.s.layerMu.RUnlock()
	}
}

// Stage unpacks layer i (its blob written) into a directory of its own,
// ahead of its turn: a layer's files do not depend on its parents until
// the layers are stacked, so several layers can unpack at once (hashing
// and writing are most of a pull). Unpack(i) then moves the directory
// into the layer's snapshot. An error is kept for Unpack to report.
func (p *Pull) Stage(ctx context.Context, i int) {
	if p.s.hasLayer(ctx, p.chains[i]) {
		return
	}
	st := stagedLayer{}
	dir, err := os.MkdirTemp(filepath.Join(p.s.root, "staging"), "layer-")
	if os.IsNotExist(err) {
		// Marked so each layer unpacked here gets block groups of its
		// own, away from the files of layers just removed (topdir).
		if err = topdir.Mark(filepath.Join(p.s.root, "staging")); err == nil {
			dir, err = os.MkdirTemp(filepath.Join(p.s.root, "staging"), "layer-")
		}
	}
	if err == nil {
		err = os.Chmod(dir, 0o755) // as a fresh snapshot's upper directory
	}
	if err == nil {
		st.dir = dir
		st.size, err = p.s.extractLayer(ctx, dir, p.layers[i].Digest, p.cfg.RootFS.DiffIDs[i])
	}
	st.err = err
	p.stageMu.Lock()
	if p.staged == nil {
		p.staged = map[int]stagedLayer{}
	}
	p.staged[i] = st
	p.stageMu.Unlock()
}

// ociLayerType is the OCI media type the store records for a layer that
// arrived as mediaType; sniffed decides for types we do not know.
func ociLayerType(mediaType, sniffed string) string {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd:
		return mediaType
	case mediaTypeDockerLayerGzip:
		return ocispec.MediaTypeImageLayerGzip
	case mediaTypeDockerLayer:
		return ocispec.MediaTypeImageLayer
	}
	return sniffed
}

// PushLayer is one layer of an image to push, its blob opened.
type PushLayer struct {
	Blob      digest.Digest
	DiffID    digest.Digest
	MediaType string // OCI media type of the blob as stored
	Size      int64  // blob size
	File      *os.File
}

// PushImage is an image ready to be pushed: config bytes and its layer
// blobs, opened while layer collection was held off, so a concurrent rmi
// cannot pull them from under the push. Close releases the files.
type PushImage struct {
	ID     digest.Digest
	Config []byte
	Layers []PushLayer
}

// Close closes the layer files.
func (pi *PushImage) Close() {
	for _, l := range pi.Layers {
		if l.File != nil {
			l.File.Close()
		}
	}
}

// ForPush opens the image refOrID names for a push.
func (s *Store) ForPush(ctx context.Context, refOrID string) (*PushImage, error) {
	s.layerMu.RLock()
	defer s.layerMu.RUnlock()
	id, layers, err := s.layersOf(refOrID)
	if err != nil {
		return nil, err
	}
	raw, err := s.blobs.read(id)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", id, err)
	}
	pi := &PushImage{ID: id, Config: raw}
	for _, l := range layers {
		f, err := s.blobs.open(l.Blob)
		if err != nil {
			pi.Close()
			return nil, fmt.Errorf("layer %s: %w", l.Blob, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			pi.Close()
			return nil, err
		}
		pi.Layers = append(pi.Layers, PushLayer{Blob: l.Blob, DiffID: l.DiffID, MediaType: l.MediaType, Size: fi.Size(), File: f})
	}
	return pi, nil
}

// layersOf resolves refOrID to its image ID and a copy of its layer records.
func (s *Store) layersOf(refOrID string) (digest.Digest, []layerRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, _, err := s.resolve(refOrID)
	if err != nil {
		return "", nil, err
	}
	return e.rec.ID, slices.Clone(e.rec.Layers), nil
}

// RepositoryTags lists the tags of repository name (normalised, e.g.
// "docker.io/library/busybox") that point at an image, sorted: what
// `push --all-tags` pushes.
func (s *Store) RepositoryTags(name string) []reference.NamedTagged {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tagsOfRepository(name)
}

// AddReferences points refs (typically repo@digest after a push) at image
// id.
func (s *Store) AddReferences(ctx context.Context, id digest.Digest, refs ...reference.Named) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images[id] == nil {
		return notFound(string(id))
	}
	return s.putTags(id, refs)
}

// BlobSources returns the repositories ("registry/path") blob d is known to
// exist in, most recent first.
func (s *Store) BlobSources(d digest.Digest) []string {
	var out []string
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketBlobSources); b != nil {
			if v := b.Get([]byte(d)); v != nil {
				json.Unmarshal(v, &out)
			}
		}
		return nil
	})
	return out
}

// AddBlobSource records that blobs exist in repository repo
// ("registry/path"). It is a hint: a wrong one costs a failed mount.
func (s *Store) AddBlobSource(repo string, blobs ...digest.Digest) error {
	if repo == "" || strings.ContainsAny(repo, " \n") {
		return fmt.Errorf("repository %q: %w", repo, errdefs.ErrInvalidArgument)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBlobSources)
		if err != nil {
			return err
		}
		for _, d := range blobs {
			var list []string
			if v := b.Get([]byte(d)); v != nil {
				json.Unmarshal(v, &list)
			}
			list = slices.DeleteFunc(list, func(r string) bool { return r == repo })
			list = append([]string{repo}, list...)
			if len(list) > maxBlobSources {
				list = list[:maxBlobSources]
			}
			v, _ := json.Marshal(list)
			if err := b.Put([]byte(d), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// hasLayer reports whether committed snapshot chainID exists.
func (s *Store) hasLayer(ctx context.Context, chainID digest.Digest) bool {
	info, err := s.sn.Stat(ctx, chainID.String())
	return err == nil && info.Kind == snapshot.KindCommitted
}
