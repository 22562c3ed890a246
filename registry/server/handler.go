package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Limits on what a client may send.
const (
	maxManifestSize = 4 << 20
	maxNameLength   = 255
)

// nameRE is the distribution spec's repository name grammar.
var nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// Handler serves the registry API from a root directory.
type Handler struct {
	st   *store
	log  *slog.Logger
	auth Authenticator
	mu   sync.Mutex // serialises uploads' offset bookkeeping and tag writes
}

// Authenticator decides whether a request may go on; nil lets everyone in.
type Authenticator interface {
	// Authorize returns false after answering the request itself (401/403).
	Authorize(w http.ResponseWriter, r *http.Request, repo string, push bool) bool
}

// New makes a registry over root.
func New(root string, auth Authenticator, log *slog.Logger) (*Handler, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Handler{st: &store{root: root}, log: log, auth: auth}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	p := r.URL.Path
	if !strings.HasPrefix(p, "/v2/") && p != "/v2" {
		writeError(w, errf(404, "NOT_FOUND", "not found"))
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(p, "/v2"), "/")
	if rest == "" {
		if h.auth != nil && !h.auth.Authorize(w, r, "", false) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	if rest == "_catalog" {
		if h.auth != nil && !h.auth.Authorize(w, r, "", false) {
			return
		}
		h.catalog(w, r)
		return
	}
	name, kind, arg, ok := splitPath(rest)
	if !ok {
		writeError(w, errf(404, "NOT_FOUND", "not found"))
		return
	}
	if len(name) > maxNameLength || !nameRE.MatchString(name) {
		writeError(w, errNameInvalid())
		return
	}
	push := r.Method != http.MethodGet && r.Method != http.MethodHead
	if h.auth != nil && !h.auth.Authorize(w, r, name, push) {
		return
	}
	var err *regError
	switch kind {
	case "manifests":
		err = h.manifests(w, r, name, arg)
	case "blobs":
		err = h.blobs(w, r, name, arg)
	case "uploads":
		err = h.uploads(w, r, name, arg)
	case "tags":
		err = h.tags(w, r, name)
	case "referrers":
		err = h.referrers(w, r, name, arg)
	}
	if err != nil {
		writeError(w, err)
	}
}

// splitPath cuts "<name>/<kind>/<arg>" where name may hold slashes.
func splitPath(rest string) (name, kind, arg string, ok bool) {
	for _, sep := range []struct{ marker, kind string }{
		{"/blobs/uploads/", "uploads"}, {"/blobs/uploads", "uploads"}, {"/manifests/", "manifests"},
		{"/blobs/", "blobs"}, {"/referrers/", "referrers"}, {"/tags/list", "tags"},
	} {
		if i := strings.LastIndex(rest, sep.marker); i > 0 {
			arg := rest[i+len(sep.marker):]
			if sep.kind == "tags" && arg != "" {
				continue
			}
			if sep.marker == "/blobs/uploads" && arg != "" {
				continue
			}
			return rest[:i], sep.kind, arg, true
		}
	}
	return "", "", "", false
}

func (h *Handler) repoExists(name string) bool { return exists(h.st.repoPath(name)) }

// ----- blobs -----

func (h *Handler) blobs(w http.ResponseWriter, r *http.Request, name, ref string) *regError {
	d, err := parseDigest(ref)
	if err != nil {
		return errDigestInvalid()
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !exists(h.st.layerLink(name, d)) && !exists(h.st.manifestLink(name, d)) {
			return errBlobUnknown()
		}
		f, err := os.Open(h.st.blobPath(d))
		if err != nil {
			return errBlobUnknown()
		}
		defer f.Close()
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Etag", `"`+d.String()+`"`)
		http.ServeContent(w, r, "", time.Time{}, f) // Range reads, HEAD
		return nil
	case http.MethodDelete:
		link := h.st.layerLink(name, d)
		if !exists(link) {
			return errBlobUnknown()
		}
		os.Remove(link)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errUnsupported()
}

// ----- uploads -----

type uploadState struct {
	Repo string `json:"repo"`
}

func (h *Handler) uploadPath(id string) string { return filepath.Join(h.st.root, "uploads", id) }

func (h *Handler) uploads(w http.ResponseWriter, r *http.Request, name, id string) *regError {
	if id == "" {
		if r.Method != http.MethodPost {
			return errUnsupported()
		}
		return h.startUpload(w, r, name)
	}
	if strings.ContainsAny(id, "/.") || len(id) != 32 {
		return errUploadUnknown()
	}
	data := h.uploadPath(id)
	var st uploadState
	if b, err := os.ReadFile(data + ".json"); err != nil || json.Unmarshal(b, &st) != nil || st.Repo != name {
		return errUploadUnknown()
	}
	fi, err := os.Stat(data)
	if err != nil {
		return errUploadUnknown()
	}
	offset := fi.Size()
	loc := "/v2/" + name + "/blobs/uploads/" + id
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Location", loc)
		w.Header().Set("Docker-Upload-UUID", id)
		w.Header().Set("Range", rangeHeader(offset))
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		os.Remove(data)
		os.Remove(data + ".json")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		h.mu.Lock()
		defer h.mu.Unlock()
		if cr := r.Header.Get("Content-Range"); cr != "" {
			start, _, ok := parseContentRange(cr)
			if !ok || start != offset {
				w.Header().Set("Location", loc)
				w.Header().Set("Range", rangeHeader(offset))
				return errf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "out of order chunk")
			}
		}
		n, err := appendTo(data, r.Body)
		if err != nil {
			return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
		}
		w.Header().Set("Location", loc)
		w.Header().Set("Docker-Upload-UUID", id)
		w.Header().Set("Range", rangeHeader(offset+n))
		w.WriteHeader(http.StatusAccepted)
		return nil
	case http.MethodPut:
		d, err := parseDigest(r.URL.Query().Get("digest"))
		if err != nil {
			return errDigestInvalid()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if cr := r.Header.Get("Content-Range"); cr != "" {
			if start, _, ok := parseContentRange(cr); !ok || start != offset {
				return errf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "out of order chunk")
			}
		}
		if _, err := appendTo(data, r.Body); err != nil {
			return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
		}
		if got, err := fileDigest(data, d.Algorithm()); err != nil || got != d {
			return errDigestInvalid()
		}
		if err := h.st.commitBlob(data, d); err != nil {
			return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
		}
		os.Remove(data + ".json")
		return h.linkBlob(w, name, d)
	}
	return errUnsupported()
}

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, name string) *regError {
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		if d, err := parseDigest(mount); err == nil {
			from := q.Get("from")
			if from != "" && nameRE.MatchString(from) && exists(h.st.layerLink(from, d)) && exists(h.st.blobPath(d)) {
				return h.linkBlob(w, name, d)
			}
		}
		// Not mountable: an ordinary upload, as the spec says.
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			return errDigestInvalid()
		}
		if _, err := h.st.putBlob(r.Body, d); err != nil {
			if err == errDigestMismatch {
				return errDigestInvalid()
			}
			return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
		}
		return h.linkBlob(w, name, d)
	}
	id := randomID()
	data := h.uploadPath(id)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
	}
	if err := os.WriteFile(data, nil, 0o644); err != nil {
		return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
	}
	b, _ := json.Marshal(uploadState{Repo: name})
	if err := writeAtomic(data+".json", b); err != nil {
		return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) linkBlob(w http.ResponseWriter, name string, d digest.Digest) *regError {
	if err := writeAtomic(h.st.layerLink(name, d), nil); err != nil {
		return errf(500, "BLOB_UPLOAD_INVALID", err.Error())
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// rangeHeader is an upload's "0-<last byte>" (0-0 while empty, as
// distribution answers).
func rangeHeader(size int64) string {
	if size <= 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

// parseContentRange reads "start-end".
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes ")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(strings.Split(b, "/")[0], 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

func appendTo(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func fileDigest(path string, alg digest.Algorithm) (digest.Digest, error) {
	if !alg.Available() {
		return "", fmt.Errorf("unsupported digest algorithm %s", alg)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return alg.FromReader(f)
}

// ----- manifests -----

// manifestBody is the part of any manifest or index the registry reads.
type manifestBody struct {
	MediaType    string               `json:"mediaType"`
	ArtifactType string               `json:"artifactType"`
	Config       *ocispec.Descriptor  `json:"config"`
	Layers       []ocispec.Descriptor `json:"layers"`
	Manifests    []ocispec.Descriptor `json:"manifests"`
	Subject      *ocispec.Descriptor  `json:"subject"`
	Annotations  map[string]string    `json:"annotations"`
}

func (h *Handler) resolveRef(name, ref string) (digest.Digest, *regError) {
	if d, err := digest.Parse(ref); err == nil {
		return d, nil
	}
	if !tagRE.MatchString(ref) {
		return "", errf(400, "TAG_INVALID", "manifest tag did not match URI")
	}
	b, err := os.ReadFile(h.st.tagPath(name, ref))
	if err != nil {
		return "", errManifestUnknown()
	}
	return digest.Digest(strings.TrimSpace(string(b))), nil
}

func (h *Handler) manifests(w http.ResponseWriter, r *http.Request, name, ref string) *regError {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d, e := h.resolveRef(name, ref)
		if e != nil {
			return e
		}
		mt, err := os.ReadFile(h.st.manifestLink(name, d))
		if err != nil {
			return errManifestUnknown()
		}
		body, err := os.ReadFile(h.st.blobPath(d))
		if err != nil {
			return errManifestUnknown()
		}
		w.Header().Set("Content-Type", string(mt))
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Etag", `"`+d.String()+`"`)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
		return nil
	case http.MethodPut:
		return h.putManifest(w, r, name, ref)
	case http.MethodDelete:
		h.mu.Lock()
		defer h.mu.Unlock()
		if d, err := digest.Parse(ref); err == nil {
			link := h.st.manifestLink(name, d)
			if !exists(link) {
				return errManifestUnknown()
			}
			os.Remove(link)
			tags, _ := list(h.st.repoPath(name, "_tags"))
			for _, t := range tags {
				if b, _ := os.ReadFile(h.st.tagPath(name, t)); strings.TrimSpace(string(b)) == d.String() {
					os.Remove(h.st.tagPath(name, t))
				}
			}
			h.dropReferrer(name, d)
		} else {
			if !tagRE.MatchString(ref) || !exists(h.st.tagPath(name, ref)) {
				return errManifestUnknown()
			}
			os.Remove(h.st.tagPath(name, ref))
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errUnsupported()
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) *regError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return errManifestInvalid(err.Error())
	}
	if len(body) > maxManifestSize {
		return errf(413, "SIZE_INVALID", "manifest too big")
	}
	alg := digest.SHA256
	refDigest, refIsDigest := digest.Digest(""), false
	if d, err := digest.Parse(ref); err == nil {
		alg, refDigest, refIsDigest = d.Algorithm(), d, true
	} else if !tagRE.MatchString(ref) {
		return errf(400, "TAG_INVALID", "manifest tag did not match URI")
	}
	d := alg.FromBytes(body)
	if refIsDigest && d != refDigest {
		return errDigestInvalid()
	}
	var m manifestBody
	if err := json.Unmarshal(body, &m); err != nil {
		return errManifestInvalid(err.Error())
	}
	mt := r.Header.Get("Content-Type")
	if mt == "" {
		mt = m.MediaType
	}
	if m.MediaType != "" && mt != m.MediaType {
		return errManifestInvalid("media type in the body and Content-Type differ")
	}
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	// The config a manifest names must be in the repository. Layers may
	// be missing: a sparse copy (some platforms' layers, a mirror filled
	// lazily) is allowed by the spec, and a pull of a missing layer gets
	// BLOB_UNKNOWN anyway.
	var blobs []ocispec.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, b := range blobs {
		if foreignLayer(b) {
			continue
		}
		if !exists(h.st.layerLink(name, b.Digest)) {
			e := errf(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
			e.Detail = map[string]string{"digest": b.Digest.String()}
			return e
		}
	}
	// An index may be sparse: the platforms it lists need not all be
	// pushed (image-spec allows it, e.g. for a mirror of a few platforms).
	var tags []string
	if refIsDigest {
		// PUT …/manifests/<digest>?tag=a&tag=b tags in the same request.
		for _, t := range r.URL.Query()["tag"] {
			if !tagRE.MatchString(t) {
				return errf(400, "TAG_INVALID", "manifest tag did not match URI")
			}
			tags = append(tags, t)
		}
	} else {
		tags = []string{ref}
	}
	if _, err := h.st.putBlob(bytes.NewReader(body), d); err != nil {
		return errf(500, "MANIFEST_INVALID", err.Error())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := writeAtomic(h.st.manifestLink(name, d), []byte(mt)); err != nil {
		return errf(500, "MANIFEST_INVALID", err.Error())
	}
	for _, t := range tags {
		if err := writeAtomic(h.st.tagPath(name, t), []byte(d.String())); err != nil {
			return errf(500, "MANIFEST_INVALID", err.Error())
		}
	}
	if refIsDigest && len(tags) > 0 {
		w.Header().Set("OCI-Tag", strings.Join(tags, ","))
	}
	if m.Subject != nil {
		desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body)), ArtifactType: m.ArtifactType, Annotations: m.Annotations}
		if desc.ArtifactType == "" && m.Config != nil {
			desc.ArtifactType = m.Config.MediaType
		}
		b, _ := json.Marshal(desc)
		if err := writeAtomic(h.referrerPath(name, m.Subject.Digest, d), b); err != nil {
			return errf(500, "MANIFEST_INVALID", err.Error())
		}
		w.Header().Set("OCI-Subject", m.Subject.Digest.String())
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) referrerPath(name string, subject, d digest.Digest) string {
	return h.st.repoPath(name, "_referrers", subject.Algorithm().String(), subject.Encoded(), d.Algorithm().String()+"-"+d.Encoded())
}

// dropReferrer forgets d wherever it is listed as a referrer.
func (h *Handler) dropReferrer(name string, d digest.Digest) {
	base := h.st.repoPath(name, "_referrers")
	filepath.WalkDir(base, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == d.Algorithm().String()+"-"+d.Encoded() {
			os.Remove(p)
		}
		return nil
	})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, name, ref string) *regError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported()
	}
	d, err := parseDigest(ref)
	if err != nil {
		return errDigestInvalid()
	}
	dir := h.st.repoPath(name, "_referrers", d.Algorithm().String(), d.Encoded())
	names, _ := list(dir)
	filter := r.URL.Query().Get("artifactType")
	idx := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			continue
		}
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
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(idx)
	}
	return nil
}

