package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
)

// statusFromError is the only place an error becomes an HTTP status. Like
// moby's httpstatus it looks only at errdefs classes (which also recognise
// moby's marker interfaces), never at error text or concrete types.
func statusFromError(err error) int {
	if err == nil {
		return http.StatusInternalServerError
	}
	// Resolve picks the class of the outermost classified error, so a
	// NotFound wrapped in an InvalidArgument is reported as 400.
	rerr := errdefs.Resolve(err)
	switch {
	case errdefs.IsNotFound(rerr):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(rerr):
		return http.StatusBadRequest
	case errdefs.IsConflict(rerr), errdefs.IsAlreadyExists(rerr):
		// docker reports a name already in use as 409.
		return http.StatusConflict
	case errdefs.IsUnauthorized(rerr):
		return http.StatusUnauthorized
	case errdefs.IsUnavailable(rerr):
		return http.StatusServiceUnavailable
	case errdefs.IsPermissionDenied(rerr):
		return http.StatusForbidden
	case errdefs.IsNotModified(rerr):
		return http.StatusNotModified
	case errdefs.IsNotImplemented(rerr):
		return http.StatusNotImplemented
	case errdefs.IsFailedPrecondition(rerr), errdefs.IsOutOfRange(rerr):
		// moby maps these gRPC codes to 400; the docker CLI treats any 4xx
		// as "the request was wrong", which is what they mean.
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers with docker's error body, or only logs err when the
// response (or the hijacked stream) has already started.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if rw, ok := w.(*responseWriter); ok && (rw.wroteHeader || rw.hijacked) {
		s.log.WarnContext(r.Context(), "api stream ended with error", "method", r.Method, "path", r.URL.Path, "error", err)
		return
	}
	code := statusFromError(err)
	if code == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	} else {
		s.log.DebugContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	h := w.Header()
	if code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(common.ErrorResponse{Message: errorMessage(err)})
}

// errorMessage strips the trailing ": <class>" that %w wrapping of a bare
// errdefs sentinel appends, so users see "No such container: x" rather than
// "No such container: x: not found".
func errorMessage(err error) string {
	msg := err.Error()
	for _, class := range []error{
		errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrAlreadyExists,
		errdefs.ErrUnauthenticated, errdefs.ErrPermissionDenied, errdefs.ErrUnavailable, errdefs.ErrNotModified,
		errdefs.ErrNotImplemented, errdefs.ErrFailedPrecondition, errdefs.ErrInternal, errdefs.ErrOutOfRange,
		errdefs.ErrResourceExhausted, errdefs.ErrAborted, errdefs.ErrDataLoss, errdefs.ErrUnknown,
	} {
		suffix := ": " + class.Error()
		if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix && errors.Is(err, class) {
			return msg[:len(msg)-len(suffix)]
		}
	}
	return msg
}
