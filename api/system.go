package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client/pkg/versions"

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
	// The docker CLI prints the engine's API versions from its component details.
	for i, c := range v.Components {
		if c.Name == "Engine" {
			if c.Details == nil {
				c.Details = map[string]string{}
			}
			c.Details["ApiVersion"] = APIVersion
			c.Details["MinAPIVersion"] = MinAPIVersion
			v.Components[i] = c
		}
	}
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
	if versions.LessThan(apiVersion(r.Context()), "1.52") {
		return writeJSON(w, http.StatusOK, legacyDiskUsage(du))
	}
	return writeJSON(w, http.StatusOK, du)
}

// legacyDF is /system/df as API versions before 1.52 shape it (docker CLI
// v28 speaks 1.50); moby's current types only describe the new shape.
type legacyDF struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []struct{}
}

func legacyDiskUsage(du system.DiskUsage) legacyDF {
	out := legacyDF{Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []volume.Volume{}, BuildCache: []struct{}{}}
	if du.ImageUsage != nil {
		out.LayersSize = du.ImageUsage.TotalSize
		out.Images = append(out.Images, du.ImageUsage.Items...)
	}
	if du.ContainerUsage != nil {
		out.Containers = append(out.Containers, du.ContainerUsage.Items...)
	}
	if du.VolumeUsage != nil {
		out.Volumes = append(out.Volumes, du.VolumeUsage.Items...)
	}
	return out
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
	for k := range f {
		if !eventFilterKeys[k] {
			return fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
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

// eventFilterKeys are the filters docker's /events accepts.
var eventFilterKeys = map[string]bool{
	"config": true, "container": true, "daemon": true, "event": true, "image": true, "label": true,
	"network": true, "node": true, "plugin": true, "scope": true, "secret": true, "service": true,
	"type": true, "volume": true,
}
