package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/registry/server/storage"
)

// resolve turns a tag or digest reference into a manifest digest.
func (h *Handler) resolve(name, ref string) (digest.Digest, *apiError) {
	if strings.Contains(ref, ":") {
		d, err := storage.ParseDigest(ref)
		if err != nil {
			return "", errDigestInvalid(err.Error())
		}
		return d, nil
	}
	if storage.ValidateTag(ref) != nil {
		return "", errTagInvalid("tag " + strconv.Quote(ref) + " is not a valid tag")
	}
	d, err := h.st.ResolveTag(name, ref)
	if err != nil {
		return "", fromStore(err, errManifestUnknown)
	}
	return d, nil
}

func (h *Handler) manifests(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d, e := h.resolve(name, ref)
		if e != nil {
			return e
		}
		mt, body, err := h.st.Manifest(name, d)
		if err != nil {
			return fromStore(err, errManifestUnknown)
		}
		hdr := w.Header()
		hdr.Set("Content-Type", mt)
		hdr.Set("Docker-Content-Digest", d.String())
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		hdr.Set("Etag", `"`+d.String()+`"`)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, d.String()) {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
		return nil
	case http.MethodPut:
		return h.putManifest(w, r, name, ref)
	case http.MethodDelete:
		var err error
		if strings.Contains(ref, ":") {
			d, perr := storage.ParseDigest(ref)
			if perr != nil {
				return errDigestInvalid(perr.Error())
			}
			err = h.st.DeleteManifest(name, d)
		} else {
			if storage.ValidateTag(ref) != nil {
				return errTagInvalid("tag " + strconv.Quote(ref) + " is not a valid tag")
			}
			err = h.st.Untag(name, ref)
		}
		if err != nil {
			return fromStore(err, errManifestUnknown)
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errUnsupported(r.Method + " on a manifest")
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	if r.ContentLength > MaxManifestSize {
		return errSizeInvalid(http.StatusRequestEntityTooLarge, fmt.Sprintf("manifest larger than %d bytes", MaxManifestSize))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxManifestSize+1))
	if err != nil {
		return errManifestInvalid(err.Error())
	}
	if len(body) > MaxManifestSize {
		return errSizeInvalid(http.StatusRequestEntityTooLarge, fmt.Sprintf("manifest larger than %d bytes", MaxManifestSize))
	}
	// The digest is computed with the reference's algorithm when pushed by
	// digest (sha512 content), sha256 otherwise.
	var d digest.Digest
	var tags []string
	if strings.Contains(ref, ":") {
		want, err := storage.ParseDigest(ref)
		if err != nil {
			return errDigestInvalid(err.Error())
		}
		if d = want.Algorithm().FromBytes(body); d != want {
			return errDigestInvalid(fmt.Sprintf("manifest is %s, not %s", d, want))
		}
		// PUT …/manifests/<digest>?tag=a&tag=b tags in the same request.
		for _, t := range r.URL.Query()["tag"] {
			if storage.ValidateTag(t) != nil {
				return errTagInvalid("tag " + strconv.Quote(t) + " is not a valid tag")
			}
			tags = append(tags, t)
		}
	} else {
		if storage.ValidateTag(ref) != nil {
			return errTagInvalid("tag " + strconv.Quote(ref) + " is not a valid tag")
		}
		d, tags = digest.SHA256.FromBytes(body), []string{ref}
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	m, mt, err := storage.ParseManifest(strings.TrimSpace(ct), body)
	if err != nil {
		return errManifestInvalid(err.Error())
	}
	if e := h.checkReferences(name, mt, m); e != nil {
		return e
	}
	if err := h.st.PutManifest(name, d, mt, body); err != nil {
		return fromStore(err, errManifestInvalid)
	}
	for _, t := range tags {
		if err := h.st.Tag(name, t, d); err != nil {
			return fromStore(err, errManifestUnknown)
		}
	}
	hdr := w.Header()
	if m.Subject != nil {
		desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body)), ArtifactType: m.ArtifactType, Annotations: m.Annotations}
		if desc.ArtifactType == "" && m.Config != nil {
			desc.ArtifactType = m.Config.MediaType
		}
		b, _ := json.Marshal(desc)
		if err := h.st.AddReferrer(name, m.Subject.Digest, d, b); err != nil {
			return fromStore(err, errManifestInvalid)
		}
		hdr.Set("OCI-Subject", m.Subject.Digest.String())
	}
	if strings.Contains(ref, ":") && len(tags) > 0 {
		hdr.Set("OCI-Tag", strings.Join(tags, ","))
	}
	hdr.Set("Location", "/v2/"+name+"/manifests/"+d.String())
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkReferences refuses a manifest whose config, layers or index entries
// are not in the repository, as distribution does, so a pull of a pushed
// tag never ends on a missing blob. Non-distributable layers are never
// pushed; a subject may be pushed after its referrers; AllowSparse lets
// layers and index entries be missing.
func (h *Handler) checkReferences(name, mt string, m storage.ManifestFields) *apiError {
	missing := func(d ocispec.Descriptor, what string) *apiError {
		e := newError(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", what+" "+d.Digest.String()+" is not in "+name)
		e.Detail = map[string]string{"digest": d.Digest.String()}
		return e
	}
	if storage.IsIndex(mt) {
		if h.opts.AllowSparse {
			return nil
		}
		for _, c := range m.Manifests {
			if !h.st.HasManifest(name, c.Digest) {
				return missing(c, "manifest")
			}
		}
		return nil
	}
	if !h.st.HasBlobLink(name, m.Config.Digest) {
		return missing(*m.Config, "config blob")
	}
	for _, l := range append(m.Layers, m.Blobs...) {
		if storage.NonDistributable(l) || h.opts.AllowSparse {
			continue
		}
		if !h.st.HasBlobLink(name, l.Digest) {
			return missing(l, "layer")
		}
	}
	return nil
}
