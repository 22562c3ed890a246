package engine

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/snapshot"
)

// reclaim deletes what removed container id left on disk — its rootfs mount
// and snapshot, runtime state and container directory — in the background,
// once the teardown of its last run (torndown, nil if none) is done. Image
// removal waits for it (e.reclaims); if the daemon dies first, the next one
// finishes the job (reclaimOrphans).
func (e *Engine) reclaim(id string, torndown <-chan struct{}) {
	finish := e.reclaims.begin(id)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer finish()
		if torndown != nil {
			<-torndown
		}
		if err := e.reclaimDisk(id); err != nil {
			e.log.Warn("reclaim removed container", "id", id, "err", err)
		}
	}()
}

func (e *Engine) reclaimDisk(id string) error {
	sd := e.stateDir(id)
	if err := snapshot.Unmount(filepath.Join(sd, "rootfs")); err != nil {
		return err // never RemoveAll through a live mount
	}
	os.RemoveAll(sd)
	os.RemoveAll(e.containerDir(id))
	if err := e.snaps.Remove(context.Background(), id); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// containerKey matches the snapshot keys and directory names of containers
// (full IDs), not those of builds or layer unpacking.
var containerKey = regexp.MustCompile(`^[0-9a-f]{64}$`)

// reclaimOrphans removes the disk state of containers whose record is gone:
// the daemon died between a removal and its background reclaim. It runs at
// restore, before anything else can create containers.
func (e *Engine) reclaimOrphans(ctx context.Context) {
	e.reclaimBuildLeftovers(ctx)
	orphans := map[string]bool{}
	err := e.snaps.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindActive && containerKey.MatchString(i.Key) && e.containers[i.Key] == nil {
			orphans[i.Key] = true
		}
		return nil
	})
	if err != nil {
		e.log.Warn("look for orphaned container snapshots", "err", err)
	}
	for _, dir := range []string{filepath.Join(e.cfg.Root, "containers"), filepath.Join(e.cfg.ExecRoot, "containers")} {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			if containerKey.MatchString(ent.Name()) && e.containers[ent.Name()] == nil {
				orphans[ent.Name()] = true
			}
		}
	}
	for id := range orphans {
		// Its runtime state too, if the teardown of its last run was cut short.
		if err := e.runtimeFor("").Delete(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
			e.log.Warn("runtime delete of orphaned container", "id", id, "err", err)
		}
		if err := e.reclaimDisk(id); err != nil {
			e.log.Warn("reclaim orphaned container", "id", id, "err", err)
		} else {
			e.log.Info("reclaimed the files of a container removed before the daemon stopped", "id", id)
		}
	}
}

// reclaimBuildLeftovers removes what builds cut short by the daemon's death
// left: their RUN containers (still running, if their shim survived), the
// unpacked contexts under <root>/builder and the rootfs mounts of COPY,
// ADD and WORKDIR steps under <exec-root>/builder. No build can be running
// while the daemon starts.
func (e *Engine) reclaimBuildLeftovers(ctx context.Context) {
	var stale []string
	for id, c := range e.containers {
		if c.Config != nil && c.Config.Labels[builderLabel] != "" {
			stale = append(stale, id)
		}
	}
	for _, id := range stale {
		if err := e.ContainerRemove(ctx, id, true, true); err != nil && !errdefs.IsNotFound(err) {
			e.log.Warn("remove the container of an interrupted build", "id", id, "err", err)
		} else {
			e.log.Info("removed the container of an interrupted build", "id", id)
		}
	}
	base := filepath.Join(e.cfg.Root, "builder")
	dirs, _ := os.ReadDir(base)
	for _, d := range dirs {
		if strings.HasPrefix(d.Name(), "build-") {
			if err := os.RemoveAll(filepath.Join(base, d.Name())); err != nil {
				e.log.Warn("remove the context of an interrupted build", "dir", d.Name(), "err", err)
			}
		}
	}
	base = filepath.Join(e.cfg.ExecRoot, "builder")
	mounts, _ := os.ReadDir(base)
	for _, m := range mounts {
		key := m.Name()
		if !strings.HasPrefix(key, "extract-build-") {
			continue
		}
		if err := snapshot.Unmount(filepath.Join(base, key)); err != nil {
			e.log.Warn("unmount the rootfs of an interrupted build", "key", key, "err", err)
			continue // never remove through a live mount
		}
		os.Remove(filepath.Join(base, key))
		if err := e.snaps.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			e.log.Warn("remove the rootfs of an interrupted build", "key", key, "err", err)
		}
	}
}
