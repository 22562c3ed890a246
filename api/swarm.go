package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster"
)

// swarmRoutes serves swarm mode's cluster and node endpoints.
func (s *server) swarmRoutes() {
	s.handle("GET /swarm", s.swarmInspect)
	s.handle("POST /swarm/init", s.swarmInit)
	s.handle("POST /swarm/join", s.swarmJoin)
	s.handle("POST /swarm/leave", s.swarmLeave)
	s.handle("POST /swarm/update", s.swarmUpdate)
	s.handle("GET /swarm/unlockkey", s.swarmUnlockKey)
	s.handle("POST /swarm/unlock", s.swarmUnlock)
	s.handle("GET /nodes", s.nodeList)
	s.handle("GET /nodes/{id}", s.nodeInspect)
	s.handle("DELETE /nodes/{id}", s.nodeRemove)
	s.handle("POST /nodes/{id}/update", s.nodeUpdate)
}

func (s *server) swarmBackend() (SwarmBackend, error) {
	return optionalBackend[SwarmBackend](s, "swarm mode")
}

// versionParam reads the mandatory ?version= of update calls.
func versionParam(r *http.Request) (uint64, error) {
	v := strings.TrimSpace(r.URL.Query().Get("version"))
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid version %q: %w", v, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

func (s *server) swarmInit(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	var req swarm.InitRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	id, err := sb.SwarmInit(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, id)
}

func (s *server) swarmJoin(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	var req swarm.JoinRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := sb.SwarmJoin(r.Context(), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) swarmLeave(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	if err := sb.SwarmLeave(r.Context(), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) swarmInspect(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	sw, err := sb.SwarmInspect(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sw)
}

func (s *server) swarmUpdate(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	var spec swarm.Spec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	flags := cluster.UpdateFlags{
		RotateWorkerToken:      boolValue(r, "rotateWorkerToken"),
		RotateManagerToken:     boolValue(r, "rotateManagerToken"),
		RotateManagerUnlockKey: boolValue(r, "rotateManagerUnlockKey"),
	}
	if err := sb.SwarmUpdate(r.Context(), version, spec, flags); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) swarmUnlockKey(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	key, err := sb.SwarmUnlockKey(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: key})
}

func (s *server) swarmUnlock(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	var req swarm.UnlockRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := sb.SwarmUnlock(r.Context(), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) nodeList(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	nodes, err := sb.NodeList(r.Context(), f)
	if err != nil {
		return err
	}
	if nodes == nil {
		nodes = []swarm.Node{}
	}
	return writeJSON(w, http.StatusOK, nodes)
}

func (s *server) nodeInspect(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	n, err := sb.NodeInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *server) nodeUpdate(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	var spec swarm.NodeSpec
	if err := decodeJSON(r, &spec, false); err != nil {
		return err
	}
	if err := sb.NodeUpdate(r.Context(), r.PathValue("id"), version, spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) nodeRemove(w http.ResponseWriter, r *http.Request) error {
	sb, err := s.swarmBackend()
	if err != nil {
		return err
	}
	if err := sb.NodeRemove(r.Context(), r.PathValue("id"), boolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
