package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
)

// volumeUsers lists the containers that mount volume name.
func (e *Engine) volumeUsers(name string) []string {
	var out []string
	for _, c := range e.list() {
		c.mu.Lock()
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume && m.Name == name {
				out = append(out, c.ID)
			}
		}
		c.mu.Unlock()
	}
	return out
}

func (e *Engine) volumeInUse(name string) bool { return len(e.volumeUsers(name)) > 0 }

// VolumeCreate implements POST /volumes/create.
func (e *Engine) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	_, getErr := e.vols.Get(ctx, req.Name)
	v, err := e.vols.Create(ctx, req)
	if err == nil && (req.Name == "" || getErr != nil) {
		e.events.publish(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": v.Driver})
	}
	return v, err
}

// VolumeList implements GET /volumes.
func (e *Engine) VolumeList(ctx context.Context, filters Filters) (volume.ListResponse, error) {
	if err := validateFilters(filters, "name", "label", "dangling", "driver"); err != nil {
		return volume.ListResponse{}, err
	}
	vols, err := e.vols.List(ctx)
	if err != nil {
		return volume.ListResponse{}, err
	}
	resp := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range vols {
		if e.matchVolume(v, filters) {
			resp.Volumes = append(resp.Volumes, v)
		}
	}
	return resp, nil
}

func (e *Engine) matchVolume(v volume.Volume, f Filters) bool {
	for _, n := range f["name"] {
		if !strings.Contains(v.Name, n) {
			return false
		}
	}
	for _, d := range f["driver"] {
		if v.Driver != d {
			return false
		}
	}
	for _, l := range f["label"] {
		k, val, hasVal := strings.Cut(l, "=")
		got, ok := v.Labels[k]
		if !ok || (hasVal && got != val) {
			return false
		}
	}
	for _, d := range f["dangling"] {
		dangling := !e.volumeInUse(v.Name)
		if (d == "true" || d == "1") != dangling {
			return false
		}
	}
	return true
}

// VolumeInspect implements GET /volumes/{name}.
func (e *Engine) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return e.vols.Get(ctx, name)
}

// VolumeRemove implements DELETE /volumes/{name}.
func (e *Engine) VolumeRemove(ctx context.Context, name string, force bool) error {
	if users := e.volumeUsers(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(users, ", "), errdefs.ErrConflict)
	}
	err := e.vols.Remove(ctx, name)
	if errdefs.IsNotFound(err) && force {
		return nil
	}
	if err == nil {
		e.events.publish(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": "local"})
	}
	return err
}

// VolumePrune implements POST /volumes/prune: unused anonymous volumes, or
// all unused volumes with the filter all=true.
func (e *Engine) VolumePrune(ctx context.Context, filters Filters) (volume.PruneReport, error) {
	if err := validateFilters(filters, "label", "all"); err != nil {
		return volume.PruneReport{}, err
	}
	all := len(filters["all"]) > 0 && (filters["all"][0] == "true" || filters["all"][0] == "1")
	vols, err := e.vols.List(ctx)
	if err != nil {
		return volume.PruneReport{}, err
	}
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, v := range vols {
		if e.volumeInUse(v.Name) || (!all && !e.vols.IsAnonymous(v.Name)) || !e.matchVolume(v, Filters{"label": filters["label"]}) {
			continue
		}
		size := e.vols.Size(v.Name)
		if err := e.vols.Remove(ctx, v.Name); err == nil {
			rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
			rep.SpaceReclaimed += uint64(size)
			e.events.publish(events.VolumeEventType, events.ActionDestroy, v.Name, map[string]string{"driver": "local"})
		}
	}
	return rep, nil
}
