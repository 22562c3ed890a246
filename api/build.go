package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"

	"wharf.io/wharf/builder"
)

// buildRoutes serves Docker's classic builder API (the docker CLI uses it
// with DOCKER_BUILDKIT=0; wharf's CLI always). BuildKit sessions (/session,
// /grpc) stay unimplemented.
func (s *server) buildRoutes() {
	s.handle("POST /build", s.build)
	s.handle("POST /build/prune", s.buildPrune)
	s.handle("POST /build/cancel", s.buildCancel)
}

func (s *server) buildBackend() (BuildBackend, error) {
	return optionalBackend[BuildBackend](s, "image build")
}

// jsonMap decodes a query parameter holding a JSON object (buildargs, labels).
func jsonMap[V any](r *http.Request, key string) (map[string]V, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return nil, nil
	}
	var m map[string]V
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("invalid %s: %v: %w", key, err, errdefs.ErrInvalidArgument)
	}
	return m, nil
}

// buildOptions reads POST /build's query.
func buildOptions(r *http.Request) (builder.Options, error) {
	q := r.URL.Query()
	opts := builder.Options{
		Dockerfile:  q.Get("dockerfile"),
		Target:      q.Get("target"),
		NoCache:     boolValue(r, "nocache"),
		Pull:        boolValue(r, "pull"),
		Quiet:       boolValue(r, "q"),
		NetworkMode: q.Get("networkmode"),
	}
	if opts.NetworkMode == "default" {
		opts.NetworkMode = ""
	}
	if q.Get("remote") != "" {
		return opts, fmt.Errorf("remote build contexts (git, URL) are not supported; send the context in the request body: %w", errdefs.ErrNotImplemented)
	}
	for _, t := range q["t"] {
		if t == "" {
			continue
		}
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return opts, fmt.Errorf("invalid tag %q: %v: %w", t, err, errdefs.ErrInvalidArgument)
		}
		if _, isDigest := named.(reference.Digested); isDigest {
			return opts, fmt.Errorf("invalid tag %q: a build cannot be tagged with a digest: %w", t, errdefs.ErrInvalidArgument)
		}
		opts.Tags = append(opts.Tags, t)
	}
	var err error
	if opts.BuildArgs, err = jsonMap[*string](r, "buildargs"); err != nil {
		return opts, err
	}
	if opts.Labels, err = jsonMap[string](r, "labels"); err != nil {
		return opts, err
	}
	if strings.Contains(opts.Dockerfile, "\x00") {
		return opts, fmt.Errorf("invalid dockerfile name: %w", errdefs.ErrInvalidArgument)
	}
	return opts, nil
}

// build implements POST /build: the body is the context. Errors before
// any output are answered with their status (as moby does); after that
// they end the JSON stream, a failed RUN with its exit code in errorDetail.
func (s *server) build(w http.ResponseWriter, r *http.Request) error {
	bb, err := s.buildBackend()
	if err != nil {
		return err
	}
	opts, err := buildOptions(r)
	if err != nil {
		return err
	}
	ctx, cancel := streamContext(r)
	defer cancel()
	js := newJSONStream(w)
	out := &lockedWriter{w: js}
	_, err = bb.Build(ctx, r.Body, opts, out)
	if err == nil {
		return js.start()
	}
	if !js.started() {
		return err
	}
	msg := errorMessage(err)
	detail := &jsonstream.Error{Message: msg}
	var exit *builder.ExitError
	if errors.As(err, &exit) {
		detail.Code = exit.Code
	}
	return js.send(wireMessage{Message: jsonstream.Message{Error: detail}, ErrorMessage: msg})
}

// lockedWriter serialises the messages of stages that write at once.
type lockedWriter struct {
	mu sync.Mutex
	w  *jsonStream
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	bb, err := s.buildBackend()
	if err != nil {
		return err
	}
	report, err := bb.BuildPrune(r.Context(), boolValue(r, "all"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}

// buildCancel answers POST /build/cancel. Classic builds stop when their
// client disconnects, which is how the docker CLI cancels them; there is
// no build ID registry to look up.
func (s *server) buildCancel(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.buildBackend(); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
