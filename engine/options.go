package engine

import (
	"io"
	"time"
)

// Filters are the decoded `filters` query parameter of list endpoints:
// key → accepted values (e.g. "label" → ["a=b"], "status" → ["running"]).
type Filters map[string][]string

// AttachStreams are the client's ends of an attach or exec session. Stdout and
// Stderr are already multiplexed (or not, for a TTY) by the API layer.
type AttachStreams struct {
	Stdin          io.Reader // nil unless the client asked for stdin
	Stdout, Stderr io.Writer // nil when not requested
	Logs           bool      // replay the log before streaming
	Stream         bool      // stream live output
	DetachKeys     string
	// Requested is when the client asked to attach. The API answers the
	// upgrade before the engine registers the attachment, so a fast
	// container can start and finish in between: a run that began after
	// Requested is owed to this client, and is replayed from the log.
	Requested time.Time
	// Attached, if set, is called once the attachment is registered and
	// before anything is written to Stdout/Stderr; the API answers the
	// client's upgrade there. If it fails, the attach is abandoned.
	Attached func() error
}

// LogsOptions mirror GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout, Stderr bool
	Since, Until   time.Time // zero = unbounded
	Tail           int       // -1 = all
	Follow         bool
	Timestamps     bool
}

// ListOptions mirror GET /containers/json.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters Filters
}

// EventsOptions mirror GET /events.
type EventsOptions struct {
	Since, Until time.Time
	Filters      Filters
}
