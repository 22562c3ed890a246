package server

import (
	"encoding/json"
	"net/http"
)

// regError is one entry of the OCI error JSON every 4xx carries.
type regError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *regError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, msg string) *regError {
	return &regError{status: status, Code: code, Message: msg}
}

var (
	errBlobUnknown     = func() *regError { return errf(404, "BLOB_UNKNOWN", "blob unknown to registry") }
	errManifestUnknown = func() *regError { return errf(404, "MANIFEST_UNKNOWN", "manifest unknown") }
	errNameUnknown     = func() *regError { return errf(404, "NAME_UNKNOWN", "repository name not known to registry") }
	errUploadUnknown   = func() *regError { return errf(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry") }
	errDigestInvalid   = func() *regError { return errf(400, "DIGEST_INVALID", "provided digest did not match uploaded content") }
	errNameInvalid     = func() *regError { return errf(400, "NAME_INVALID", "invalid repository name") }
	errManifestInvalid = func(msg string) *regError { return errf(400, "MANIFEST_INVALID", "manifest invalid: "+msg) }
	errUnsupported     = func() *regError { return errf(405, "UNSUPPORTED", "the operation is unsupported") }
)

func writeError(w http.ResponseWriter, e *regError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string][]*regError{"errors": {e}})
}
