package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/image"
	wplatform "wharf.io/wharf/registry/platform"
)

// PullResult is what a pull did.
type PullResult struct {
	Image *image.Image
	// Digest is the digest of the manifest (or index) ref resolved to.
	Digest digest.Digest
	// Updated is false when ref already named this image.
	Updated bool
}

// Pull fetches the image ref (tagged or digested) into store: an index is
// resolved to platform (nil: this host's), missing layer blobs are
// downloaded in parallel straight into the content store (verified on
// write), and layers are unpacked bottom-up as their blobs arrive. The
// image gets ref and repo@digest as references.
func (c *Client) Pull(ctx context.Context, store *image.Store, ref reference.Named, platform *ocispec.Platform, auth registry.AuthConfig, p Progress) (PullResult, error) {
	ident, ok := identifier(ref)
	if !ok {
		return PullResult{}, fmt.Errorf("pull %s: a tag or digest is required: %w", ref, errdefs.ErrInvalidArgument)
	}
	want := wplatform.Host()
	if platform != nil {
		want = wplatform.Normalize(*platform)
	}
	plat := v1.Platform{OS: want.OS, Architecture: want.Architecture, Variant: want.Variant}
	repo, puller, err := c.puller(ref, auth, ggcr.WithPlatform(plat))
	if err != nil {
		return PullResult{}, err
	}
	desc, err := puller.Get(ctx, manifestRef(repo, ref, ident))
	if err != nil {
		return PullResult{}, pullError(ref, err)
	}
	p.Update(ident, "Pulling from "+reference.Path(ref), 0, 0)

	var img v1.Image
	switch {
	case desc.MediaType.IsIndex():
		img, err = desc.Image()
		if err != nil {
			// Neither a registry nor a network failure: no child matched.
			if ctx.Err() == nil && translate(err) == err {
				return PullResult{}, fmt.Errorf("no matching manifest for %s in the manifest list entries: %w", plat.String(), errdefs.ErrNotFound)
			}
			return PullResult{}, pullError(ref, err)
		}
	case desc.MediaType.IsImage():
		if img, err = desc.Image(); err != nil {
			return PullResult{}, pullError(ref, err)
		}
	case desc.MediaType.IsSchema1():
		return PullResult{}, fmt.Errorf("%s: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported: %w", ref, errdefs.ErrNotImplemented)
	default:
		return PullResult{}, fmt.Errorf("%s: unsupported manifest media type %q: %w", ref, desc.MediaType, errdefs.ErrInvalidArgument)
	}
	m, err := img.Manifest()
	if err != nil {
		if ctx.Err() == nil && translate(err) == err {
			// The registry answered, with something that is not a manifest.
			return PullResult{}, fmt.Errorf("%s: invalid manifest: %v: %w", ref, err, errdefs.ErrInvalidArgument)
		}
		return PullResult{}, pullError(ref, err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return PullResult{}, pullError(ref, err)
	}
	// An image that is not an index says its platform only in its config:
	// asked for another one, refuse before downloading anything, as docker
	// does. (An index entry's platform was matched above.)
	if platform != nil && !desc.MediaType.IsIndex() {
		var cfg ocispec.Image
		if err := json.Unmarshal(rawConfig, &cfg); err != nil {
			return PullResult{}, fmt.Errorf("%s: image config: %v: %w", ref, err, errdefs.ErrInvalidArgument)
		}
		if cfg.OS == "" {
			cfg.OS = "linux" // as docker assumes
		}
		// A config that names no architecture cannot be told apart.
		if cfg.Architecture != "" && !wplatform.Match(want, cfg.Platform) {
			return PullResult{}, fmt.Errorf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s: %w",
				reference.FamiliarString(ref), wplatform.Format(want), wplatform.Format(wplatform.Normalize(cfg.Platform)), errdefs.ErrNotFound)
		}
	}
	layers := make([]ocispec.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = ocispec.Descriptor{MediaType: string(l.MediaType), Digest: digest.Digest(l.Digest.String()), Size: l.Size}
		if !l.MediaType.IsLayer() {
			return PullResult{}, fmt.Errorf("%s: layer %d has media type %q: %w", ref, i, l.MediaType, errdefs.ErrInvalidArgument)
		}
	}

	var before digest.Digest
	if prev, err := store.Get(ctx, ref.String()); err == nil {
		before = prev.ID
	}
	pull, err := store.BeginPull(rawConfig, layers)
	if err != nil {
		return PullResult{}, err
	}
	defer pull.Close()
	if err := c.fetchLayers(ctx, puller, repo, pull, layers, p); err != nil {
		return PullResult{}, err
	}
	refs := []reference.Named{ref}
	if _, isDigest := ref.(reference.Canonical); !isDigest {
		canonical, err := reference.WithDigest(reference.TrimNamed(ref), digest.Digest(desc.Digest.String()))
		if err != nil {
			return PullResult{}, err
		}
		refs = append(refs, canonical)
	}
	imgOut, err := pull.Commit(ctx, refs...)
	if err != nil {
		return PullResult{}, err
	}
	blobs := make([]digest.Digest, len(layers))
	for i, l := range layers {
		blobs[i] = l.Digest
	}
	if err := store.AddBlobSource(repo.Name(), blobs...); err != nil {
		return PullResult{}, err
	}
	return PullResult{Image: imgOut, Digest: digest.Digest(desc.Digest.String()), Updated: before != pull.ID()}, nil
}

