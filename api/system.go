package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/engine"
)

func (s *server) systemRoutes() {
	s.handle("GET /version", s.systemVersion)
	s.handle("GET /info", s.systemInfo)
	s.handle("GET /system/df", s.systemDiskUsage)
	s.handle("GET /events", s.systemEvents)
}

func (s *server) systemVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.backend.Version(r.Context())
	if err != nil {
		return err
	}
	v.APIVersion = APIVersion
	v.MinAPIVersion = MinAPIVersion
	if v.Os == "" {
		v.Os = runtime.GOOS
	}
	if v.Arch == "" {
		v.Arch = runtime.GOARCH
	}
	if v.Version == "" {
		v.Version = s.version
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *server) systemInfo(w http.ResponseWriter, r *http.Request) error {
	info, err := s.backend.Info(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

func (s *server) systemDiskUsage(w http.ResponseWriter, r *http.Request) error {
	du, err := s.backend.DiskUsage(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, du)
}

// systemEvents streams the past events asked for by since, then live ones
// until until, the client leaving or the server shutting down; each event
// is flushed as it is written.
func (s *server) systemEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := parseTimestamp("since", q.Get("since"))
	if err != nil {
		return err
	}
	until, err := parseTimestamp("until", q.Get("until"))
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return fmt.Errorf("until (%s) is before since (%s): %w", q.Get("until"), q.Get("since"), errdefs.ErrInvalidArgument)
	}
	f, err := filtersParam(r)
	if err != nil {
		return err
	}
	ctx, cancel := streamContext(r)
	defer cancel()

	past, live, unsubscribe := s.backend.Events(ctx, engine.EventsOptions{Since: since, Until: until, Filters: f})
	if unsubscribe != nil {
		defer unsubscribe()
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	if err := fw.Flush(); err != nil {
		return err
	}
	enc := json.NewEncoder(fw)
	for i := range past {
		if err := enc.Encode(&past[i]); err != nil {
			return err
		}
	}
	if live == nil {
		return nil
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case ev, ok := <-live:
			if !ok {
				return nil
			}
			if err := enc.Encode(&ev); err != nil {
				return err
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
