package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"wharf.io/wharf/builder"
	"wharf.io/wharf/image"
	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/snapshot"
)

// builderLabel marks the containers RUN steps run in.
const builderLabel = "io.wharf.builder"

// Build implements POST /build: it unpacks the context read from src under
// the daemon's root, runs the Dockerfile and writes docker JSON messages
// to out. The returned error has not been written to out.
func (e *Engine) Build(ctx context.Context, src io.Reader, opts builder.Options, out io.Writer) (string, error) {
	base := filepath.Join(e.cfg.Root, "builder")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(base, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	opts.ContextDir = filepath.Join(dir, "context")
	if err := os.Mkdir(opts.ContextDir, 0o700); err != nil {
		return "", err
	}
	if err := builder.ExtractContext(src, opts.ContextDir, builder.DefaultContextLimit); err != nil {
		return "", err
	}
	return builder.New(buildBackend{e}, builder.NewCache(e.db), e.cfg.Logger).Build(ctx, opts, out)
}

// BuildPrune implements POST /build/prune.
func (e *Engine) BuildPrune(ctx context.Context, all bool) (build.CachePruneReport, error) {
	return builder.New(buildBackend{e}, builder.NewCache(e.db), e.cfg.Logger).Prune(ctx, all)
}

// buildBackend is the engine as the builder sees it.
type buildBackend struct{ e *Engine }

var _ builder.Backend = buildBackend{}

func (b buildBackend) ImageConfig(ctx context.Context, ref string) (string, dockerspec.DockerOCIImage, error) {
	img, err := b.e.images.Get(ctx, ref)
	if err != nil {
		return "", dockerspec.DockerOCIImage{}, err
	}
	return string(img.ID), img.Config, nil
}

func (b buildBackend) PullImage(ctx context.Context, ref string, out io.Writer) error {
	return b.e.ImagePull(ctx, ref, "", "", out)
}

func (b buildBackend) parent(ctx context.Context, id string) (*image.Image, error) {
	if id == "" {
		return nil, nil
	}
	return b.e.images.Get(ctx, id)
}

func (b buildBackend) CreateImage(ctx context.Context, parent string, cfg dockerspec.DockerOCIImage) (string, error) {
	p, err := b.parent(ctx, parent)
	if err != nil {
		return "", err
	}
	img, err := b.e.images.Derive(ctx, p, cfg, "")
	if err != nil {
		return "", err
	}
	return string(img.ID), nil
}

// buildRootfs is a snapshot mounted for COPY/ADD/WORKDIR. Its key starts
// with the image store's extraction prefix, so one left behind by a crash
// is collected when the daemon starts again.
type buildRootfs struct {
	e      *Engine
	key    string
	dir    string
	parent *image.Image
}

func (b buildBackend) PrepareRootfs(ctx context.Context, parent string) (builder.Rootfs, error) {
	p, err := b.parent(ctx, parent)
	if err != nil {
		return nil, err
	}
	chain := ""
	if p != nil {
		chain = string(p.ChainID)
	}
	r := &buildRootfs{e: b.e, key: "extract-build-" + ids.New(), parent: p}
	mounts, err := b.e.snaps.Prepare(ctx, r.key, chain)
	if err != nil {
		return nil, fmt.Errorf("prepare build rootfs: %w", err)
	}
	r.dir = filepath.Join(b.e.cfg.ExecRoot, "builder", r.key)
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		b.e.snaps.Remove(context.WithoutCancel(ctx), r.key)
		return nil, err
	}
	if err := snapshot.MountAll(mounts, r.dir); err != nil {
		os.Remove(r.dir)
		b.e.snaps.Remove(context.WithoutCancel(ctx), r.key)
		return nil, fmt.Errorf("mount build rootfs: %w", err)
	}
	return r, nil
}

func (r *buildRootfs) Path() string { return r.dir }

func (r *buildRootfs) Commit(ctx context.Context, cfg dockerspec.DockerOCIImage) (string, error) {
	img, err := r.e.images.Commit(ctx, r.parent, r.key, cfg, "")
	if err != nil {
		return "", err
	}
	return string(img.ID), nil
}

func (r *buildRootfs) Release() error {
	if r.dir == "" {
		return nil
	}
	err := snapshot.Unmount(r.dir)
	if err == nil {
		os.Remove(r.dir)
		err = r.e.snaps.Remove(context.Background(), r.key)
	}
	r.dir = ""
	return err
}

