package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/image"
	wplatform "wharf.io/wharf/registry/platform"
	"wharf.io/wharf/registry/remote"
)

// registryClient is made per call: it is two strings, and the HTTP
// connections it uses are shared process-wide by the remote package.
func (e *Engine) registryClient() *remote.Client {
	return remote.New(e.cfg.InsecureRegistries, "wharf/"+Version).WithCertsDir(e.cfg.RegistryCertsDir)
}

// ImagePull implements POST /images/create?fromImage=: ref is a tag
// (default latest) or digest reference; platform "os/arch[/variant]" picks
// from a multi-platform image (default: this host's); registryAuth is the
// X-Registry-Auth header. Progress goes to out as docker JSON messages; an
// error returned after the first message was not written to out.
func (e *Engine) ImagePull(ctx context.Context, ref, platform, registryAuth string, out io.Writer) error {
	named, err := image.ParseReference(ref)
	if err != nil {
		return err
	}
	plat, auth, err := pullArgs(platform, registryAuth)
	if err != nil {
		return err
	}
	p := newJSONProgress(out)
	if err := e.pullOne(ctx, named, plat, auth, p); err != nil {
		return err
	}
	p.Update("", "Status: "+pullStatus(named, p.updated), 0, 0)
	return nil
}

// ImagePullAllTags is `docker pull --all-tags`: every tag of repository
// repo.
func (e *Engine) ImagePullAllTags(ctx context.Context, repo, platform, registryAuth string, out io.Writer) error {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil || !reference.IsNameOnly(named) {
		return fmt.Errorf("invalid repository name %q: %w", repo, errdefs.ErrInvalidArgument)
	}
	plat, auth, err := pullArgs(platform, registryAuth)
	if err != nil {
		return err
	}
	tags, err := e.registryClient().Tags(ctx, named, auth)
	if err != nil {
		return err
	}
	p := newJSONProgress(out)
	for _, t := range tags {
		tagged, err := reference.WithTag(named, t)
		if err != nil {
			continue // a registry listing a tag we cannot name
		}
		if err := e.pullOne(ctx, tagged, plat, auth, p); err != nil {
			return err
		}
	}
	p.Update("", "Status: "+pullStatus(named, p.updated), 0, 0)
	return nil
}

func (e *Engine) pullOne(ctx context.Context, named reference.Named, plat *ocispec.Platform, auth registry.AuthConfig, p *jsonProgress) error {
	res, err := e.registryClient().Pull(ctx, e.images, named, plat, auth, p)
	if err != nil {
		return err
	}
	p.Update("", "Digest: "+res.Digest.String(), 0, 0)
	if res.Updated {
		p.updated = true
	}
	e.events.publish(events.ImageEventType, events.ActionPull, image.FamiliarString(named),
		map[string]string{"name": reference.FamiliarName(named)})
	return nil
}

func pullStatus(named reference.Named, updated bool) string {
	if updated {
		return "Downloaded newer image for " + image.FamiliarString(named)
	}
	return "Image is up to date for " + image.FamiliarString(named)
}

func pullArgs(platform, registryAuth string) (*ocispec.Platform, registry.AuthConfig, error) {
	auth, err := decodeAuth(registryAuth)
	if err != nil {
		return nil, auth, err
	}
	if platform == "" {
		return nil, auth, nil
	}
	p, err := wplatform.Parse(platform)
	if err != nil {
		return nil, auth, err
	}
	return &p, auth, nil
}

// decodeAuth reads X-Registry-Auth (base64url JSON, may be empty).
func decodeAuth(header string) (registry.AuthConfig, error) {
	a, err := authconfig.Decode(header)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return *a, nil
}

// ImagePush implements POST /images/{name}/push: ref "name:tag" pushes that
// tag, a bare name every tag of the repository.
func (e *Engine) ImagePush(ctx context.Context, ref, registryAuth string, out io.Writer) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("invalid reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Digested); ok {
		return fmt.Errorf("cannot push a digest reference: %w", errdefs.ErrInvalidArgument)
	}
	auth, err := decodeAuth(registryAuth)
	if err != nil {
		return err
	}
	var tags []reference.NamedTagged
	if t, ok := named.(reference.NamedTagged); ok {
		if _, err := e.images.Get(ctx, t.String()); err != nil {
			return fmt.Errorf("An image does not exist locally with the tag: %s: %w", reference.FamiliarName(named), errdefs.ErrNotFound)
		}
		tags = append(tags, t)
	} else {
		tags = e.images.RepositoryTags(named.Name())
		if len(tags) == 0 {
			return fmt.Errorf("An image does not exist locally with the tag: %s: %w", reference.FamiliarName(named), errdefs.ErrNotFound)
		}
	}
	p := newJSONProgress(out)
	p.Update("", "The push refers to repository ["+named.Name()+"]", 0, 0)
	client := e.registryClient()
	for _, t := range tags {
		res, err := client.Push(ctx, e.images, t, auth, p)
		if err != nil {
			return err
		}
		p.Update("", fmt.Sprintf("%s: digest: %s size: %d", res.Tag, res.Digest, res.Size), 0, 0)
		p.aux(map[string]any{"Tag": res.Tag, "Digest": res.Digest.String(), "Size": res.Size})
		e.events.publish(events.ImageEventType, events.ActionPush, image.FamiliarString(t),
			map[string]string{"name": reference.FamiliarName(t)})
	}
	return nil
}

// AuthLogin implements POST /auth: it checks the credentials against the
// registry (Unauthenticated when they are wrong) and stores nothing.
func (e *Engine) AuthLogin(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	return e.registryClient().Login(ctx, auth)
}

// jsonProgress writes remote.Progress as docker's JSON messages, one
// message per Write so the API flushes each.
type jsonProgress struct {
	mu      sync.Mutex
	out     io.Writer
	updated bool // some pull of the operation changed what a tag names
}

func newJSONProgress(out io.Writer) *jsonProgress { return &jsonProgress{out: out} }

// Update implements remote.Progress.
func (j *jsonProgress) Update(id, status string, current, total int64) {
	m := jsonstream.Message{ID: id, Status: status}
	if total > 0 {
		m.Progress = &jsonstream.Progress{Current: current, Total: total}
	}
	j.write(m)
}

func (j *jsonProgress) aux(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := json.RawMessage(raw)
	j.write(jsonstream.Message{Aux: &msg})
}

func (j *jsonProgress) write(m jsonstream.Message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// A client that went away cancels the request context; the pull
	// notices that, not the failed write.
	j.out.Write(append(b, '\r', '\n'))
}

// DistributionInspect implements GET /distribution/{name}/json: the
// descriptor and platforms of what ref names in its registry, read without
// downloading the image. registryAuth is X-Registry-Auth; as dockerd, an
// undecodable one is ignored (the registry then answers anonymously).
func (e *Engine) DistributionInspect(ctx context.Context, ref, registryAuth string) (registry.DistributionInspect, error) {
	named, err := image.ParseReference(ref)
	if err != nil {
		return registry.DistributionInspect{}, err
	}
	auth, _ := decodeAuth(registryAuth)
	return e.registryClient().Inspect(ctx, named, auth)
}
