package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// boolValue reads a boolean query parameter the way docker does: anything
// but "", "0", "no", "false" and "none" is true.
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// boolValueOrDefault is boolValue with a default for an absent parameter.
func boolValueOrDefault(r *http.Request, key string, def bool) bool {
	if _, ok := r.URL.Query()[key]; !ok {
		return def
	}
	return boolValue(r, key)
}

// intValue reads an integer query parameter; absent or empty gives def.
func intValue(r *http.Request, key string, def int) (int, error) {
	v := strings.TrimSpace(r.URL.Query().Get(key))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("invalid value for %q: %q is not an integer: %w", key, v, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// optionalInt is intValue that tells "absent" apart (nil).
func optionalInt(r *http.Request, key string) (*int, error) {
	if strings.TrimSpace(r.URL.Query().Get(key)) == "" {
		return nil, nil
	}
	n, err := intValue(r, key, 0)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// uintValue reads a non-negative integer such as a terminal size.
func uintValue(r *http.Request, key string) (uint, error) {
	v := strings.TrimSpace(r.URL.Query().Get(key))
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid value for %q: %q: %w", key, v, errdefs.ErrInvalidArgument)
	}
	return uint(n), nil
}

// decodeJSON decodes the request body into v. An empty body is an error
// unless allowEmpty; either way the backend is not called on bad input.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	if r.Body == nil || r.Body == http.NoBody {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("invalid JSON: request body is empty: %w", errdefs.ErrInvalidArgument)
	}
	// A nil ResponseWriter: the cap only makes reads fail, the handler
	// answers with the error below.
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return fmt.Errorf("request body is larger than %d MiB: %w", maxJSONBody>>20, errdefs.ErrInvalidArgument)
		}
		if errors.Is(err, io.EOF) {
			if allowEmpty {
				return nil
			}
			return fmt.Errorf("invalid JSON: request body is empty: %w", errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("invalid JSON: %s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	// Trailing garbage after the object means the body is not what we think.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid JSON: unexpected data after the JSON object: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// maxJSONBody caps a JSON request body, so that a client cannot make the
// daemon buffer an unbounded document. The largest legitimate bodies are swarm
// secrets and configs (500 KiB of data, base64-encoded in JSON).
const maxJSONBody = 16 << 20

// writeJSON answers with v as JSON and the given status.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// parseTimestamp decodes the "seconds[.nanoseconds]" form the docker client
// sends for since/until (it converts durations and dates before sending).
// An empty value is the zero time.
func parseTimestamp(key, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	bad := fmt.Errorf("invalid value for %q: %q is not a unix timestamp: %w", key, v, errdefs.ErrInvalidArgument)
	secStr, nanoStr, hasNano := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil || strings.HasPrefix(secStr, "+") {
		return time.Time{}, bad
	}
	var nsec int64
	if hasNano {
		if nanoStr == "" || len(nanoStr) > 9 || strings.ContainsAny(nanoStr, "+-") {
			return time.Time{}, bad
		}
		n, err := strconv.ParseInt(nanoStr, 10, 64)
		if err != nil {
			return time.Time{}, bad
		}
		// ".5" means half a second: scale to nanoseconds.
		nsec = n * int64(math.Pow10(9-len(nanoStr)))
	}
	if sec < -1<<40 || sec > 1<<40 {
		return time.Time{}, bad
	}
	return time.Unix(sec, nsec), nil
}
