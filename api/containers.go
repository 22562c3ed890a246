package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client/pkg/versions"

	"wharf.io/wharf/engine"
)

func (s *server) containerRoutes() {
	s.handle("POST /containers/create", s.containerCreate)
	s.handle("GET /containers/json", s.containerList)
	s.handle("POST /containers/prune", s.containerPrune)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("DELETE /containers/{id}", s.containerRemove)
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("POST /containers/{id}/pause", s.containerPause)
	s.handle("POST /containers/{id}/unpause", s.containerUnpause)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("GET /containers/{id}/stats", s.containerStats)

	s.handle("GET /containers/{id}/attach/ws", notImplemented("attach over websocket"))
	s.handle("POST /containers/{id}/update", notImplemented("container update"))
	s.handle("GET /containers/{id}/changes", notImplemented("container diff"))
	s.handle("GET /containers/{id}/export", notImplemented("container export"))
	s.handle("GET /containers/{id}/archive", notImplemented("copying files from containers"))
	s.handle("HEAD /containers/{id}/archive", notImplemented("copying files from containers"))
	s.handle("PUT /containers/{id}/archive", notImplemented("copying files to containers"))
	s.handle("POST /containers/{id}/checkpoints", notImplemented("checkpoints"))
	s.handle("GET /containers/{id}/checkpoints", notImplemented("checkpoints"))
}