// download is one distinct blob being fetched; done closes when err is set.
type download struct {
	done chan struct{}
	err  error
}

// fetchLayers downloads the missing blobs (maxDownloads at a time) and
// unpacks the layers in order, each as soon as its blob is in.
func (c *Client) fetchLayers(ctx context.Context, puller *ggcr.Puller, repo name.Repository, pull *image.Pull, layers []ocispec.Descriptor, p Progress) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The first failed download cancels the rest; it, not the
	// cancellation it caused, is what the pull reports.
	var failMu sync.Mutex
	var failed error
	fail := func(err error) {
		failMu.Lock()
		if failed == nil {
			failed = err
		}
		failMu.Unlock()
		cancel()
	}
	stopped := func() error {
		failMu.Lock()
		defer failMu.Unlock()
		if failed != nil && parent.Err() == nil {
			return failed
		}
		return ctx.Err()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxDownloads)
	byBlob := map[digest.Digest]*download{}
	existed := make([]bool, len(layers))
	waits := make([]*download, len(layers))
	for i, l := range layers {
		id := shortID(l.Digest)
		if pull.LayerExists(ctx, i) {
			existed[i] = true
			p.Update(id, "Already exists", 0, 0)
			continue
		}
		if d := byBlob[l.Digest]; d != nil {
			waits[i] = d
			continue
		}
		d := &download{done: make(chan struct{})}
		byBlob[l.Digest], waits[i] = d, d
		if pull.HasBlob(l.Digest) {
			close(d.done)
			continue
		}
		p.Update(id, "Pulling fs layer", 0, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(d.done)
			if d.err = acquire(ctx, sem, p, id); d.err != nil {
				return
			}
			defer func() { <-sem }()
			d.err = c.fetchBlob(ctx, puller, repo, pull, l, p)
			if d.err != nil {
				fail(d.err)
			}
		}()
	}
	// Each layer unpacks into a directory of its own as soon as its blob
	// is in (one per CPU at a time); the loop below stacks them in order.
	staged := make([]chan struct{}, len(layers))
	cpus := make(chan struct{}, runtime.NumCPU())
	for i := range layers {
		if existed[i] {
			continue
		}
		staged[i] = make(chan struct{})
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer close(staged[i])
			if d := waits[i]; d != nil {
				select {
				case <-d.done:
				case <-ctx.Done():
					return
				}
				if d.err != nil {
					return
				}
			}
			select {
			case cpus <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-cpus }()
			pull.Stage(ctx, i)
		}(i)
	}
	for i, l := range layers {
		id := shortID(l.Digest)
		if d := waits[i]; d != nil {
			select {
			case <-d.done:
			case <-ctx.Done():
				return stopped()
			}
			if d.err != nil {
				return stopped()
			}
		}
		if staged[i] != nil {
			select {
			case <-staged[i]:
			case <-ctx.Done():
				return stopped()
			}
		}
		if !existed[i] {
			p.Update(id, "Extracting", l.Size, l.Size)
		}
		if err := pull.Unpack(ctx, i); err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if !existed[i] {
			p.Update(id, "Pull complete", 0, 0)
		}
	}
	return nil
}

// fetchBlob streams one layer blob into the content store.
func (c *Client) fetchBlob(ctx context.Context, puller *ggcr.Puller, repo name.Repository, pull *image.Pull, l ocispec.Descriptor, p Progress) error {
	id := shortID(l.Digest)
	layer, err := puller.Layer(ctx, repo.Digest(l.Digest.String()))
	if err != nil {
		return translate(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return translate(err)
	}
	defer rc.Close()
	r := &progressReader{r: rc, p: p, id: id, status: "Downloading", total: l.Size}
	if err := pull.WriteBlob(ctx, l.Digest, io.Reader(r)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("download %s: %w", l.Digest, translate(err))
	}
	p.Update(id, "Verifying Checksum", 0, 0)
	p.Update(id, "Download complete", 0, 0)
	return nil
}

// Tags lists the tags of ref's repository, for `pull --all-tags`.
func (c *Client) Tags(ctx context.Context, ref reference.Named, auth registry.AuthConfig) ([]string, error) {
	repo, puller, err := c.puller(ref, auth)
	if err != nil {
		return nil, err
	}
	tags, err := puller.List(ctx, repo)
	if err != nil {
		return nil, pullError(ref, err)
	}
	return tags, nil
}

// identifier is ref's tag or digest.
func identifier(ref reference.Named) (string, bool) {
	if d, ok := ref.(reference.Canonical); ok {
		return d.Digest().String(), true
	}
	if t, ok := ref.(reference.Tagged); ok {
		return t.Tag(), true
	}
	return "", false
}

// pullError words a failed manifest fetch as docker does.
func pullError(ref reference.Named, err error) error {
	err = translate(err)
	repoName := reference.FamiliarName(ref)
	switch {
	case errdefs.IsUnauthorized(err), errdefs.IsPermissionDenied(err):
		// Docker answers 404-style so clients do not prompt for a login
		// on every missing image.
		return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %v: %w",
			repoName, err, errdefs.ErrNotFound)
	case errdefs.IsNotFound(err):
		ident, _ := identifier(ref)
		sep := ":"
		if _, ok := ref.(reference.Canonical); ok {
			sep = "@"
		}
		return fmt.Errorf("manifest for %s%s%s not found: %w", reference.FamiliarName(ref), sep, ident, err)
	}
	return err
}
