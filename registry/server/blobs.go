package server

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"wharf.io/wharf/registry/server/storage"
)

func (h *Handler) blobs(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	d, err := storage.ParseDigest(ref)
	if err != nil {
		return errDigestInvalid(err.Error())
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !h.st.HasBlobLink(name, d) {
			return errBlobUnknown("blob " + d.String() + " unknown to " + name)
		}
		f, err := h.st.OpenBlob(d)
		if err != nil {
			return fromStore(err, errBlobUnknown)
		}
		defer f.Close()
		hdr := w.Header()
		hdr.Set("Docker-Content-Digest", d.String())
		hdr.Set("Content-Type", "application/octet-stream")
		hdr.Set("Etag", `"`+d.String()+`"`)
		hdr.Set("Cache-Control", "max-age=31536000") // content-addressed: never changes
		// ServeContent answers Range (206, 416) and HEAD.
		http.ServeContent(&jsonErrorWriter{ResponseWriter: w}, r, "", time.Time{}, f)
		return nil
	case http.MethodDelete:
		if err := h.st.UnlinkBlob(name, d); err != nil {
			return fromStore(err, errBlobUnknown)
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errUnsupported(r.Method + " on a blob")
}

func (h *Handler) uploads(w http.ResponseWriter, r *http.Request, name, id, user string) *apiError {
	if id == "" {
		if r.Method != http.MethodPost {
			return errUnsupported(r.Method + " on the uploads collection")
		}
		return h.startUpload(w, r, name, user)
	}
	hdr := w.Header()
	switch r.Method {
	case http.MethodGet:
		u, err := h.st.Upload(name, id)
		if err != nil {
			return fromStore(err, errBlobUploadUnknown)
		}
		uploadHeaders(hdr, name, id, u.Offset)
		hdr.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := h.st.CancelUpload(name, id); err != nil {
			return fromStore(err, errBlobUploadUnknown)
		}
		hdr.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		start, size, e := chunkRange(r)
		if e != nil {
			return e
		}
		u, err := h.st.AppendUpload(name, id, start, size, h.opts.MaxBlobSize, h.limitBody(w, r))
		if err != nil {
			e := fromStore(err, errBlobUploadUnknown)
			if e.status == http.StatusRequestedRangeNotSatisfiable || e.status == http.StatusRequestEntityTooLarge {
				// Tell the client where to resume.
				if cur, err := h.st.Upload(name, id); err == nil {
					uploadHeaders(hdr, name, id, cur.Offset)
				}
			}
			return e
		}
		uploadHeaders(hdr, name, id, u.Offset)
		hdr.Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	case http.MethodPut:
		d, err := storage.ParseDigest(r.URL.Query().Get("digest"))
		if err != nil {
			return errDigestInvalid(err.Error())
		}
		start, size, e := chunkRange(r)
		if e != nil {
			return e
		}
		if err := h.st.FinishUpload(name, id, start, size, h.opts.MaxBlobSize, h.limitBody(w, r), d); err != nil {
			return fromStore(err, errBlobUploadUnknown)
		}
		return created(w, name, d.String())
	}
	return errUnsupported(r.Method + " on an upload")
}

// uploadHeaders tells the client where an upload session is and how much
// of it the registry holds.
func uploadHeaders(hdr http.Header, name, id string, offset int64) {
	hdr.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	hdr.Set("Docker-Upload-UUID", id)
	hdr.Set("Range", rangeHeader(offset))
}

// chunkRange reads a chunk's Content-Range (-1, -1 without one) and checks
// it against Content-Length when both are given.
func chunkRange(r *http.Request) (start, size int64, e *apiError) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, -1, nil
	}
	s, end, err := parseContentRange(cr)
	if err != nil {
		return 0, 0, newError(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", err.Error())
	}
	size = end - s + 1
	if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.FormatInt(size, 10) {
		return 0, 0, newError(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "Content-Length "+cl+" does not match Content-Range "+cr)
	}
	return s, size, nil
}

func (h *Handler) limitBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return http.MaxBytesReader(w, r.Body, h.opts.MaxBlobSize)
}

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, name, user string) *apiError {
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		if d, err := storage.ParseDigest(mount); err == nil {
			from := q.Get("from")
			switch {
			case from == "":
				// Anonymous mount (distribution-spec 1.1): any blob the
				// registry holds — every signed-in user may pull all of it.
				if h.st.HasBlob(d) {
					return h.link(w, name, d.String(), h.st.LinkBlob(name, d))
				}
			case storage.ValidateRepository(from) == nil && h.mayMountFrom(user, from) && h.st.HasBlobLink(from, d):
				return h.link(w, name, d.String(), h.st.LinkBlob(name, d))
			}
		}
		// Not mountable: an ordinary upload session, as the spec says.
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := storage.ParseDigest(ds)
		if err != nil {
			return errDigestInvalid(err.Error())
		}
		body := h.limitBody(w, r)
		if cl := r.ContentLength; cl >= 0 {
			body = io.LimitReader(body, cl)
		}
		if _, err := h.st.PutBlob(body, d); err != nil {
			return fromStore(err, errBlobUnknown)
		}
		return h.link(w, name, d.String(), h.st.LinkBlob(name, d))
	}
	u, err := h.st.StartUpload(name)
	if err != nil {
		return fromStore(err, errBlobUploadUnknown)
	}
	hdr := w.Header()
	uploadHeaders(hdr, name, u.ID, 0)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) link(w http.ResponseWriter, name, d string, err error) *apiError {
	if err != nil {
		return fromStore(err, errBlobUnknown)
	}
	return created(w, name, d)
}

func created(w http.ResponseWriter, name, d string) *apiError {
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+name+"/blobs/"+d)
	hdr.Set("Docker-Content-Digest", d)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}
