package image

import (
	"context"
	"runtime"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Derive stores an image that has exactly parent's layers (none if parent
// is nil) and config cfg: a Dockerfile step that changes only the config
// (ENV, CMD, LABEL, …) makes no layer. cfg's History must already carry
// the new step (EmptyLayer set); its RootFS is taken from parent. ref,
// when not empty, is tagged.
func (s *Store) Derive(ctx context.Context, parent *Image, cfg dockerspec.DockerOCIImage, ref string) (*Image, error) {
	var refs []reference.Named
	if ref != "" {
		named, err := parseTag(ref)
		if err != nil {
			return nil, err
		}
		refs = append(refs, named)
	}
	// Shared: the parent's layers must not be collected before the new
	// record references them.
	s.layerMu.RLock()
	defer s.layerMu.RUnlock()
	var rec imageRecord
	diffIDs := []digest.Digest{}
	if parent != nil {
		s.mu.RLock()
		e := s.images[parent.ID]
		s.mu.RUnlock()
		if e == nil {
			return nil, notFound(string(parent.ID))
		}
		rec.Layers = append(rec.Layers, e.rec.Layers...)
		rec.Parent = parent.ID
		diffIDs = e.diffIDs()
	}
	completeConfig(&cfg, diffIDs)
	rec.Created = *cfg.Created
	return s.storeConfig(ctx, rec, cfg, refs)
}

// completeConfig fills in what a new image's config needs besides what the
// caller set: its layers, a creation time and, by default, this platform.
// It returns the creation time it set (now) for history entries.
func completeConfig(cfg *dockerspec.DockerOCIImage, diffIDs []digest.Digest) time.Time {
	now := time.Now().UTC()
	if cfg.Created == nil {
		cfg.Created = &now
	}
	if cfg.OS == "" {
		cfg.Platform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}
	return now
}
