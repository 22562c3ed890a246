package api

import (
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
)

func (s *server) networkRoutes() {
	s.handle("GET /networks", s.networkList)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("POST /networks/prune", s.networkPrune)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("DELETE /networks/{id}", s.networkRemove)
	s.handle("POST /networks/{id}/connect", s.networkConnect)
	s.handle("POST /networks/{id}/disconnect", s.networkDisconnect)
}

func (s *server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	nets, err := s.backend.NetworkList(r.Context(), f)
	if err != nil {
		return err
	}
	if nets == nil {
		nets = []network.Summary{}
	}
	return writeJSON(w, http.StatusOK, nets)
}

func (s *server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Name == "" {
		return fmt.Errorf("network name must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := s.backend.NetworkCreate(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.backend.NetworkInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if n.Containers == nil {
		n.Containers = map[string]network.EndpointResource{}
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return fmt.Errorf("container must be given: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.backend.NetworkConnect(r.Context(), r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Container == "" {
		return fmt.Errorf("container must be given: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.backend.NetworkDisconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	rep, err := s.backend.NetworkPrune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
