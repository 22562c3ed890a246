package engine

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Version is wharf's release; set at link time with -X.
var Version = "0.1.0-dev"

// Info implements GET /info.
func (e *Engine) Info(ctx context.Context) (system.Info, error) {
	var running, paused, stopped int
	for _, c := range e.list() {
		c.mu.Lock()
		switch c.State.Status {
		case container.StateRunning, container.StateRestarting:
			running++
		case container.StatePaused:
			paused++
		default:
			stopped++
		}
		c.mu.Unlock()
	}
	imgs, _ := e.images.List(ctx)
	var uts unix.Utsname
	unix.Uname(&uts)
	hostname, _ := os.Hostname()
	rtName := e.cfg.Runtime
	info := system.Info{
		ID:                 machineID(),
		Containers:         running + paused + stopped,
		ContainersRunning:  running,
		ContainersPaused:   paused,
		ContainersStopped:  stopped,
		Images:             len(imgs),
		Driver:             "overlay",
		DriverStatus:       [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}},
		MemoryLimit:        true,
		SwapLimit:          fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     readTrim("/proc/sys/net/ipv4/ip_forward") == "1",
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		KernelVersion:      unix.ByteSliceToString(uts.Release[:]),
		OperatingSystem:    osName(),
		OSType:             "linux",
		Architecture:       unix.ByteSliceToString(uts.Machine[:]),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               runtime.NumCPU(),
		MemTotal:           int64(hostMemory()),
		DockerRootDir:      e.cfg.Root,
		Name:               hostname,
		Labels:             []string{},
		ServerVersion:      Version,
		Runtimes:           installedRuntimes(),
		DefaultRuntime:     rtName,
		LiveRestoreEnabled: true,
		Isolation:          "",
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		Warnings:           []string{},
	}
	info.Plugins.Volume = []string{"local"}
	info.Plugins.Network = []string{"host", "null"}
	info.Plugins.Log = []string{"json-file"}
	info.Swarm = e.swarmInfo(ctx)
	return info, nil
}

// Version implements GET /version (the API layer adds the API versions).
func (e *Engine) Version(ctx context.Context) (system.VersionResponse, error) {
	var uts unix.Utsname
	unix.Uname(&uts)
	kernel := unix.ByteSliceToString(uts.Release[:])
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Wharf Engine"},
		Version:       Version,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kernel,
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: Version, Details: map[string]string{"GoVersion": runtime.Version(), "KernelVersion": kernel, "Os": runtime.GOOS, "Arch": runtime.GOARCH, "Experimental": "false", "GitCommit": "", "BuildTime": ""}},
		},
	}
	if rv, err := e.runtimeFor("").Version(ctx); err == nil {
		v.Components = append(v.Components, system.ComponentVersion{Name: e.cfg.Runtime, Version: rv})
	}
	return v, nil
}

// DiskUsage implements GET /system/df.
func (e *Engine) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	var du system.DiskUsage
	sums, err := e.images.Summaries(ctx, true)
	if err != nil {
		return du, err
	}
	imgUse := &imagetypes.DiskUsage{Items: sums, TotalCount: int64(len(sums))}
	for i, s := range sums {
		imgUse.TotalSize += s.Size
		if e.imageInUse(digest.Digest(s.ID)) {
			imgUse.ActiveCount++
			sums[i].Containers = 1
		} else {
			imgUse.Reclaimable += s.Size
		}
	}
	du.ImageUsage = imgUse
	now := time.Now()
	cu := &container.DiskUsage{}
	for _, c := range e.list() {
		c.mu.Lock()
		s := e.summary(c, now)
		if c.running() {
			cu.ActiveCount++
		}
		c.mu.Unlock()
		if n, err := e.snaps.Usage(ctx, c.ID); err == nil {
			s.SizeRw = n
			cu.TotalSize += n
			if s.State != container.StateRunning && s.State != container.StatePaused {
				cu.Reclaimable += n
			}
		}
		cu.Items = append(cu.Items, s)
		cu.TotalCount++
	}
	du.ContainerUsage = cu
	vols, err := e.vols.List(ctx)
	if err != nil {
		return du, err
	}
	vu := &volume.DiskUsage{TotalCount: int64(len(vols))}
	for _, v := range vols {
		size := e.vols.Size(v.Name)
		refs := int64(len(e.volumeUsers(v.Name)))
		v.UsageData = &volume.UsageData{Size: size, RefCount: refs}
		vu.TotalSize += size
		if refs > 0 {
			vu.ActiveCount++
		} else {
			vu.Reclaimable += size
		}
		vu.Items = append(vu.Items, v)
	}
	du.VolumeUsage = vu
	return du, nil
}

// ContainerPrune implements POST /containers/prune.
func (e *Engine) ContainerPrune(ctx context.Context, filters Filters) (container.PruneReport, error) {
	if err := validateFilters(filters, "label", "until"); err != nil {
		return container.PruneReport{}, err
	}
	var until time.Time
	if v := filters["until"]; len(v) > 0 {
		t, err := parseUntil(v[0])
		if err != nil {
			return container.PruneReport{}, err
		}
		until = t
	}
	rep := container.PruneReport{ContainersDeleted: []string{}}
	for _, c := range e.list() {
		c.mu.Lock()
		eligible := !c.running() && c.State.Status != container.StateRestarting && c.State.Status != container.StateRemoving &&
			e.matchContainer(c, Filters{"label": filters["label"]}) && (until.IsZero() || c.Created.Before(until))
		c.mu.Unlock()
		if !eligible {
			continue
		}
		size, _ := e.snaps.Usage(ctx, c.ID)
		if err := e.remove(c, false); err == nil {
			rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
			rep.SpaceReclaimed += uint64(size)
		}
	}
	e.events.publish(events.ContainerEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

// installedRuntimes lists the OCI runtimes found on PATH, as docker info shows them.
func installedRuntimes() map[string]system.RuntimeWithStatus {
	out := map[string]system.RuntimeWithStatus{}
	for _, name := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(name); err == nil {
			out[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: p}}
		}
	}
	return out
}
