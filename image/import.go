package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import makes a one-layer image from a root filesystem tarball (plain,
// gzip, bzip2, xz or zstd), as `docker import` does: changes are Dockerfile
// instructions applied to the config, message becomes the history comment,
// and ref (if not empty) is tagged. The layer is stored uncompressed, so its
// blob digest is its diff ID.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string, message string) (*Image, error) {
	var refs []reference.Named
	if ref != "" {
		named, err := parseTag(ref)
		if err != nil {
			return nil, err
		}
		refs = append(refs, named)
	}
	var cfg dockerspec.DockerOCIImage
	if err := ApplyChanges(&cfg.Config, changes); err != nil {
		return nil, err
	}

	s.layerMu.RLock()
	defer s.layerMu.RUnlock()
	rc, err := compression.DecompressStream(r)
	if err != nil {
		return nil, fmt.Errorf("import: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer rc.Close()
	diffID, _, err := s.blobs.write(ctx, rc, "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	size, err := s.ensureLayer(ctx, "", diffID, diffID, diffID)
	if err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	comment := message
	if comment == "" {
		comment = "Imported from -"
	}
	cfg.Created = &now
	cfg.Platform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}
	cfg.History = []ocispec.History{{Created: &now, Comment: comment}}
	rec := imageRecord{
		Layers:  []layerRecord{{Blob: diffID, MediaType: ocispec.MediaTypeImageLayer, DiffID: diffID, Size: size}},
		Created: now,
	}
	return s.storeConfig(ctx, rec, cfg, refs)
}

// storeConfig writes cfg as the image's config blob (its digest is the ID)
// and then the image record.
func (s *Store) storeConfig(ctx context.Context, rec imageRecord, cfg dockerspec.DockerOCIImage, refs []reference.Named) (*Image, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	id, _, err := s.blobs.write(ctx, bytes.NewReader(raw), "")
	if err != nil {
		return nil, err
	}
	rec.ID = id
	return s.addImage(rec, cfg, refs)
}
