package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/registry/server/storage"
)

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, name string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported(r.Method + " on a tag list")
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return newError(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", err.Error())
	}
	if !h.st.RepositoryExists(name) {
		return errNameUnknown("repository " + name + " not known to registry")
	}
	all, err := h.st.Tags(name)
	if err != nil {
		return fromStore(err, errNameUnknown)
	}
	tags, more := p.apply(all)
	if more {
		w.Header().Set("Link", nextLink("/v2/"+name+"/tags/list", p.n, tags[len(tags)-1]))
	}
	return writeJSON(w, r, map[string]any{"name": name, "tags": tags})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported(r.Method + " on the catalog")
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return newError(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", err.Error())
	}
	all, err := h.st.Repositories()
	if err != nil {
		return fromStore(err, errNameUnknown)
	}
	repos, more := p.apply(all)
	if more {
		w.Header().Set("Link", nextLink("/v2/_catalog", p.n, repos[len(repos)-1]))
	}
	return writeJSON(w, r, map[string]any{"repositories": repos})
}

// nextLink is the RFC 5988 Link to the following page.
func nextLink(path string, n int, last string) string {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	return fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode())
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported(r.Method + " on referrers")
	}
	d, err := storage.ParseDigest(ref)
	if err != nil {
		return errDigestInvalid(err.Error())
	}
	descs, err := h.st.Referrers(name, d)
	if err != nil {
		return fromStore(err, errManifestUnknown)
	}
	filter := r.URL.Query().Get("artifactType")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	for _, b := range descs {
		var desc ocispec.Descriptor
		if json.Unmarshal(b, &desc) != nil {
			continue
		}
		if filter != "" && desc.ArtifactType != filter {
			continue
		}
		idx.Manifests = append(idx.Manifests, desc)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	body, _ := json.Marshal(idx)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, err := json.Marshal(v)
	if err != nil {
		return newError(http.StatusInternalServerError, "UNKNOWN", err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}
