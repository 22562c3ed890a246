package builder

import (
	"context"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// Backend is what the builder needs from the engine. Image IDs are full
// "sha256:…" digests. Every method may be called from several stages at once.
type Backend interface {
	// ImageConfig resolves ref (a name or an ID) to the image's ID and
	// config; an errdefs NotFound error if there is no such image.
	ImageConfig(ctx context.Context, ref string) (id string, cfg dockerspec.DockerOCIImage, err error)
	// PullImage fetches ref from its registry, writing docker JSON progress to out.
	PullImage(ctx context.Context, ref string, out io.Writer) error
	// CreateImage stores an image with parent's layers (none if parent is
	// "") and config cfg, whose History must already describe the new step.
	CreateImage(ctx context.Context, parent string, cfg dockerspec.DockerOCIImage) (id string, err error)
	// PrepareRootfs mounts a writable root filesystem on top of image
	// parent ("" = empty). The caller must Release it.
	PrepareRootfs(ctx context.Context, parent string) (Rootfs, error)
	// CreateContainer creates (does not start) a container for a RUN step.
	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	// StartAndWait starts the container, copies its output to stdout and
	// stderr while it runs, and returns its exit code.
	StartAndWait(ctx context.Context, id string, stdout, stderr io.Writer) (exitCode int, err error)
	// CommitContainer stores the container's filesystem changes as a new
	// layer on top of its image, with config cfg.
	CommitContainer(ctx context.Context, id string, cfg dockerspec.DockerOCIImage) (imageID string, err error)
	// RemoveContainer removes a (stopped) container and its filesystem.
	RemoveContainer(ctx context.Context, id string) error
	// Tag points ref at the image.
	Tag(ctx context.Context, imageID, ref string) error
	// RemoveImage deletes an untagged image that no container uses and
	// returns the bytes of layers that went with it; a Conflict error
	// when it is in use or tagged.
	RemoveImage(ctx context.Context, id string) (reclaimed int64, err error)
}

// Rootfs is a writable root filesystem prepared by the Backend.
type Rootfs interface {
	// Path is where the filesystem is mounted on the host. Everything
	// written below it must be confined to it.
	Path() string
	// Commit stores the changes as a new layer on top of the parent image
	// with config cfg and returns the new image's ID.
	Commit(ctx context.Context, cfg dockerspec.DockerOCIImage) (string, error)
	// Release unmounts and removes the filesystem; safe after Commit.
	Release() error
}

// ContainerSpec is the container a RUN step runs in.
type ContainerSpec struct {
	Image       string   // the previous step's image ID
	Cmd         []string // full argv; the image's entrypoint is not used
	Env         []string // the image's env plus build args, KEY=VALUE
	WorkingDir  string
	User        string
	NetworkMode string // "" = default bridge
}
