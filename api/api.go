package api

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client/pkg/versions"
)

const (
	// APIVersion is the newest Docker Engine API version served; requests
	// without a version prefix are handled as this version.
	APIVersion = "1.52"
	// MinAPIVersion is the oldest API version still accepted.
	MinAPIVersion = "1.24"
)

// Opt configures the handler returned by New.
type Opt func(*server)

// WithLogger sets the logger used for request and error logging.
func WithLogger(l *slog.Logger) Opt {
	return func(s *server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithVersion sets the daemon version shown in the Server header.
func WithVersion(v string) Opt {
	return func(s *server) {
		if v != "" {
			s.version = v
		}
	}
}

type server struct {
	backend Backend
	log     *slog.Logger
	version string
	mux     *http.ServeMux
}

// New returns the Docker Engine API handler backed by b.
func New(b Backend, opts ...Opt) http.Handler {
	s := &server{
		backend: b,
		log:     slog.Default().With("component", "api"),
		version: "dev",
		mux:     http.NewServeMux(),
	}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

type ctxKey int

const versionKey ctxKey = iota

// apiVersion is the version the client asked for (APIVersion when unversioned).
func apiVersion(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey).(string); ok {
		return v
	}
	return APIVersion
}

// versionPrefix matches the "/v1.52" that clients put in front of every path
// (the same shape moby's router accepts).
var versionPrefix = regexp.MustCompile(`^/v([0-9.]+)(/|$)`)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &responseWriter{ResponseWriter: w}
	h := rw.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", fmt.Sprintf("Wharf/%s (linux)", s.version))

	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.log.ErrorContext(r.Context(), "panic in api handler", "method", r.Method, "path", r.URL.Path,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if !rw.wroteHeader && !rw.hijacked {
			s.writeError(rw, r, fmt.Errorf("internal server error: %w", errdefs.ErrInternal))
		}
	}()

	version := APIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		version = m[1]
		r = stripVersion(r, len(m[0])-len(m[2]))
	}
	if versions.LessThan(version, MinAPIVersion) {
		s.writeError(rw, r, fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w",
			version, MinAPIVersion, errdefs.ErrInvalidArgument))
		return
	}
	if versions.GreaterThan(version, APIVersion) {
		s.writeError(rw, r, fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w",
			version, APIVersion, errdefs.ErrInvalidArgument))
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey, version))

	// ServeMux answers unknown paths and wrong methods with its own text;
	// docker answers both with a JSON 404, so look the route up first.
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(rw, r, fmt.Errorf("page not found: %w", errdefs.ErrNotFound))
		return
	}
	s.log.DebugContext(r.Context(), "api request", "method", r.Method, "path", r.URL.Path, "version", version)
	s.mux.ServeHTTP(rw, r)
}

// stripVersion removes the first n bytes ("/v1.52") of the path, keeping
// RawPath consistent so escaped image names survive.
func stripVersion(r *http.Request, n int) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = r.URL.Path[n:]
	if u.Path == "" {
		u.Path = "/"
	}
	if r.URL.RawPath != "" {
		if m := versionPrefix.FindStringSubmatch(r.URL.RawPath); m != nil {
			u.RawPath = r.URL.RawPath[len(m[0])-len(m[2]):]
		} else {
			u.RawPath = ""
		}
	}
	r2.URL = &u
	return r2
}

// handlerFunc is a route: an error it returns is written as docker's JSON
// error unless the response has already started.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(pattern string, fn handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// optionalBackend returns the engine as B, the optional part of the
// backend that feature's routes need (build, swarm, registry access), so an
// engine without it still serves everything else and answers those routes
// with NotImplemented.
func optionalBackend[B any](s *server, feature string) (B, error) {
	b, ok := s.backend.(B)
	if !ok {
		return b, fmt.Errorf("%s is not implemented by this daemon: %w", feature, errdefs.ErrNotImplemented)
	}
	return b, nil
}

// responseWriter remembers whether the response started or the connection
// was hijacked, so late errors are logged instead of corrupting the stream.
type responseWriter struct {
	http.ResponseWriter
	wroteHeader bool
	hijacked    bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(p)
}

func (w *responseWriter) Flush() {
	w.wroteHeader = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

// notImplemented answers routes of features wharf does not have yet.
func notImplemented(what string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%s is not implemented by wharf yet: %w", what, errdefs.ErrNotImplemented)
	}
}

func (s *server) routes() {
	s.handle("GET /_ping", s.ping)

	s.systemRoutes()
	s.containerRoutes()
	s.execRoutes()
	s.imageRoutes()
	s.volumeRoutes()
	s.networkRoutes()
	s.buildRoutes()
	s.swarmRoutes()
	s.serviceRoutes()
	s.secretRoutes()
	s.distributionRoutes()

	for prefix, what := range map[string]string{
		"/session":           "build sessions",
		"/grpc":              "build sessions",
		"/commit":            "container commit",
		"/plugins":           "plugins",
		"/plugins/":          "plugins",
		"GET /images/search": "image search",
	} {
		s.handle(prefix, notImplemented(what))
	}
}
