package api

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/engine"
)

// SwarmSecretBackend is what the /secrets and /configs routes need.
type SwarmSecretBackend interface {
	SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error)
	SecretList(ctx context.Context, f engine.Filters) ([]swarm.Secret, error)
	SecretInspect(ctx context.Context, ref string) (swarm.Secret, error)
	SecretRemove(ctx context.Context, ref string) error
	ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error)
	ConfigList(ctx context.Context, f engine.Filters) ([]swarm.Config, error)
	ConfigInspect(ctx context.Context, ref string) (swarm.Config, error)
	ConfigRemove(ctx context.Context, ref string) error
}

// SwarmSecretUpdater is the optional part of a secrets backend behind
// POST /secrets/{id}/update and /configs/{id}/update. As in docker only the
// labels may change; version must be the object's current Version.Index
// (Conflict otherwise). Without it those routes answer NotImplemented.
type SwarmSecretUpdater interface {
	SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error
	ConfigUpdate(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error
}

// secretRoutes serves swarm secrets and configs.
func (s *server) secretRoutes() {
	s.handle("POST /secrets/{id}/update", s.withSecretUpdater(func(b SwarmSecretUpdater, w http.ResponseWriter, r *http.Request) error {
		version, err := versionParam(r)
		if err != nil {
			return err
		}
		var spec swarm.SecretSpec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		if err := b.SecretUpdate(r.Context(), r.PathValue("id"), version, spec); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	s.handle("POST /configs/{id}/update", s.withSecretUpdater(func(b SwarmSecretUpdater, w http.ResponseWriter, r *http.Request) error {
		version, err := versionParam(r)
		if err != nil {
			return err
		}
		var spec swarm.ConfigSpec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		if err := b.ConfigUpdate(r.Context(), r.PathValue("id"), version, spec); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	s.handle("GET /secrets", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		f, err := filtersParam(r)
		if err != nil {
			return err
		}
		list, err := b.SecretList(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	}))
	s.handle("POST /secrets/create", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		var spec swarm.SecretSpec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		id, err := b.SecretCreate(r.Context(), spec)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: id})
	}))
	s.handle("GET /secrets/{id}", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		v, err := b.SecretInspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}))
	s.handle("DELETE /secrets/{id}", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		if err := b.SecretRemove(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	s.handle("GET /configs", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		f, err := filtersParam(r)
		if err != nil {
			return err
		}
		list, err := b.ConfigList(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	}))
	s.handle("POST /configs/create", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		var spec swarm.ConfigSpec
		if err := decodeJSON(r, &spec, false); err != nil {
			return err
		}
		id, err := b.ConfigCreate(r.Context(), spec)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: id})
	}))
	s.handle("GET /configs/{id}", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		v, err := b.ConfigInspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}))
	s.handle("DELETE /configs/{id}", s.withSecrets(func(b SwarmSecretBackend, w http.ResponseWriter, r *http.Request) error {
		if err := b.ConfigRemove(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
}

// withSecrets resolves the backend for a secrets/configs handler.
func (s *server) withSecrets(fn func(SwarmSecretBackend, http.ResponseWriter, *http.Request) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := optionalBackend[SwarmSecretBackend](s, "managing swarm secrets and configs")
		if err != nil {
			return err
		}
		return fn(b, w, r)
	}
}

// withSecretUpdater resolves the optional update backend.
func (s *server) withSecretUpdater(fn func(SwarmSecretUpdater, http.ResponseWriter, *http.Request) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := optionalBackend[SwarmSecretUpdater](s, "updating swarm secrets and configs")
		if err != nil {
			return err
		}
		return fn(b, w, r)
	}
}