func (s *server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	var req container.CreateRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Config == nil {
		return fmt.Errorf("config cannot be empty in order to create a container: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := s.backend.ContainerCreate(r.Context(), name, &req)
	if err != nil {
		if errdefs.IsNotFound(err) && req.Image != "" {
			// The docker CLI pulls on a 404 from create and shows this
			// message, so a missing image must read like docker's.
			if _, ierr := s.backend.ImageInspect(r.Context(), req.Image); errdefs.IsNotFound(ierr) {
				return fmt.Errorf("No such image: %s: %w", familiarRef(req.Image), errdefs.ErrNotFound)
			}
		}
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, resp)
}

// familiarRef shows a reference as docker prints it ("busybox:latest").
func familiarRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

func (s *server) containerList(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	limit, err := intValue(r, "limit", 0)
	if err != nil {
		return err
	}
	list, err := s.backend.ContainerList(r.Context(), engine.ListOptions{
		All:     boolValue(r, "all"),
		Limit:   limit,
		Size:    boolValue(r, "size"),
		Filters: f,
	})
	if err != nil {
		return err
	}
	if list == nil {
		list = []container.Summary{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	rep, err := s.backend.ContainerPrune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (s *server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.backend.ContainerInspect(r.Context(), r.PathValue("id"), boolValue(r, "size"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) containerStart(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.ContainerStart(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopParams reads ?signal= and ?t= of stop and restart.
func stopParams(r *http.Request) (string, *int, error) {
	timeout, err := optionalInt(r, "t")
	if err != nil {
		return "", nil, err
	}
	if timeout != nil && *timeout < -1 {
		return "", nil, fmt.Errorf("invalid value for \"t\": %d: %w", *timeout, errdefs.ErrInvalidArgument)
	}
	return r.URL.Query().Get("signal"), timeout, nil
}

func (s *server) containerStop(w http.ResponseWriter, r *http.Request) error {
	sig, timeout, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := s.backend.ContainerStop(r.Context(), r.PathValue("id"), sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	sig, timeout, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := s.backend.ContainerRestart(r.Context(), r.PathValue("id"), sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerKill(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.ContainerKill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	if boolValue(r, "link") {
		return fmt.Errorf("container links are not supported: %w", errdefs.ErrNotImplemented)
	}
	if err := s.backend.ContainerRemove(r.Context(), r.PathValue("id"), boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerRename(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if strings.TrimPrefix(name, "/") == "" {
		return fmt.Errorf("new name for the container is required: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.backend.ContainerRename(r.Context(), r.PathValue("id"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerPause(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.ContainerPause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerUnpause(w http.ResponseWriter, r *http.Request) error {
	if err := s.backend.ContainerUnpause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) containerWait(w http.ResponseWriter, r *http.Request) error {
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "":
		cond = container.WaitConditionNotRunning
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return fmt.Errorf("invalid condition: %q: %w", cond, errdefs.ErrInvalidArgument)
	}
	ctx, cancel := streamContext(r)
	defer cancel()
	ch, err := s.backend.ContainerWait(ctx, r.PathValue("id"), cond)
	if err != nil {
		return err
	}
	// The header goes out before the wait ends: `docker run` sends start
	// only after its wait request has been answered with headers.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return err
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil
		}
		return json.NewEncoder(w).Encode(resp)
	case <-ctx.Done():
		return nil
	}
}

func (s *server) containerResize(w http.ResponseWriter, r *http.Request) error {
	h, err := uintValue(r, "h")
	if err != nil {
		return err
	}
	wd, err := uintValue(r, "w")
	if err != nil {
		return err
	}
	if err := s.backend.ContainerResize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) containerTop(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.backend.ContainerTop(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) containerStats(w http.ResponseWriter, r *http.Request) error {
	stream := boolValueOrDefault(r, "stream", true)
	if stream && boolValue(r, "one-shot") {
		return fmt.Errorf("cannot have stream=true and one-shot=true: %w", errdefs.ErrInvalidArgument)
	}
	ctx, cancel := streamContext(r)
	defer cancel()
	var (
		fw  *flushWriter
		enc *json.Encoder
	)
	emit := func(st *container.StatsResponse) error {
		if fw == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			fw = newFlushWriter(w)
			enc = json.NewEncoder(fw)
		}
		return enc.Encode(st)
	}
	return s.backend.ContainerStats(ctx, r.PathValue("id"), stream, emit)
}

// logsOptions validates the query of GET /containers/{id}/logs.
func logsOptions(r *http.Request) (engine.LogsOptions, error) {
	opts := engine.LogsOptions{
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		Follow:     boolValue(r, "follow"),
		Timestamps: boolValue(r, "timestamps"),
		Tail:       -1,
	}
	if !opts.Stdout && !opts.Stderr {
		return opts, fmt.Errorf("bad parameters: you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	q := r.URL.Query()
	var err error
	if opts.Since, err = parseTimestamp("since", q.Get("since")); err != nil {
		return opts, err
	}
	if opts.Until, err = parseTimestamp("until", q.Get("until")); err != nil {
		return opts, err
	}
	if tail := q.Get("tail"); tail != "" && tail != "all" {
		if opts.Tail, err = intValue(r, "tail", -1); err != nil {
			return opts, err
		}
		if opts.Tail < 0 {
			opts.Tail = -1
		}
	}
	return opts, nil
}

// streamMediaType is what docker announces for attach/logs output: the
// multiplexed type only for non-TTY output on API 1.42 and later.
func streamMediaType(r *http.Request, tty bool) string {
	if !tty && versions.GreaterThanOrEqualTo(apiVersion(r.Context()), "1.42") {
		return types.MediaTypeMultiplexedStream
	}
	return types.MediaTypeRawStream
}

func (s *server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	opts, err := logsOptions(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	ctr, err := s.backend.ContainerInspect(r.Context(), id, false)
	if err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	ctx, cancel := streamContext(r)
	defer cancel()

	w.Header().Set("Content-Type", streamMediaType(r, tty))
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	// `logs -f` on a quiet container must still see the header at once.
	if err := fw.Flush(); err != nil {
		return err
	}
	if tty {
		err = s.backend.ContainerLogs(ctx, id, opts, fw, fw)
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(fw, "Error running logs job: %s\n", errorMessage(err))
		}
		return err
	}
	stdout, stderr, system := newStdWriters(fw)
	err = s.backend.ContainerLogs(ctx, id, opts, stdout, stderr)
	if err != nil && ctx.Err() == nil {
		// StdCopy turns a Systemerr frame into an error on the client.
		fmt.Fprintf(system, "Error running logs job: %s", errorMessage(err))
	}
	return err
}
