package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
)

// imageInUse reports whether any container was created from image id.
func (e *Engine) imageInUse(id digest.Digest) bool {
	for _, c := range e.list() {
		if c.ImageID == string(id) {
			return true
		}
	}
	return false
}

// ImageList implements GET /images/json.
func (e *Engine) ImageList(ctx context.Context, all bool, filters Filters) ([]imagetypes.Summary, error) {
	if err := validateFilters(filters, "dangling", "reference", "label", "before", "since", "until"); err != nil {
		return nil, err
	}
	sums, err := e.images.Summaries(ctx, all)
	if err != nil {
		return nil, err
	}
	out := []imagetypes.Summary{}
	for _, s := range sums {
		if matchImage(s, filters) {
			out = append(out, s)
		}
	}
	return out, nil
}

func matchImage(s imagetypes.Summary, f Filters) bool {
	if v := f["dangling"]; len(v) > 0 {
		dangling := len(s.RepoTags) == 0
		if (v[0] == "true" || v[0] == "1") != dangling {
			return false
		}
	}
	if v := f["reference"]; len(v) > 0 {
		ok := false
		for _, pat := range v {
			for _, t := range s.RepoTags {
				// As docker: the pattern against "name:tag" and "name", in
				// their familiar forms (a registry's port is no tag).
				ref, err := reference.ParseNormalizedNamed(t)
				if err != nil {
					continue
				}
				if m, err := reference.FamiliarMatch(pat, ref); err == nil && m {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	for _, l := range f["label"] {
		k, val, hasVal := strings.Cut(l, "=")
		got, present := s.Labels[k]
		if !present || (hasVal && got != val) {
			return false
		}
	}
	return true
}

// ImageInspect implements GET /images/{name}/json.
func (e *Engine) ImageInspect(ctx context.Context, ref string) (imagetypes.InspectResponse, error) {
	return e.images.Inspect(ctx, ref)
}

// ImageDelete implements DELETE /images/{name}.
func (e *Engine) ImageDelete(ctx context.Context, ref string, force, noPrune bool) ([]imagetypes.DeleteResponse, error) {
	e.reclaims.wait() // a container removed a moment ago may still sit on its layers
	resp, err := e.images.Remove(ctx, ref, force, noPrune, e.imageInUse)
	for _, r := range resp {
		if r.Untagged != "" {
			e.events.publish(events.ImageEventType, events.ActionUnTag, r.Untagged, map[string]string{"name": r.Untagged})
		}
		if r.Deleted != "" {
			e.events.publish(events.ImageEventType, events.ActionDelete, r.Deleted, map[string]string{"name": r.Deleted})
		}
	}
	return resp, err
}

// ImageTag implements POST /images/{name}/tag.
func (e *Engine) ImageTag(ctx context.Context, src, repo, tag string) error {
	if repo == "" {
		return fmt.Errorf("repository name must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	if err := e.images.Tag(ctx, src, target); err != nil {
		return err
	}
	img, err := e.images.Get(ctx, target)
	if err == nil {
		e.events.publish(events.ImageEventType, events.ActionTag, string(img.ID), map[string]string{"name": target})
	}
	return nil
}

// ImageHistory implements GET /images/{name}/history.
func (e *Engine) ImageHistory(ctx context.Context, ref string) ([]imagetypes.HistoryResponseItem, error) {
	return e.images.History(ctx, ref)
}

// ImagePrune implements POST /images/prune.
func (e *Engine) ImagePrune(ctx context.Context, filters Filters) (imagetypes.PruneReport, error) {
	if err := validateFilters(filters, "dangling", "label", "until"); err != nil {
		return imagetypes.PruneReport{}, err
	}
	danglingOnly := true
	if v := filters["dangling"]; len(v) > 0 && (v[0] == "false" || v[0] == "0") {
		danglingOnly = false
	}
	e.reclaims.wait()
	rep, err := e.images.Prune(ctx, danglingOnly, e.imageInUse)
	if rep.ImagesDeleted == nil {
		rep.ImagesDeleted = []imagetypes.DeleteResponse{}
	}
	return rep, err
}

// ImageImport implements POST /images/create?fromSrc=-.
func (e *Engine) ImageImport(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string) (string, error) {
	ref := repo
	if ref != "" && tag != "" {
		ref += ":" + tag
	}
	img, err := e.images.Import(ctx, src, ref, changes, message)
	if err != nil {
		return "", err
	}
	e.events.publish(events.ImageEventType, events.ActionImport, string(img.ID), map[string]string{"name": ref})
	return string(img.ID), nil
}

// ImageLoad implements POST /images/load.
func (e *Engine) ImageLoad(ctx context.Context, src io.Reader, progress func(line string)) error {
	lines, err := e.images.Load(ctx, src, progress)
	for _, l := range lines {
		progress(l)
		e.events.publish(events.ImageEventType, events.ActionLoad, l, nil)
	}
	return err
}

// ImageSave implements GET /images/get.
func (e *Engine) ImageSave(ctx context.Context, refs []string, w io.Writer) error {
	if err := e.images.Save(ctx, refs, w); err != nil {
		return err
	}
	for _, r := range refs {
		e.events.publish(events.ImageEventType, events.ActionSave, r, nil)
	}
	return nil
}
