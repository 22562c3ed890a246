package remote

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inspect answers GET /distribution/{name}/json. It returns the
// descriptor of the manifest or index that ref names in its registry
// (a bare name means :latest), and the platforms it offers: an index's
// entries, or the platform in a single image's config. Only the manifest
// and, for a single image, its config blob are fetched; no layer is. A
// refusal keeps its class: Unauthenticated for 401, PermissionDenied for
// 403, NotFound for an unknown repository, tag or digest.
func (c *Client) Inspect(ctx context.Context, ref reference.Named, auth registry.AuthConfig) (registry.DistributionInspect, error) {
	ref = reference.TagNameOnly(ref)
	ident, _ := identifier(ref)
	repo, puller, err := c.puller(ref, auth)
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	desc, err := puller.Get(ctx, manifestRef(repo, ref, ident))
	if err != nil {
		return registry.DistributionInspect{}, inspectError(ref, err)
	}
	out := registry.DistributionInspect{Descriptor: ocispec.Descriptor{
		MediaType: string(desc.MediaType),
		Digest:    digest.Digest(desc.Digest.String()),
		Size:      desc.Size,
	}}
	if out.Descriptor.Size == 0 {
		out.Descriptor.Size = int64(len(desc.Manifest))
	}
	switch {
	case desc.MediaType.IsIndex():
		var idx v1.IndexManifest
		if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
			return registry.DistributionInspect{}, fmt.Errorf("%s: invalid index: %v: %w", reference.FamiliarString(ref), err, errdefs.ErrInvalidArgument)
		}
		for _, m := range idx.Manifests {
			if m.Platform == nil {
				continue // attestations and other non-image entries
			}
			out.Platforms = append(out.Platforms, ocispec.Platform{
				OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant,
				OSVersion: m.Platform.OSVersion, OSFeatures: m.Platform.OSFeatures,
			})
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return registry.DistributionInspect{}, inspectError(ref, err)
		}
		// As docker: a config that cannot be read leaves the platforms
		// empty rather than failing the inspect.
		if raw, err := img.RawConfigFile(); err == nil {
			var cfg ocispec.Image
			if json.Unmarshal(raw, &cfg) == nil && (cfg.OS != "" || cfg.Architecture != "") {
				out.Platforms = append(out.Platforms, cfg.Platform)
			}
		} else if ctx.Err() != nil {
			return registry.DistributionInspect{}, ctx.Err()
		}
	}
	return out, nil
}

// inspectError words a failed manifest fetch, keeping its class (a denied
// inspect is not turned into "not found" as a denied pull is).
func inspectError(ref reference.Named, err error) error {
	err = translate(err)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s: not found: %w", reference.FamiliarString(ref), err)
	}
	return fmt.Errorf("%s: %w", reference.FamiliarString(ref), err)
}
