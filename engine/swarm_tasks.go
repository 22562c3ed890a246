package engine

import (
	"context"
	"io"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"wharf.io/wharf/cluster/agent"
)

// taskRuntime is the engine as the swarm agent sees it: the narrow set of
// container calls a worker makes to run its tasks.
type taskRuntime struct{ e *Engine }

var _ agent.Runtime = taskRuntime{}

func (r taskRuntime) CreateContainer(ctx context.Context, name string, req *container.CreateRequest) (string, error) {
	if nc := req.NetworkingConfig; nc != nil && r.e.nets != nil {
		if _, ok := nc.EndpointsConfig[agent.IngressNetwork]; ok {
			// The routing mesh's network exists once a service publishes a
			// port, but the agent may start its task first.
			if _, err := r.e.nets.EnsureIngress(ctx); err != nil {
				return "", err
			}
		}
	}
	resp, err := r.e.ContainerCreate(ctx, name, req)
	return resp.ID, err
}

func (r taskRuntime) StartContainer(ctx context.Context, id string) error {
	return r.e.ContainerStart(ctx, id)
}

func (r taskRuntime) StopContainer(ctx context.Context, id string) error {
	return r.e.ContainerStop(ctx, id, "", nil)
}

func (r taskRuntime) RemoveContainer(ctx context.Context, id string) error {
	return r.e.removeForced(ctx, id, false)
}

func (r taskRuntime) WaitContainer(ctx context.Context, id string) (<-chan container.WaitResponse, error) {
	return r.e.ContainerWait(ctx, id, container.WaitConditionNextExit)
}

func (r taskRuntime) InspectContainer(ctx context.Context, id string) (*container.InspectResponse, error) {
	return r.e.ContainerInspect(ctx, id, false)
}

// TaskContainers finds task containers by the label Docker gives them.
func (r taskRuntime) TaskContainers(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	r.e.mu.Lock()
	all := make([]*Container, 0, len(r.e.containers))
	for _, c := range r.e.containers {
		all = append(all, c)
	}
	r.e.mu.Unlock()
	for _, c := range all {
		c.mu.Lock()
		if id, ok := c.Config.Labels[agent.LabelTaskID]; ok && !c.removed {
			out[id] = c.ID
		}
		c.mu.Unlock()
	}
	return out, nil
}

// EnsureImage pulls ref unless it is already here, like a swarm worker,
// with the service's registry credentials (registryAuth, encoded).
func (r taskRuntime) EnsureImage(ctx context.Context, ref, registryAuth string) error {
	if _, err := r.e.images.Get(ctx, ref); err == nil {
		return nil
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	return r.e.ImagePull(ctx, ref, "", registryAuth, io.Discard)
}