// ----- discovery -----

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, name string) *regError {
	if r.Method != http.MethodGet {
		return errUnsupported()
	}
	if !h.repoExists(name) {
		return errNameUnknown()
	}
	tags, _ := list(h.st.repoPath(name, "_tags"))
	page, next, e := paginate(tags, r.URL.Query())
	if e != nil {
		return e
	}
	if next != "" {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?last=%s&n=%s>; rel="next"`, name, url.QueryEscape(next), r.URL.Query().Get("n")))
	}
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, map[string]any{"name": name, "tags": page})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) {
	repos, _ := h.st.repositories()
	page, next, e := paginate(repos, r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	if next != "" {
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?last=%s&n=%s>; rel="next"`, url.QueryEscape(next), r.URL.Query().Get("n")))
	}
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, map[string]any{"repositories": page})
}

// paginate applies ?n= and ?last= to a sorted list; next is the last
// element returned when more follow.
func paginate(all []string, q url.Values) (page []string, next string, e *regError) {
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(all, last)
		if i < len(all) && all[i] == last {
			i++
		}
		all = all[i:]
	}
	page = all
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return nil, "", errf(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
		}
		if n < len(all) {
			page = all[:n]
			if n > 0 {
				next = page[n-1]
			}
		}
	}
	if page == nil {
		page = []string{}
	}
	return page, next, nil
}

func writeJSON(w http.ResponseWriter, v any) *regError {
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
	return nil
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// foreignLayer reports a layer clients do not upload (Windows base layers,
// OCI non-distributable layers): its blob need not be in the registry.
func foreignLayer(d ocispec.Descriptor) bool {
	return strings.Contains(d.MediaType, ".foreign.") || strings.Contains(d.MediaType, ".nondistributable.")
}
