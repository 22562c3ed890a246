package api

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"wharf.io/wharf/builder"
	"wharf.io/wharf/cluster"
	"wharf.io/wharf/engine"
)

// ContainerBackend is what the container and exec routes need from the engine.
// idOrName accepts a full ID, a unique ID prefix or a name (with or without "/").
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error)
	ContainerList(ctx context.Context, opts engine.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, idOrName string, size bool) (*container.InspectResponse, error)
	ContainerStart(ctx context.Context, idOrName string) error
	// ContainerStop sends signal ("" = the container's stop signal), waits timeout
	// seconds (nil = the container's stop timeout, -1 = forever), then SIGKILL.
	ContainerStop(ctx context.Context, idOrName, signal string, timeout *int) error
	ContainerRestart(ctx context.Context, idOrName, signal string, timeout *int) error
	ContainerKill(ctx context.Context, idOrName, signal string) error
	ContainerRemove(ctx context.Context, idOrName string, force, removeVolumes bool) error
	ContainerRename(ctx context.Context, idOrName, newName string) error
	ContainerPause(ctx context.Context, idOrName string) error
	ContainerUnpause(ctx context.Context, idOrName string) error
	// ContainerWait registers the wait before returning, so the caller can send
	// the response header and then block on the channel (docker run relies on
	// wait being registered before start).
	ContainerWait(ctx context.Context, idOrName string, cond container.WaitCondition) (<-chan container.WaitResponse, error)
	// ContainerAttach blocks until the attached process exits and its output is
	// drained, or ctx is cancelled. Attaching to a created container waits for start.
	ContainerAttach(ctx context.Context, idOrName string, streams engine.AttachStreams) error
	ContainerResize(ctx context.Context, idOrName string, height, width uint) error
	// ContainerLogs writes log records to stdout/stderr (already demuxed by the
	// caller's writers) until done or, with Follow, until the container stops.
	ContainerLogs(ctx context.Context, idOrName string, opts engine.LogsOptions, stdout, stderr io.Writer) error
	ContainerTop(ctx context.Context, idOrName, psArgs string) (container.TopResponse, error)
	// ContainerStats calls emit once (stream=false) or every second until ctx ends.
	ContainerStats(ctx context.Context, idOrName string, stream bool, emit func(*container.StatsResponse) error) error
	ContainerPrune(ctx context.Context, filters engine.Filters) (container.PruneReport, error)

	ExecCreate(ctx context.Context, idOrName string, req *container.ExecCreateRequest) (string, error)
	// ExecStart runs the exec; with detach it returns once started, else it
	// streams like ContainerAttach until the process exits.
	ExecStart(ctx context.Context, execID string, detach bool, streams engine.AttachStreams) error
	ExecInspect(ctx context.Context, execID string) (*container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, execID string, height, width uint) error
}

// ImageBackend is what the image routes need.
type ImageBackend interface {
	ImageList(ctx context.Context, all bool, filters engine.Filters) ([]image.Summary, error)
	ImageInspect(ctx context.Context, ref string) (image.InspectResponse, error)
	ImageDelete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteResponse, error)
	ImageTag(ctx context.Context, src, repo, tag string) error
	ImageHistory(ctx context.Context, ref string) ([]image.HistoryResponseItem, error)
	ImagePrune(ctx context.Context, filters engine.Filters) (image.PruneReport, error)
	// ImageImport reads a rootfs tarball and returns the new image ID.
	ImageImport(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string) (string, error)
	// ImageLoad writes human lines ("Loaded image: x") through progress.
	ImageLoad(ctx context.Context, src io.Reader, progress func(line string)) error
	ImageSave(ctx context.Context, refs []string, w io.Writer) error
	// ImagePull writes docker JSON progress messages to out. Not implemented yet
	// by the engine (registry issue); the route must still exist.
	ImagePull(ctx context.Context, ref, platform, registryAuth string, out io.Writer) error
}

// VolumeBackend is what the volume routes need.
type VolumeBackend interface {
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeList(ctx context.Context, filters engine.Filters) (volume.ListResponse, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumePrune(ctx context.Context, filters engine.Filters) (volume.PruneReport, error)
}

// SystemBackend is what /info, /version, /system/df and /events need.
type SystemBackend interface {
	Info(ctx context.Context) (system.Info, error)
	// Version fills the engine's components; the API layer sets ApiVersion/MinAPIVersion.
	Version(ctx context.Context) (system.VersionResponse, error)
	DiskUsage(ctx context.Context) (system.DiskUsage, error)
	// Events returns the buffered events matching opts and, unless opts.Until is
	// in the past, a channel of live ones; cancel releases the subscription.
	Events(ctx context.Context, opts engine.EventsOptions) (past []events.Message, live <-chan events.Message, cancel func())
}

// NetworkBackend is what the /networks routes need. idOrName accepts a
// network's full ID, a unique ID prefix or its name.
type NetworkBackend interface {
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	NetworkList(ctx context.Context, filters engine.Filters) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, idOrName string) (network.Inspect, error)
	NetworkRemove(ctx context.Context, idOrName string) error
	// NetworkConnect attaches a container (running or not) to a network;
	// cfg may be nil.
	NetworkConnect(ctx context.Context, idOrName, containerIDOrName string, cfg *network.EndpointSettings) error
	NetworkDisconnect(ctx context.Context, idOrName, containerIDOrName string, force bool) error
	NetworkPrune(ctx context.Context, filters engine.Filters) (network.PruneReport, error)
}

// Backend is the whole engine as the API server sees it.
type Backend interface {
	ContainerBackend
	ImageBackend
	VolumeBackend
	SystemBackend
	NetworkBackend
}

// BuildBackend is what the /build routes need. The engine implements it;
// a Backend without it answers /build with NotImplemented.
type BuildBackend interface {
	// Build reads the context (a tar, maybe compressed, or a bare
	// Dockerfile) from src and writes docker JSON messages to out. An
	// error it returns has not been written to out.
	Build(ctx context.Context, src io.Reader, opts builder.Options, out io.Writer) (imageID string, err error)
	BuildPrune(ctx context.Context, all bool) (build.CachePruneReport, error)
}

// SwarmBackend is what the /swarm and /nodes routes need. The engine
// implements it; a Backend without it answers them with NotImplemented.
type SwarmBackend interface {
	SwarmInit(ctx context.Context, req swarm.InitRequest) (nodeID string, err error)
	SwarmJoin(ctx context.Context, req swarm.JoinRequest) error
	SwarmLeave(ctx context.Context, force bool) error
	SwarmInspect(ctx context.Context) (swarm.Swarm, error)
	// SwarmUpdate fails with Conflict when version is not the cluster's.
	SwarmUpdate(ctx context.Context, version uint64, spec swarm.Spec, flags cluster.UpdateFlags) error
	SwarmUnlockKey(ctx context.Context) (string, error)
	SwarmUnlock(ctx context.Context, req swarm.UnlockRequest) error
	NodeList(ctx context.Context, filters engine.Filters) ([]swarm.Node, error)
	NodeInspect(ctx context.Context, idOrName string) (swarm.Node, error)
	// NodeUpdate fails with Conflict when version is not the node's.
	NodeUpdate(ctx context.Context, idOrName string, version uint64, spec swarm.NodeSpec) error
	NodeRemove(ctx context.Context, idOrName string, force bool) error
}
