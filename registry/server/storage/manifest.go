package storage

import (
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types the registry accepts: OCI and Docker schema2, images
// and indexes (manifest lists).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// ManifestFields is the part of any manifest or index the registry reads.
type ManifestFields struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Blobs         []ocispec.Descriptor `json:"blobs"` // the short-lived OCI artifact manifest
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// IsIndex reports whether mediaType is an index / manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// ParseManifest decodes body as a manifest of mediaType (taken from the
// body when empty) and checks its shape; errors are errdefs.ErrInvalidArgument.
func ParseManifest(mediaType string, body []byte) (ManifestFields, string, error) {
	var m ManifestFields
	if err := json.Unmarshal(body, &m); err != nil {
		return m, "", fmt.Errorf("manifest is not JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	if mediaType == "" {
		// OCI allows an image manifest without mediaType; tell it from an
		// index by its fields.
		mediaType = ocispec.MediaTypeImageManifest
		if m.Config == nil && m.Manifests != nil {
			mediaType = ocispec.MediaTypeImageIndex
		}
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return m, "", fmt.Errorf("media type %q in the body, %q in Content-Type: %w", m.MediaType, mediaType, errdefs.ErrInvalidArgument)
	}
	if m.SchemaVersion != 2 {
		return m, "", fmt.Errorf("schemaVersion %d (only 2 is supported): %w", m.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	switch mediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
		if m.Config == nil {
			return m, "", fmt.Errorf("image manifest without config: %w", errdefs.ErrInvalidArgument)
		}
		if m.Manifests != nil {
			return m, "", fmt.Errorf("image manifest with a manifests list: %w", errdefs.ErrInvalidArgument)
		}
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
		if m.Config != nil || m.Layers != nil {
			return m, "", fmt.Errorf("index with config or layers: %w", errdefs.ErrInvalidArgument)
		}
	default:
		return m, "", fmt.Errorf("unsupported manifest media type %q: %w", mediaType, errdefs.ErrInvalidArgument)
	}
	descs := append(append(append([]ocispec.Descriptor{}, m.Layers...), m.Manifests...), m.Blobs...)
	if m.Config != nil {
		descs = append(descs, *m.Config)
	}
	if m.Subject != nil {
		descs = append(descs, *m.Subject)
	}
	for _, d := range descs {
		if err := d.Digest.Validate(); err != nil {
			return m, "", fmt.Errorf("descriptor digest %q: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
		}
		if d.Size < 0 {
			return m, "", fmt.Errorf("descriptor %s has a negative size: %w", d.Digest, errdefs.ErrInvalidArgument)
		}
	}
	return m, mediaType, nil
}

// NonDistributable reports a layer clients do not upload (Windows foreign
// layers, OCI non-distributable layers, anything with URLs): the registry
// need not hold it.
func NonDistributable(d ocispec.Descriptor) bool {
	switch d.MediaType {
	case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		ocispec.MediaTypeImageLayerNonDistributable, //nolint:staticcheck // still pushed by old tools
		ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd:
		return true
	}
	return len(d.URLs) > 0
}
