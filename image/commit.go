package image

import (
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/image/layer"
	"wharf.io/wharf/snapshot"
)

// Commit makes a new image from the changes in active snapshot snapshotKey
// (a container's root filesystem on top of parent, nil for an empty base):
// the upper directory becomes a layer (whiteouts in the portable .wh. form),
// and cfg — the new image's configuration — gets the parent's layers plus the
// new one. History entries in cfg beyond the parent's are kept; without any,
// one is appended. ref, when not empty, is tagged. The container's snapshot
// is left as it was.
func (s *Store) Commit(ctx context.Context, parent *Image, snapshotKey string, cfg dockerspec.DockerOCIImage, ref string) (*Image, error) {
	var refs []reference.Named
	if ref != "" {
		named, err := parseTag(ref)
		if err != nil {
			return nil, err
		}
		refs = append(refs, named)
	}
	var parentLayers []layerRecord
	var parentHistory []ocispec.History
	if parent != nil {
		s.mu.RLock()
		e := s.images[parent.ID]
		s.mu.RUnlock()
		if e == nil {
			return nil, notFound(string(parent.ID))
		}
		parentLayers = e.rec.Layers
		parentHistory = e.config.History
	}
	mounts, err := s.sn.Mounts(ctx, snapshotKey)
	if err != nil {
		return nil, err
	}
	upper, err := snapshot.UpperDir(mounts)
	if err != nil {
		return nil, err
	}

	s.layerMu.RLock()
	defer s.layerMu.RUnlock()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(layer.Diff(ctx, upper, pw)) }()
	diffID, _, err := s.blobs.write(ctx, pr, "")
	pr.CloseWithError(err)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", snapshotKey, err)
	}
	var diffIDs []digest.Digest
	for _, l := range parentLayers {
		diffIDs = append(diffIDs, l.DiffID)
	}
	var parentChain digest.Digest
	if len(diffIDs) > 0 {
		parentChain = identity.ChainID(diffIDs)
	}
	diffIDs = append(diffIDs, diffID)
	size, err := s.ensureLayer(ctx, parentChain, identity.ChainID(diffIDs), diffID, diffID)
	if err != nil {
		return nil, err
	}

	now := completeConfig(&cfg, diffIDs)
	if len(cfg.History) <= len(parentHistory) {
		cfg.History = append(append([]ocispec.History{}, parentHistory...), ocispec.History{Created: &now})
	}
	rec := imageRecord{
		Layers:  append(append([]layerRecord{}, parentLayers...), layerRecord{Blob: diffID, MediaType: ocispec.MediaTypeImageLayer, DiffID: diffID, Size: size}),
		Created: *cfg.Created,
	}
	if parent != nil {
		rec.Parent = parent.ID
	}
	return s.storeConfig(ctx, rec, cfg, refs)
}
