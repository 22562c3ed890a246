package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/engine"
)

// decodeFilters decodes the JSON `filters` query parameter. Docker clients
// send {"key":{"value":true}}; clients older than API 1.22 sent
// {"key":["value"]}. Both give key → sorted values; an empty parameter gives
// nil.
func decodeFilters(raw string) (engine.Filters, error) {
	if raw == "" {
		return nil, nil
	}
	var terms map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &terms); err != nil {
		return nil, fmt.Errorf("invalid filter: %s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	out := make(engine.Filters, len(terms))
	for key, val := range terms {
		var set map[string]bool
		if err := json.Unmarshal(val, &set); err == nil && set != nil {
			values := make([]string, 0, len(set))
			for v := range set {
				// moby treats every listed value as selected, whatever
				// the boolean says.
				values = append(values, v)
			}
			slices.Sort(values)
			out[key] = values
			continue
		}
		var list []string
		if err := json.Unmarshal(val, &list); err != nil || list == nil {
			return nil, fmt.Errorf("invalid filter: value of %q must be an object or a list of strings: %w", key, errdefs.ErrInvalidArgument)
		}
		list = slices.Clone(list)
		slices.Sort(list)
		out[key] = slices.Compact(list)
	}
	return out, nil
}

func filtersParam(r *http.Request) (engine.Filters, error) {
	return decodeFilters(r.URL.Query().Get("filters"))
}
