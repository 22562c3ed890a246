package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/registry/server/storage"
)

// apiError is one entry of the OCI error JSON every 4xx carries.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, Code: code, Message: msg}
}

// The spec's error codes, with the status each answers with.
func errBlobUnknown(msg string) *apiError { return newError(404, "BLOB_UNKNOWN", msg) }
func errBlobUploadInvalid(msg string) *apiError {
	return newError(400, "BLOB_UPLOAD_INVALID", msg)
}
func errBlobUploadUnknown(msg string) *apiError {
	return newError(404, "BLOB_UPLOAD_UNKNOWN", msg)
}
func errDigestInvalid(msg string) *apiError   { return newError(400, "DIGEST_INVALID", msg) }
func errManifestInvalid(msg string) *apiError { return newError(400, "MANIFEST_INVALID", msg) }
func errManifestUnknown(msg string) *apiError { return newError(404, "MANIFEST_UNKNOWN", msg) }
func errNameInvalid(msg string) *apiError     { return newError(400, "NAME_INVALID", msg) }
func errNameUnknown(msg string) *apiError     { return newError(404, "NAME_UNKNOWN", msg) }
func errSizeInvalid(status int, msg string) *apiError {
	return newError(status, "SIZE_INVALID", msg)
}
func errUnsupported(msg string) *apiError { return newError(405, "UNSUPPORTED", msg) }
func errTagInvalid(msg string) *apiError  { return newError(400, "TAG_INVALID", msg) }
func errNotFound() *apiError              { return newError(404, "NOT_FOUND", "no such route in the registry API") }

// fromStore turns a storage error into the API's, notFound answering
// errdefs.ErrNotFound.
func fromStore(err error, notFound func(string) *apiError) *apiError {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, storage.ErrTooLarge):
		return errSizeInvalid(http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, storage.ErrDigestMismatch):
		return errDigestInvalid(err.Error())
	case errors.Is(err, storage.ErrOutOfOrder):
		return newError(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", err.Error())
	case errdefs.IsNotFound(err):
		return notFound(err.Error())
	case errdefs.IsInvalidArgument(err):
		return errBlobUploadInvalid(err.Error())
	}
	return newError(http.StatusInternalServerError, "UNKNOWN", err.Error())
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string][]*apiError{"errors": {e}})
}

// jsonErrorWriter rewrites the plain-text errors http.ServeContent writes
// (416 on an unsatisfiable Range) into the OCI error JSON.
type jsonErrorWriter struct {
	http.ResponseWriter
	failed bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if code >= 400 {
		w.failed = true
		w.Header().Del("X-Content-Type-Options")
		writeError(w.ResponseWriter, errSizeInvalid(code, http.StatusText(code)))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's sendfile path for blob bodies.
func (w *jsonErrorWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.failed {
		return io.Copy(io.Discard, r)
	}
	return readFrom(w.ResponseWriter, r)
}
