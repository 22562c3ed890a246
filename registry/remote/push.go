package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"wharf.io/wharf/image"
)

// PushResult is the manifest a push wrote.
type PushResult struct {
	Tag    string
	Digest digest.Digest
	Size   int
}

// Push uploads the image ref names (a tag) to ref's repository: layers in
// parallel after an existence check ("Layer already exists"), mounted from
// another repository of the same registry when the store knows one that
// has the blob, then the config, then the manifest. Layers stored as plain
// tars (built, committed, imported) are compressed first, once for good;
// then a Docker schema2 manifest goes when every layer is gzip, else an OCI
// one.
func (c *Client) Push(ctx context.Context, store *image.Store, ref reference.NamedTagged, auth registry.AuthConfig, p Progress) (PushResult, error) {
	if err := store.CompressLayers(ctx, ref.String(), func(diffID digest.Digest) {
		p.Update(shortID(diffID), "Preparing", 0, 0)
	}); err != nil {
		return PushResult{}, err
	}
	pi, err := store.ForPush(ctx, ref.String())
	if err != nil {
		return PushResult{}, err
	}
	defer pi.Close()
	repo, err := c.repository(ref)
	if err != nil {
		return PushResult{}, err
	}
	host := reference.Domain(ref)
	opts, err := c.options(host, auth)
	if err != nil {
		return PushResult{}, err
	}
	puller, err := ggcr.NewPuller(opts...)
	if err != nil {
		return PushResult{}, err
	}
	pusher, err := ggcr.NewPusher(opts...)
	if err != nil {
		return PushResult{}, err
	}

	docker := true
	for _, l := range pi.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			docker = false
		}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: pi.ID, Size: int64(len(pi.Config))},
		Layers:    make([]ocispec.Descriptor, len(pi.Layers)),
	}
	if docker {
		m.MediaType = string(types.DockerManifestSchema2)
		m.Config.MediaType = string(types.DockerConfigJSON)
	}
	for i, l := range pi.Layers {
		mt := l.MediaType
		if docker {
			mt = string(types.DockerLayer)
		}
		m.Layers[i] = ocispec.Descriptor{MediaType: mt, Digest: l.Blob, Size: l.Size}
	}

	// Docker lists the layers top first.
	for i := len(pi.Layers) - 1; i >= 0; i-- {
		p.Update(shortID(pi.Layers[i].DiffID), "Preparing", 0, 0)
	}
	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, maxUploads)
	seen := map[digest.Digest]bool{}
	for i := len(pi.Layers) - 1; i >= 0; i-- {
		l := pi.Layers[i]
		if seen[l.Blob] {
			continue
		}
		seen[l.Blob] = true
		mt := types.MediaType(m.Layers[i].MediaType)
		g.Go(func() error {
			id := shortID(l.DiffID)
			if err := acquire(gctx, sem, p, id); err != nil {
				return err
			}
			defer func() { <-sem }()
			return c.pushLayer(gctx, store, puller, pusher, repo, l, mt, p)
		})
	}
	if err := g.Wait(); err != nil {
		return PushResult{}, err
	}
	if err := pusher.Upload(ctx, repo, static.NewLayer(pi.Config, types.MediaType(m.Config.MediaType))); err != nil {
		return PushResult{}, translate(err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return PushResult{}, err
	}
	if err := pusher.Put(ctx, repo.Tag(ref.Tag()), rawManifest{raw, types.MediaType(m.MediaType)}); err != nil {
		return PushResult{}, translate(err)
	}
	res := PushResult{Tag: ref.Tag(), Digest: digest.FromBytes(raw), Size: len(raw)}
	canonical, err := reference.WithDigest(reference.TrimNamed(ref), res.Digest)
	if err != nil {
		return PushResult{}, err
	}
	if err := store.AddReferences(ctx, pi.ID, canonical); err != nil {
		return PushResult{}, err
	}
	blobs := make([]digest.Digest, len(pi.Layers))
	for i, l := range pi.Layers {
		blobs[i] = l.Blob
	}
	if err := store.AddBlobSource(repo.Name(), blobs...); err != nil {
		return PushResult{}, err
	}
	return res, nil
}

// pushLayer uploads one layer blob unless the repository has it.
func (c *Client) pushLayer(ctx context.Context, store *image.Store, puller *ggcr.Puller, pusher *ggcr.Pusher, repo name.Repository, l image.PushLayer, mt types.MediaType, p Progress) error {
	id := shortID(l.DiffID)
	remoteLayer, err := puller.Layer(ctx, repo.Digest(l.Blob.String()))
	if err != nil {
		return translate(err)
	}
	if _, err := remoteLayer.Size(); err == nil { // HEAD succeeded
		p.Update(id, "Layer already exists", 0, 0)
		return nil
	} else if !isStatus(err, 404) {
		return translate(err)
	}
	sl := &storeLayer{l: l, mt: mt, p: p, id: id}
	var up v1.Layer = sl
	var from name.Repository
	for _, src := range store.BlobSources(l.Blob) {
		r, err := name.NewRepository(src)
		if err == nil && r.RegistryStr() == repo.RegistryStr() && r.RepositoryStr() != repo.RepositoryStr() {
			from = r
			up = &ggcr.MountableLayer{Layer: sl, Reference: r.Digest(l.Blob.String())}
			break
		}
	}
	if err := pusher.Upload(ctx, repo, up); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return translate(err)
	}
	switch {
	case sl.opened.Load():
		p.Update(id, "Pushed", 0, 0)
	case from.RepositoryStr() != "":
		p.Update(id, "Mounted from "+from.RepositoryStr(), 0, 0)
	default:
		p.Update(id, "Layer already exists", 0, 0)
	}
	return nil
}

// storeLayer is a layer blob of the image store as go-containerregistry
// uploads it; reading it reports "Pushing" progress.
type storeLayer struct {
	l      image.PushLayer
	mt     types.MediaType
	p      Progress
	id     string
	opened atomic.Bool
	mu     sync.Mutex
}

func (s *storeLayer) Digest() (v1.Hash, error) { return v1.NewHash(s.l.Blob.String()) }
func (s *storeLayer) DiffID() (v1.Hash, error) { return v1.NewHash(s.l.DiffID.String()) }
func (s *storeLayer) Size() (int64, error)     { return s.l.Size, nil }
func (s *storeLayer) MediaType() (types.MediaType, error) {
	return s.mt, nil
}

// Compressed reads the blob as stored; retries read it again from the
// start.
func (s *storeLayer) Compressed() (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened.Store(true)
	return io.NopCloser(&progressReader{
		r: io.NewSectionReader(s.l.File, 0, s.l.Size), p: s.p, id: s.id, status: "Pushing", total: s.l.Size,
	}), nil
}

// Uncompressed is not needed to push; go-containerregistry never calls it
// for layers whose digest and size are known.
func (s *storeLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("uncompressed layer %s: %w", s.l.Blob, errdefs.ErrNotImplemented)
}

// rawManifest is a manifest to PUT as is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }
