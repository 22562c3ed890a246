package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
)

func (s *server) imageRoutes() {
	s.handle("GET /images/json", s.imageList)
	s.handle("POST /images/create", s.imageCreate)
	s.handle("POST /images/load", s.imageLoad)
	s.handle("GET /images/get", s.imageSaveMany)
	s.handle("POST /images/prune", s.imagePrune)
	// Image names contain slashes ("127.0.0.1:5000/a/b:1"), so everything
	// after /images/ is one catch-all dispatched on its last segment.
	s.handle("GET /images/{name...}", s.imageGetDispatch)
	s.handle("POST /images/{name...}", s.imagePostDispatch)
	s.handle("DELETE /images/{name...}", s.imageDelete)
}

// splitAction cuts "a/b:1/json" into ("a/b:1", "json"). A bare name (no
// action) gives ("", "").
func splitAction(rest string) (name, action string) {
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", ""
	}
	return rest[:i], rest[i+1:]
}

func (s *server) imageGetDispatch(w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("name"))
	switch action {
	case "json":
		return s.imageInspect(w, r, name)
	case "history":
		return s.imageHistory(w, r, name)
	case "get":
		return s.imageSave(w, r, []string{name})
	}
	return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
}

func (s *server) imagePostDispatch(w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("name"))
	switch action {
	case "tag":
		return s.imageTag(w, r, name)
	case "push":
		return s.imagePush(w, r, name)
	}
	return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
}

func (s *server) imageList(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	list, err := s.backend.ImageList(r.Context(), boolValue(r, "all"), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *server) imageInspect(w http.ResponseWriter, r *http.Request, name string) error {
	resp, err := s.backend.ImageInspect(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	h, err := s.backend.ImageHistory(r.Context(), name)
	if err != nil {
		return err
	}
	if h == nil {
		h = []image.HistoryResponseItem{}
	}
	return writeJSON(w, http.StatusOK, h)
}

func (s *server) imageDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if name == "" {
		return fmt.Errorf("image name cannot be blank: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := s.backend.ImageDelete(r.Context(), name, boolValue(r, "force"), boolValue(r, "noprune"))
	if err != nil {
		return err
	}
	if resp == nil {
		resp = []image.DeleteResponse{}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return fmt.Errorf("repository name cannot be empty: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return fmt.Errorf("invalid reference %q: %s: %w", repo, err.Error(), errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Digested); ok {
		return fmt.Errorf("refusing to create a tag with a digest reference: %w", errdefs.ErrInvalidArgument)
	}
	if tag != "" {
		if _, err := reference.WithTag(named, tag); err != nil {
			return fmt.Errorf("invalid tag %q: %s: %w", tag, err.Error(), errdefs.ErrInvalidArgument)
		}
	}
	if err := s.backend.ImageTag(r.Context(), name, repo, tag); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	rep, err := s.backend.ImagePrune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (s *server) imageSaveMany(w http.ResponseWriter, r *http.Request) error {
	names := r.URL.Query()["names"]
	if len(names) == 0 {
		return fmt.Errorf("no images given to save: %w", errdefs.ErrInvalidArgument)
	}
	return s.imageSave(w, r, names)
}

// imageSave streams the tarball; the header is sent with the first bytes so
// an unknown image still gets a JSON 404.
func (s *server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	w.Header().Set("Content-Type", "application/x-tar")
	return s.backend.ImageSave(r.Context(), names, w)
}

func (s *server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	js := newJSONStream(w)
	var streamErr error
	progress := func(line string) {
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		if err := js.Stream(line); err != nil && streamErr == nil {
			streamErr = err
		}
	}
	if err := s.backend.ImageLoad(r.Context(), r.Body, progress); err != nil {
		return js.fail(err)
	}
	if err := js.start(); err != nil {
		return err
	}
	return streamErr
}

// imageCreate is both `docker import` (?fromSrc=-) and `docker pull`
// (?fromImage=).
func (s *server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	switch {
	case q.Get("fromImage") != "":
		return s.imagePull(w, r)
	case q.Get("fromSrc") == "-":
		return s.imageImport(w, r)
	case q.Get("fromSrc") != "":
		return fmt.Errorf("importing from a URL is not supported, pipe the tarball instead (fromSrc=-): %w", errdefs.ErrNotImplemented)
	}
	return fmt.Errorf("either fromImage or fromSrc must be given: %w", errdefs.ErrInvalidArgument)
}

func (s *server) imageImport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), q.Get("tag")
	if repo != "" {
		named, err := reference.ParseNormalizedNamed(repo)
		if err != nil {
			return fmt.Errorf("invalid reference %q: %s: %w", repo, err.Error(), errdefs.ErrInvalidArgument)
		}
		if tag != "" {
			if _, err := reference.WithTag(named, tag); err != nil {
				return fmt.Errorf("invalid tag %q: %s: %w", tag, err.Error(), errdefs.ErrInvalidArgument)
			}
		}
	}
	id, err := s.backend.ImageImport(r.Context(), r.Body, repo, tag, q["changes"], q.Get("message"))
	if err != nil {
		return err
	}
	return newJSONStream(w).Status(id)
}

func (s *server) imagePull(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref := q.Get("fromImage")
	if tag := q.Get("tag"); tag != "" {
		// The docker CLI sends a digest as the tag: fromImage=x&tag=sha256:…
		if strings.Contains(tag, ":") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("invalid reference %q: %s: %w", ref, err.Error(), errdefs.ErrInvalidArgument)
	}
	js := newJSONStream(w)
	pull := s.backend.ImagePull
	if reference.IsNameOnly(named) {
		// No tag: every tag of the repository, as docker's API says.
		db, err := s.distributionBackend()
		if err != nil {
			return err
		}
		pull = db.ImagePullAllTags
	}
	if err := pull(r.Context(), ref, q.Get("platform"), r.Header.Get("X-Registry-Auth"), js); err != nil {
		return js.fail(err)
	}
	return js.start()
}
