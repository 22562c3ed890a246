package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/registry/server/storage"
)

// Limits on what a client may send.
const (
	// MaxManifestSize is the largest manifest accepted, as distribution's.
	MaxManifestSize = 4 << 20
	// DefaultMaxBlobSize bounds one blob upload unless Options say otherwise.
	DefaultMaxBlobSize = 64 << 30
)

// Authorizer guards the API (registry/auth implements it); without one
// everyone may do everything.
type Authorizer interface {
	// Authorize returns the user behind r if they may do every action
	// ("pull", "push", "delete"; "*" with repo "" is the catalog) on repo;
	// the error's class is errdefs.ErrUnauthenticated (answered 401) or
	// errdefs.ErrPermissionDenied (403).
	Authorize(r *http.Request, repo string, actions ...string) (user string, err error)
	// Challenge is the WWW-Authenticate value sent with that 401 or 403.
	Challenge(r *http.Request, repo string, actions []string, err error) string
	// Allowed reports whether user may do action on repo by policy alone:
	// a cross-repository mount checks its source with it.
	Allowed(user, repo, action string) bool
}

// Options configure a Handler.
type Options struct {
	Auth Authorizer
	// Token, when set, is served at /token (the Bearer realm).
	Token http.Handler
	// AllowSparse accepts manifests whose layers or index entries were not
	// pushed (mirrors of a few platforms); by default, as distribution,
	// everything a manifest references must be in its repository, except
	// non-distributable layers and subjects.
	AllowSparse bool
	// MaxBlobSize bounds a blob upload (DefaultMaxBlobSize when 0).
	MaxBlobSize int64
	Log         *slog.Logger
}

// Handler serves the registry API over a store.
type Handler struct {
	st   *storage.Store
	opts Options
	log  *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New makes a registry over st.
func New(st *storage.Store, opts Options) *Handler {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MaxBlobSize <= 0 {
		opts.MaxBlobSize = DefaultMaxBlobSize
	}
	return &Handler{st: st, opts: opts, log: opts.Log}
}

// Push needs pull too: clients ask for both, and a mount reads the blob.
var (
	actionsPull   = []string{"pull"}
	actionsPush   = []string{"pull", "push"}
	actionsDelete = []string{"delete"}
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.serve(sw, r)
	lvl := slog.LevelDebug
	if sw.status >= 500 {
		lvl = slog.LevelWarn
	}
	h.log.Log(r.Context(), lvl, "request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dur", time.Since(start))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" && h.opts.Token != nil {
		h.opts.Token.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeError(w, errNotFound())
		return
	}
	if rt.kind != "base" && rt.kind != "catalog" {
		if err := storage.ValidateRepository(rt.name); err != nil {
			writeError(w, errNameInvalid(err.Error()))
			return
		}
	}
	var actions []string
	switch {
	case rt.kind == "catalog":
		actions = []string{"*"}
	case rt.kind == "base":
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		actions = actionsPull
		if rt.kind == "uploads" {
			actions = actionsPush
		}
	case r.Method == http.MethodDelete && rt.kind != "uploads":
		actions = actionsDelete
	default:
		actions = actionsPush
	}
	user, ok := h.authorize(w, r, rt.name, actions)
	if !ok {
		return
	}
	var e *apiError
	switch rt.kind {
	case "base":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	case "catalog":
		e = h.catalog(w, r)
	case "manifests":
		e = h.manifests(w, r, rt.name, rt.arg)
	case "blobs":
		e = h.blobs(w, r, rt.name, rt.arg)
	case "uploads":
		e = h.uploads(w, r, rt.name, rt.arg, user)
	case "tags":
		e = h.tags(w, r, rt.name)
	case "referrers":
		e = h.referrers(w, r, rt.name, rt.arg)
	}
	if e != nil {
		writeError(w, e)
	}
}

// authorize answers 401/403 itself when the request may not go on.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, repo string, actions []string) (string, bool) {
	if h.opts.Auth == nil {
		return "", true
	}
	user, err := h.opts.Auth.Authorize(r, repo, actions...)
	if err == nil {
		return user, true
	}
	w.Header().Set("WWW-Authenticate", h.opts.Auth.Challenge(r, repo, actions, err))
	switch {
	case errdefs.IsPermissionDenied(err):
		writeError(w, newError(http.StatusForbidden, "DENIED", err.Error()))
	case errdefs.IsUnauthorized(err):
		writeError(w, newError(http.StatusUnauthorized, "UNAUTHORIZED", err.Error()))
	default:
		writeError(w, newError(http.StatusInternalServerError, "UNKNOWN", err.Error()))
	}
	return "", false
}

// mayMountFrom reports whether user may read repository from.
func (h *Handler) mayMountFrom(user, from string) bool {
	return h.opts.Auth == nil || h.opts.Auth.Allowed(user, from, "pull")
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// ReadFrom keeps the connection's sendfile path for blob bodies.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	return readFrom(w.ResponseWriter, r)
}

func readFrom(w http.ResponseWriter, r io.Reader) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}
