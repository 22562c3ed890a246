package server

import "strings"

// route is a parsed /v2/ API path.
type route struct {
	kind string // "base", "catalog", "manifests", "blobs", "uploads", "tags", "referrers"
	name string // repository
	arg  string // reference, digest or upload id ("" to start an upload)
}

// parseRoute reads an API path. Repository names may hold slashes (and
// words like "blobs"): the kind is read from the end, where the grammar is
// fixed. It does not validate the name.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2")
	if !ok {
		return route{}, false
	}
	if rest == "" || rest == "/" {
		return route{kind: "base"}, true
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{}, false
	}
	if rest == "_catalog" {
		return route{kind: "catalog"}, true
	}
	p := strings.Split(rest, "/")
	n := len(p)
	at := func(i int) string { return p[n-i] } // i-th component from the end
	mk := func(kind string, drop int, arg string) (route, bool) {
		if n-drop < 1 {
			return route{}, false
		}
		return route{kind: kind, name: strings.Join(p[:n-drop], "/"), arg: arg}, true
	}
	switch {
	case n >= 3 && at(2) == "tags" && at(1) == "list":
		return mk("tags", 2, "")
	case n >= 3 && at(2) == "blobs" && at(1) == "uploads":
		return mk("uploads", 2, "")
	case n >= 4 && at(3) == "blobs" && at(2) == "uploads":
		return mk("uploads", 3, at(1)) // "" for a trailing slash: start
	case n >= 3 && at(2) == "blobs" && at(1) != "":
		return mk("blobs", 2, at(1))
	case n >= 3 && at(2) == "manifests" && at(1) != "":
		return mk("manifests", 2, at(1))
	case n >= 3 && at(2) == "referrers" && at(1) != "":
		return mk("referrers", 2, at(1))
	}
	return route{}, false
}
