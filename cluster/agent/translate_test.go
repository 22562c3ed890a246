package agent

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContainerForTutorialTask(t *testing.T) {
	grace := 3 * time.Second
	as := Assignment{ServiceName: "getstartedlab_web", Task: swarm.Task{ID: "abc123", ServiceID: "svc1", Slot: 2, NodeID: "node1",
		Spec: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "friendlyhello:latest", Env: []string{"NAME=World"},
				Args: []string{"python3", "app.py"}, Labels: map[string]string{"com.docker.stack.namespace": "getstartedlab"},
				StopGracePeriod: &grace, Hosts: []string{"10.0.0.5 db database"},
				Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "getstartedlab_data", Target: "/data"}}},
			Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 100_000_000, MemoryBytes: 50 << 20}},
			Networks:  []swarm.NetworkAttachmentConfig{{Target: "getstartedlab_webnet", Aliases: []string{"web"}}},
		}}}
	name, req, files, err := containerFor(&as, "node1", "/var/lib/wharf/swarm/tasks/abc123")
	require.NoError(t, err)
	assert.Equal(t, "getstartedlab_web.2.abc123", name)
	assert.Empty(t, files)

	c, hc := req.Config, req.HostConfig
	assert.Equal(t, "friendlyhello:latest", c.Image)
	assert.Equal(t, []string{"python3", "app.py"}, []string(c.Cmd))
	assert.Equal(t, map[string]string{
		"com.docker.stack.namespace":    "getstartedlab",
		"com.docker.swarm.node.id":      "node1",
		"com.docker.swarm.service.id":   "svc1",
		"com.docker.swarm.service.name": "getstartedlab_web",
		"com.docker.swarm.task":         "",
		"com.docker.swarm.task.id":      "abc123",
		"com.docker.swarm.task.name":    "getstartedlab_web.2.abc123",
	}, c.Labels)
	require.NotNil(t, c.StopTimeout)
	assert.Equal(t, 3, *c.StopTimeout)
	assert.Equal(t, int64(100_000_000), hc.NanoCPUs)
	assert.Equal(t, int64(50<<20), hc.Memory)
	assert.Equal(t, container.RestartPolicyDisabled, hc.RestartPolicy.Name, "the orchestrator restarts tasks, not the engine")
	assert.Equal(t, []string{"db:10.0.0.5", "database:10.0.0.5"}, hc.ExtraHosts)
	assert.Equal(t, "getstartedlab_webnet", string(hc.NetworkMode))
	assert.Equal(t, []string{"web"}, req.NetworkingConfig.EndpointsConfig["getstartedlab_webnet"].Aliases)
	assert.Equal(t, as.Task.Spec.ContainerSpec.Mounts, hc.Mounts)
}

func TestContainerForHostPortsAndFiles(t *testing.T) {
	as := Assignment{ServiceName: "db", Task: swarm.Task{ID: "t1", NodeID: "n1",
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "redis",
			Secrets: []*swarm.SecretReference{{SecretID: "s1", SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o400}}},
			Configs: []*swarm.ConfigReference{{ConfigID: "c1", ConfigName: "conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/redis.conf"}}},
		}}},
		Ports: []swarm.PortConfig{
			{Protocol: network.TCP, TargetPort: 6379, PublishedPort: 6379, PublishMode: swarm.PortConfigPublishModeHost},
			{Protocol: network.TCP, TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeIngress},
		},
		Secrets: map[string][]byte{"s1": []byte("hunter2")},
		Configs: map[string][]byte{"c1": []byte("maxmemory 1mb")},
	}
	name, req, files, err := containerFor(&as, "n1", "/tasks/t1")
	require.NoError(t, err)
	assert.Equal(t, "db.n1.t1", name, "a global task is named by its node")
	p := network.MustParsePort("6379/tcp")
	assert.Equal(t, []network.PortBinding{{HostPort: "6379"}}, req.HostConfig.PortBindings[p], "host-mode ports bind on the node")
	assert.Len(t, req.HostConfig.PortBindings, 1, "ingress ports belong to the routing mesh")

	require.Len(t, files, 2)
	assert.Equal(t, fileMount{Source: "/tasks/t1/secret-s1", Target: "/run/secrets/pw", Data: []byte("hunter2"), Mode: 0o400}, files[0])
	assert.Equal(t, "/etc/redis.conf", files[1].Target)
	assert.Equal(t, 0o444, int(files[1].Mode), "configs default to world-readable, as in docker")
	assert.Contains(t, req.HostConfig.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/tasks/t1/secret-s1", Target: "/run/secrets/pw", ReadOnly: true})

	delete(as.Secrets, "s1")
	_, _, _, err = containerFor(&as, "n1", "/tasks/t1")
	assert.ErrorContains(t, err, "secret pw (s1) is not available")
	assert.ErrorIs(t, err, errdefs.ErrNotFound)

	as.Secrets["s1"] = []byte("hunter2")
	as.Task.Spec.ContainerSpec.Configs[0].File.UID = "redis"
	_, _, _, err = containerFor(&as, "n1", "/tasks/t1")
	assert.ErrorIs(t, err, errdefs.ErrInvalidArgument, "a non-numeric owner must not become root")
	assert.ErrorContains(t, err, `config conf: uid: "redis" is not a numeric id`)
}

func TestExitStatus(t *testing.T) {
	assert.Equal(t, swarm.TaskStateComplete, exitStatus("c", 0, false).State)
	f := exitStatus("c", 3, false)
	assert.Equal(t, swarm.TaskStateFailed, f.State)
	assert.Equal(t, "task: non-zero exit (3)", f.Err)
	assert.Equal(t, swarm.TaskStateShutdown, exitStatus("c", 137, true).State, "stopped on request is a shutdown, whatever the code")
}

func TestContainerForIngressTask(t *testing.T) {
	spec := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}
	as := Assignment{ServiceName: "web", Ingress: true, Task: swarm.Task{ID: "t1", ServiceID: "s1", Slot: 1, Spec: spec}}
	_, req, _, err := containerFor(&as, "n1", t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, container.NetworkMode(IngressNetwork), req.HostConfig.NetworkMode,
		"a task with published ports and no network of its own is on ingress, not the default bridge")
	assert.Contains(t, req.NetworkingConfig.EndpointsConfig, IngressNetwork)

	as.Task.Spec.Networks = []swarm.NetworkAttachmentConfig{{Target: "appnet"}}
	_, req, _, err = containerFor(&as, "n1", t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, container.NetworkMode("appnet"), req.HostConfig.NetworkMode, "its own network comes first")
	assert.Len(t, req.NetworkingConfig.EndpointsConfig, 2)
	assert.Contains(t, req.NetworkingConfig.EndpointsConfig, IngressNetwork)

	as.Ingress, as.Task.Spec.Networks = false, nil
	_, req, _, err = containerFor(&as, "n1", t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, req.HostConfig.NetworkMode, "neither networks nor ports: the default bridge")
	assert.Empty(t, req.NetworkingConfig.EndpointsConfig)
}
