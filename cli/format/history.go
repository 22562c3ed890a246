package format

import (
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
)

// Default table layout of `image history`, as in the docker CLI.
const (
	DefaultHistoryTable = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	QuietHistoryFormat  = "{{.ID}}"
)

// HistoryHeader maps history placeholders to docker's column titles.
var HistoryHeader = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

// History is one layer row of `image history`.
type History struct {
	h     image.HistoryResponseItem
	trunc bool
	now   time.Time
}

// HistoryRows wraps history items for rendering.
func HistoryRows(items []image.HistoryResponseItem, trunc bool, now time.Time) []any {
	rows := make([]any, 0, len(items))
	for _, h := range items {
		rows = append(rows, History{h: h, trunc: trunc, now: now})
	}
	return rows
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (c History) MarshalJSON() ([]byte, error) { return marshalMethods(c) }

// ID is the layer's image ID or <missing> for layers of other images.
func (c History) ID() string {
	if c.trunc && c.h.ID != "<missing>" {
		return TruncateID(c.h.ID)
	}
	return c.h.ID
}

// CreatedSince is the human age of the step.
func (c History) CreatedSince() string {
	return units.HumanDuration(c.now.Sub(time.Unix(c.h.Created, 0))) + " ago"
}

// CreatedAt is the RFC 3339 time of the step.
func (c History) CreatedAt() string { return time.Unix(c.h.Created, 0).Format(time.RFC3339) }

// CreatedBy is the build step, one line, shortened to 45 characters when truncating.
func (c History) CreatedBy() string {
	s := strings.ReplaceAll(c.h.CreatedBy, "\t", " ")
	if c.trunc {
		return Ellipsis(s, 45)
	}
	return s
}

// Size is the layer size.
func (c History) Size() string { return units.HumanSizeWithPrecision(float64(c.h.Size), 3) }

// Comment is the step's comment.
func (c History) Comment() string { return c.h.Comment }
