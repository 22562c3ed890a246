package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
)

// DistributionBackend is what push, pull --all-tags and login need beyond
// ImageBackend. The engine implements it; a Backend without it answers
// them with NotImplemented.
type DistributionBackend interface {
	// ImagePush pushes "name:tag", or every tag of a bare name, writing
	// docker JSON progress messages to out.
	ImagePush(ctx context.Context, ref, registryAuth string, out io.Writer) error
	// ImagePullAllTags pulls every tag of repository repo.
	ImagePullAllTags(ctx context.Context, repo, platform, registryAuth string, out io.Writer) error
	// AuthLogin checks credentials with the registry (Unauthenticated when
	// it refuses them).
	AuthLogin(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error)
}

// DistributionInspector is GET /distribution/{name}/json. It is kept apart
// from DistributionBackend so a backend may offer either.
type DistributionInspector interface {
	// DistributionInspect returns the descriptor of the manifest (or
	// index) ref names in its registry and the platforms it offers,
	// without pulling; registryAuth is the X-Registry-Auth header.
	DistributionInspect(ctx context.Context, ref, registryAuth string) (registry.DistributionInspect, error)
}

// distributionRoutes serves docker login and distribution inspect; push
// and pull arrive through the /images routes (imagePostDispatch,
// imageCreate).
func (s *server) distributionRoutes() {
	s.handle("POST /auth", s.auth)
	// The name has slashes: {name...} must end the pattern, so /json is
	// taken off by hand.
	s.handle("GET /distribution/{name...}", s.distributionInspect)
}

// distributionInspect is GET /distribution/{name}/json, which the docker
// CLI calls to pin a service's image to its digest.
func (s *server) distributionInspect(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok || name == "" {
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	}
	di, err := optionalBackend[DistributionInspector](s, "registry distribution inspect")
	if err != nil {
		return err
	}
	res, err := di.DistributionInspect(r.Context(), name, r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *server) distributionBackend() (DistributionBackend, error) {
	return optionalBackend[DistributionBackend](s, "registry access")
}

// auth is POST /auth: 200 {"Status":"Login Succeeded"} when the registry
// accepts the credentials, else 401 with the registry's answer.
func (s *server) auth(w http.ResponseWriter, r *http.Request) error {
	db, err := s.distributionBackend()
	if err != nil {
		return err
	}
	var cfg registry.AuthConfig
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cfg); err != nil {
		return fmt.Errorf("invalid login request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	resp, err := db.AuthLogin(r.Context(), cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// imagePush is POST /images/{name}/push?tag=: no tag pushes every tag of
// the repository (docker push --all-tags).
func (s *server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	db, err := s.distributionBackend()
	if err != nil {
		return err
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Errorf("invalid reference %q: %s: %w", name, err.Error(), errdefs.ErrInvalidArgument)
	}
	ref := named.String()
	if tag := r.URL.Query().Get("tag"); tag != "" {
		tagged, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return fmt.Errorf("invalid tag %q: %s: %w", tag, err.Error(), errdefs.ErrInvalidArgument)
		}
		ref = tagged.String()
	}
	js := newJSONStream(w)
	if err := db.ImagePush(r.Context(), ref, r.Header.Get(registry.AuthHeader), js); err != nil {
		return js.fail(err)
	}
	return js.start()
}
