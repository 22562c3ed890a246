package image

import (
	"context"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inspect is `docker image inspect`.
func (s *Store) Inspect(ctx context.Context, refOrID string) (imagetypes.InspectResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, _, err := s.resolve(refOrID)
	if err != nil {
		return imagetypes.InspectResponse{}, err
	}
	img := s.image(e)
	cfg := e.config
	resp := imagetypes.InspectResponse{
		ID:           string(e.rec.ID),
		RepoTags:     img.RepoTags,
		RepoDigests:  img.RepoDigests,
		Author:       cfg.Author,
		Config:       &cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: "overlayfs", Data: map[string]string{}},
		RootFS:       imagetypes.RootFS{Type: "layers"},
		Metadata:     imagetypes.Metadata{LastTagTime: s.lastTagTime(e)},
	}
	if cfg.Created != nil {
		resp.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	if n := len(cfg.History); n > 0 {
		resp.Comment = cfg.History[n-1].Comment
	}
	for _, d := range e.diffIDs() {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	return resp, nil
}

func (s *Store) lastTagTime(e *entry) time.Time {
	var last time.Time
	for _, t := range s.tags {
		if t.ID == e.rec.ID && t.Time.After(last) {
			last = t.Time
		}
	}
	return last
}

// Summaries is `docker images` (GET /images/json). Without all it hides
// intermediate images: untagged ones that other images were built on.
func (s *Store) Summaries(ctx context.Context, all bool) ([]imagetypes.Summary, error) {
	imgs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	children := s.childCounts()
	s.mu.RUnlock()
	out := make([]imagetypes.Summary, 0, len(imgs))
	for _, img := range imgs {
		if !all && len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 && children[img.ID] > 0 {
			continue
		}
		var created int64
		if c := img.Config.Created; c != nil {
			created = c.Unix()
		} else {
			created = img.Created.Unix()
		}
		labels := img.Config.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, imagetypes.Summary{
			ID:          string(img.ID),
			ParentID:    string(img.Parent),
			RepoTags:    img.RepoTags,
			RepoDigests: img.RepoDigests,
			Created:     created,
			Size:        img.Size,
			SharedSize:  -1,
			Containers:  -1,
			Labels:      labels,
		})
	}
	return out, nil
}

// History is `docker history`: newest entry first; the top entry carries the
// image ID and tags, older ones "<missing>" as docker prints for images that
// were not built locally; sizes are those of the layers each step made.
func (s *Store) History(ctx context.Context, refOrID string) ([]imagetypes.HistoryResponseItem, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, _, err := s.resolve(refOrID)
	if err != nil {
		return nil, err
	}
	img := s.image(e)
	hist := e.config.History
	if len(hist) == 0 {
		// Configs without history: one synthetic step per layer.
		for range e.rec.Layers {
			hist = append(hist, ocispec.History{Created: e.config.Created})
		}
	}
	out := make([]imagetypes.HistoryResponseItem, 0, len(hist))
	layerIdx := 0
	for _, h := range hist {
		item := imagetypes.HistoryResponseItem{
			ID:        "<missing>",
			CreatedBy: h.CreatedBy,
			Comment:   h.Comment,
			Tags:      nil,
		}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layerIdx < len(e.rec.Layers) {
			item.Size = e.rec.Layers[layerIdx].Size
			layerIdx++
		}
		out = append(out, item)
	}
	// Newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = string(e.rec.ID)
		out[0].Tags = img.RepoTags
	}
	return out, nil
}

// chainIDsOf lists the chain ID of every layer prefix of e.
func chainIDsOf(e *entry) []string {
	var out []string
	for _, c := range identity.ChainIDs(e.diffIDs()) {
		out = append(out, c.String())
	}
	return out
}
