package server

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// parseContentRange reads a chunk's Content-Range, "<start>-<end>" (both
// inclusive), tolerating the "bytes " prefix and a "/<total>" suffix some
// clients send.
func parseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "bytes ")
	s, _, _ = strings.Cut(s, "/")
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: want start-end", s)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("content-range %q: want start-end with 0 <= start <= end", s)
	}
	return start, end, nil
}

// rangeHeader is an upload's Range, "0-<last byte>" ("0-0" while empty,
// as distribution answers and clients expect).
func rangeHeader(size int64) string {
	if size <= 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

// maxPage caps ?n= so a request cannot ask for an unbounded answer.
const maxPage = 10000

// page is a request's pagination: n entries (-1: all) after last.
type page struct {
	n    int
	last string
}

// parsePage reads ?n= and ?last=.
func parsePage(q url.Values) (page, error) {
	p := page{n: -1, last: q.Get("last")}
	if ns, ok := q["n"]; ok && len(ns) > 0 {
		n, err := strconv.Atoi(ns[0])
		if err != nil || n < 0 {
			return p, fmt.Errorf("n=%q: want a number of results >= 0", ns[0])
		}
		p.n = min(n, maxPage)
	}
	return p, nil
}

// apply cuts a sorted list; more reports whether entries follow the page.
func (p page) apply(all []string) (out []string, more bool) {
	if p.last != "" {
		all = all[sort.SearchStrings(all, p.last):]
		if len(all) > 0 && all[0] == p.last {
			all = all[1:]
		}
	}
	if p.n >= 0 && p.n < len(all) {
		all, more = all[:p.n], true
	}
	if all == nil {
		all = []string{}
	}
	return all, more
}
