package image

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildChain makes base:1 → two untagged steps → app:1, as a build does.
func buildChain(t *testing.T, s *Store) (base, step1, step2, app *Image) {
	ctx := context.Background()
	base = importImage(t, s, "base:1")
	derive := func(parent *Image, env, ref string) *Image {
		cfg := parent.Config
		cfg.Config.Env = append(append([]string{}, cfg.Config.Env...), env)
		img, err := s.Derive(ctx, parent, cfg, ref)
		require.NoError(t, err)
		assert.Equal(t, parent.ID, img.Parent)
		return img
	}
	step1 = derive(base, "A=1", "")
	step2 = derive(step1, "B=2", "")
	app = derive(step2, "C=3", "app:1")
	return
}

func ids(t *testing.T, s *Store, all bool) []string {
	sums, err := s.Summaries(context.Background(), all)
	require.NoError(t, err)
	var out []string
	for _, x := range sums {
		out = append(out, x.ID)
	}
	return out
}

func TestIntermediateImagesHiddenAndKept(t *testing.T) {
	s := newEnv(t).store
	ctx := context.Background()
	base, step1, step2, app := buildChain(t, s)

	assert.ElementsMatch(t, []string{string(base.ID), string(app.ID)}, ids(t, s, false), "images hides intermediate images")
	assert.Len(t, ids(t, s, true), 4, "images -a shows them")

	report, err := s.Prune(ctx, true, nil)
	require.NoError(t, err)
	assert.Empty(t, report.ImagesDeleted, "dangling prune keeps the parents of a tagged image (the build cache)")

	_, err = s.Remove(ctx, string(step1.ID), false, false, nil)
	assert.True(t, errdefs.IsConflict(err))
	assert.ErrorContains(t, err, "image has dependent child images")

	resp, err := s.Remove(ctx, "app:1", false, false, nil)
	require.NoError(t, err)
	var deleted []string
	for _, r := range resp {
		if r.Deleted != "" {
			deleted = append(deleted, r.Deleted)
		}
	}
	assert.ElementsMatch(t, []string{string(app.ID), string(step2.ID), string(step1.ID)}, deleted,
		"rmi takes the build's untagged parents along, not the tagged base")
	assert.Equal(t, []string{string(base.ID)}, ids(t, s, true))
}

func TestRemoveLastTagOfParentUntags(t *testing.T) {
	s := newEnv(t).store
	ctx := context.Background()
	base, step1, step2, app := buildChain(t, s)
	all := []string{string(base.ID), string(step1.ID), string(step2.ID), string(app.ID)}
	resp, err := s.Remove(ctx, "base:1", false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, "base:1", resp[0].Untagged)
	assert.Len(t, resp, 1, "the image stays: others were built on it")
	_, err = s.Get(ctx, string(base.ID))
	assert.NoError(t, err)

	// Now the whole chain is untagged except app:1; -a prune removes all
	// that no container uses, children first.
	report, err := s.Prune(ctx, false, nil)
	require.NoError(t, err)
	var deleted []string
	for _, r := range report.ImagesDeleted {
		deleted = append(deleted, r.Deleted)
	}
	for _, id := range all {
		assert.Contains(t, deleted, id)
	}
	assert.Empty(t, ids(t, s, true))
}
