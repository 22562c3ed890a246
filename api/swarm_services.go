package api

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/engine"
)

// SwarmServiceBackend is what the /services and /tasks routes need.
type SwarmServiceBackend interface {
	ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, encodedAuth string) (swarm.ServiceCreateResponse, error)
	ServiceInspect(ctx context.Context, ref string) (swarm.Service, error)
	// ServiceUpdate fails with Conflict when version is not the service's.
	ServiceUpdate(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback bool) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, ref string) error
	ServiceList(ctx context.Context, filters engine.Filters, status bool) ([]swarm.Service, error)
	ServiceLogs(ctx context.Context, ref string, opts engine.LogsOptions, stdout, stderr io.Writer) error
	TaskList(ctx context.Context, filters engine.Filters) ([]swarm.Task, error)
	TaskInspect(ctx context.Context, id string) (swarm.Task, error)
}

// ServiceAuthUpdater is ServiceUpdate with the registry credentials the
// service's tasks pull with: X-Registry-Auth, or else registryAuthFrom
// (spec, previous-spec). A backend without it ignores both.
type ServiceAuthUpdater interface {
	ServiceUpdateAuth(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback bool, auth engine.RegistryAuthUpdate) (swarm.ServiceUpdateResponse, error)
}

// serviceRoutes serves swarm services and their tasks.
func (s *server) serviceRoutes() {
	s.handle("GET /services", s.serviceList)
	s.handle("POST /services/create", s.serviceCreate)
	s.handle("GET /services/{id}", s.serviceInspect)
	s.handle("DELETE /services/{id}", s.serviceRemove)
	s.handle("POST /services/{id}/update", s.serviceUpdate)
	s.handle("GET /services/{id}/logs", s.serviceLogs)
	s.handle("GET /tasks", s.taskList)
	s.handle("GET /tasks/{id}", s.taskInspect)
	s.handle("GET /tasks/{id}/logs", s.serviceLogs)
}

func (s *server) serviceBackend() (SwarmServiceBackend, error) {
	return optionalBackend[SwarmServiceBackend](s, "managing swarm services")
}

func (s *server) serviceList(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	list, err := sb.ServiceList(r.Context(), f, boolValue(r, "status"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	resp, err := sb.ServiceCreate(r.Context(), spec, r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *server) serviceInspect(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	svc, err := sb.ServiceInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if boolValue(r, "insertDefaults") {
		insertServiceDefaults(&svc.Spec)
	}
	return writeJSON(w, http.StatusOK, svc)
}

func (s *server) serviceRemove(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	if err := sb.ServiceRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	q, err := parseServiceUpdateQuery(r)
	if err != nil {
		return err
	}
	var spec swarm.ServiceSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	var resp swarm.ServiceUpdateResponse
	if au, ok := sb.(ServiceAuthUpdater); ok {
		// parseServiceUpdateQuery checked registryAuthFrom.
		auth := engine.RegistryAuthUpdate{Encoded: r.Header.Get(registry.AuthHeader),
			From: swarm.RegistryAuthSource(r.URL.Query().Get("registryAuthFrom"))}
		resp, err = au.ServiceUpdateAuth(r.Context(), r.PathValue("id"), q.version, spec, q.rollback, auth)
	} else {
		resp, err = sb.ServiceUpdate(r.Context(), r.PathValue("id"), q.version, spec, q.rollback)
	}
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	opts, err := logsOptions(r)
	if err != nil {
		return err
	}
	ctx, cancel := streamContext(r)
	defer cancel()
	w.Header().Set("Content-Type", streamMediaType(r, false))
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	if err := fw.Flush(); err != nil {
		return err
	}
	stdout, stderr, system := newStdWriters(fw)
	err = sb.ServiceLogs(ctx, r.PathValue("id"), opts, stdout, stderr)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(system, "Error running logs job: %s", errorMessage(err))
	}
	return err
}

func (s *server) taskList(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	list, err := sb.TaskList(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *server) taskInspect(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.serviceBackend()
	if err != nil {
		return err
	}
	t, err := sb.TaskInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