func (b buildBackend) CreateContainer(ctx context.Context, spec builder.ContainerSpec) (string, error) {
	req := &container.CreateRequest{
		Config: &container.Config{
			Image: spec.Image,
			Cmd:   spec.Cmd,
			// [""] clears the image's entrypoint: RUN runs its own argv.
			Entrypoint:  []string{""},
			Env:         spec.Env,
			WorkingDir:  spec.WorkingDir,
			User:        spec.User,
			Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
			// Marks it as the builder's: a daemon that died mid-RUN
			// removes it at its next start (reclaimBuildLeftovers).
			Labels: map[string]string{builderLabel: "run"},
		},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(spec.NetworkMode)},
	}
	resp, err := b.e.ContainerCreate(ctx, "", req)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func (b buildBackend) StartAndWait(ctx context.Context, id string, stdout, stderr io.Writer) (int, error) {
	attached := make(chan struct{})
	attachDone := make(chan error, 1)
	go func() {
		attachDone <- b.e.ContainerAttach(ctx, id, AttachStreams{Stdout: stdout, Stderr: stderr, Stream: true,
			Requested: time.Now(), Attached: func() error { close(attached); return nil }})
	}()
	select {
	case <-attached:
	case err := <-attachDone:
		return -1, err
	}
	waitC, err := b.e.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err != nil {
		return -1, err
	}
	if err := b.e.ContainerStart(ctx, id); err != nil {
		return -1, err
	}
	select {
	case res := <-waitC:
		// The exit is recorded; the attachment ends once the output is drained.
		select {
		case <-attachDone:
		case <-ctx.Done():
		}
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("%s: %w", res.Error.Message, errdefs.ErrUnknown)
		}
		return int(res.StatusCode), nil
	case <-ctx.Done():
		b.e.ContainerKill(context.WithoutCancel(ctx), id, "KILL")
		return -1, ctx.Err()
	}
}

func (b buildBackend) CommitContainer(ctx context.Context, id string, cfg dockerspec.DockerOCIImage) (string, error) {
	c, err := b.e.get(id)
	if err != nil {
		return "", err
	}
	parent, err := b.e.images.Get(ctx, c.ImageID)
	if err != nil {
		return "", err
	}
	img, err := b.e.images.Commit(ctx, parent, c.ID, cfg, "")
	if err != nil {
		return "", err
	}
	return string(img.ID), nil
}

func (b buildBackend) RemoveContainer(ctx context.Context, id string) error {
	return b.e.ContainerRemove(ctx, id, true, true)
}

func (b buildBackend) Tag(ctx context.Context, imageID, ref string) error {
	if err := b.e.images.Tag(ctx, imageID, ref); err != nil {
		return err
	}
	b.e.events.publish(events.ImageEventType, events.ActionTag, imageID, map[string]string{"name": ref})
	return nil
}

func (b buildBackend) RemoveImage(ctx context.Context, id string) (int64, error) {
	img, err := b.e.images.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if len(img.RepoTags) > 0 {
		return 0, fmt.Errorf("image %s is tagged: %w", id, errdefs.ErrConflict)
	}
	before, err := b.e.images.List(ctx)
	if err != nil {
		return 0, err
	}
	resp, err := b.e.ImageDelete(ctx, id, false, false)
	if err != nil {
		return 0, err
	}
	after, err := b.e.images.List(ctx)
	if err != nil {
		return 0, nil // deleted; only the count is unknown
	}
	return reclaimedBy(before, after, resp), nil
}

// reclaimedBy estimates the bytes a deletion freed: the own layer of each
// deleted image whose layer no remaining image uses. An image's own layer
// is what its size adds to its parent's; a config-only step adds none.
func reclaimedBy(before, after []*image.Image, resp []imagetypes.DeleteResponse) int64 {
	byID := map[digest.Digest]*image.Image{}
	for _, img := range before {
		byID[img.ID] = img
	}
	kept := map[digest.Digest]bool{}
	for _, img := range after {
		kept[img.ChainID] = true
	}
	counted := map[digest.Digest]bool{}
	var n int64
	for _, r := range resp {
		img := byID[digest.Digest(r.Deleted)]
		if img == nil || img.ChainID == "" || kept[img.ChainID] || counted[img.ChainID] {
			continue
		}
		own := int64(0)
		if p := byID[img.Parent]; p != nil {
			if p.ChainID != img.ChainID {
				own = img.Size - p.Size
			}
		} else if len(img.Layers) == 1 {
			own = img.Size
		}
		if own > 0 {
			counted[img.ChainID] = true
			n += own
		}
	}
	return n
}
