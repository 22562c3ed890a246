package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

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

// distributionRoutes serves docker login; push and pull arrive through the
// /images routes (imagePostDispatch, imageCreate).
func (s *server) distributionRoutes() {
	s.handle("POST /auth", s.auth)
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
