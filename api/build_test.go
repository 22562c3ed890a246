package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/builder"
)

// buildFake is the fake backend plus the builder.
type buildFake struct {
	*fakeBackend
	opts     builder.Options
	body     string
	run      func(out io.Writer) error
	pruneAll bool
}

func (b *buildFake) Build(ctx context.Context, src io.Reader, opts builder.Options, out io.Writer) (string, error) {
	data, _ := io.ReadAll(src)
	b.opts, b.body = opts, string(data)
	if b.run != nil {
		return "", b.run(out)
	}
	return "sha256:abc", nil
}

func (b *buildFake) BuildPrune(ctx context.Context, all bool) (build.CachePruneReport, error) {
	b.pruneAll = all
	return build.CachePruneReport{CachesDeleted: []string{"sha256:1"}, SpaceReclaimed: 5}, nil
}

func TestBuildQuery(t *testing.T) {
	f := &buildFake{fakeBackend: newFake()}
	h := New(f)
	rec := do(h, "POST", `/v1.47/build?t=a&t=b:2&dockerfile=sub/Df&target=x&nocache=1&pull=1&q=1&networkmode=default&buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D`, strings.NewReader("FROM x"))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	o := f.opts
	assert.Equal(t, []string{"a", "b:2"}, o.Tags)
	assert.Equal(t, "sub/Df", o.Dockerfile)
	assert.Equal(t, "x", o.Target)
	assert.True(t, o.NoCache && o.Pull && o.Quiet)
	assert.Equal(t, "", o.NetworkMode, "default is the bridge")
	require.Contains(t, o.BuildArgs, "B")
	assert.Nil(t, o.BuildArgs["B"])
	assert.Equal(t, "1", *o.BuildArgs["A"])
	assert.Equal(t, map[string]string{"l": "v"}, o.Labels)
	assert.Equal(t, "FROM x", f.body)

	for _, bad := range []string{"/build?t=UPPER", "/build?buildargs=nojson", "/build?t=a@sha256:" + strings.Repeat("a", 64), "/build?remote=https://x/y.git"} {
		rec := do(h, "POST", bad, nil)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotImplemented}, rec.Code, bad)
	}
}

func TestBuildErrors(t *testing.T) {
	f := &buildFake{fakeBackend: newFake()}
	h := New(f)
	// Before any output: the status code carries the error.
	f.run = func(io.Writer) error {
		return fmt.Errorf("Dockerfile:3: unknown instruction: FOO: %w", errdefs.ErrInvalidArgument)
	}
	rec := do(h, "POST", "/build", nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "Dockerfile:3: unknown instruction: FOO", errorBody(t, rec))

	// After output: in-band, a failed RUN with its exit code.
	f.run = func(out io.Writer) error {
		out.Write([]byte(`{"stream":"Step 1/2 : RUN exit 3\n"}` + "\r\n"))
		return &builder.ExitError{Cmd: []string{"/bin/sh", "-c", "exit 3"}, Code: 3}
	}
	rec = do(h, "POST", "/build", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\r\n")
	require.Len(t, lines, 2)
	var m struct {
		Error       string
		ErrorDetail struct {
			Code    int
			Message string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	assert.Equal(t, 3, m.ErrorDetail.Code)
	assert.Equal(t, "The command '/bin/sh -c exit 3' returned a non-zero code: 3", m.Error)
}

func TestBuildPruneRoute(t *testing.T) {
	f := &buildFake{fakeBackend: newFake()}
	rec := do(New(f), "POST", "/build/prune?all=1", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, f.pruneAll)
	assert.JSONEq(t, `{"CachesDeleted":["sha256:1"],"SpaceReclaimed":5}`, rec.Body.String())
	assert.Equal(t, http.StatusOK, do(New(f), "POST", "/build/cancel?id=x", nil).Code)
}
