package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSwarmAPI is a one-node swarm in maps: services, tasks (which the
// test or the converge hook fills), secrets, configs and networks. Calls
// are recorded by name.
type fakeSwarmAPI struct {
	APIClient
	stackAPI

	mu       sync.Mutex
	calls    []string
	services map[string]swarm.Service // by ID
	tasks    []swarm.Task
	secrets  []swarm.Secret
	configs  []swarm.Config
	networks []network.Summary
	health   map[string]container.HealthStatus // container ID → status

	created []swarm.ServiceSpec
	updated []client.ServiceUpdateOptions
	removed []string
	netMade []string
	// converge, when set, turns the services into running tasks on
	// every TaskList, like an instant orchestrator.
	converge bool
	// missing images are in neither the daemon nor a registry; remote
	// ones only in a registry. inspectAuths are the credentials each
	// DistributionInspect was sent.
	missing      map[string]bool
	remote       map[string]bool
	pulled       []string
	inspectAuths []string
	createOpts   []client.ServiceCreateOptions
}

func (f *fakeSwarmAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	f.record("ImageInspect " + ref)
	if f.missing[ref] || f.remote[ref] {
		return client.ImageInspectResult{}, fmt.Errorf("no such image: %s: %w", ref, errdefs.ErrNotFound)
	}
	return client.ImageInspectResult{}, nil
}

func (f *fakeSwarmAPI) DistributionInspect(_ context.Context, ref string, o client.DistributionInspectOptions) (client.DistributionInspectResult, error) {
	f.record("DistributionInspect " + ref)
	f.inspectAuths = append(f.inspectAuths, o.EncodedRegistryAuth)
	if f.remote[ref] {
		return client.DistributionInspectResult{}, nil
	}
	return client.DistributionInspectResult{}, fmt.Errorf("manifest unknown: %w", errdefs.ErrNotFound)
}

func (f *fakeSwarmAPI) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	f.record("ImagePull " + ref)
	f.pulled = append(f.pulled, ref)
	return nil, fmt.Errorf("pull access denied for %s: %w", ref, errdefs.ErrNotFound)
}

func newFakeSwarm() *fakeSwarmAPI {
	return &fakeSwarmAPI{services: map[string]swarm.Service{}, health: map[string]container.HealthStatus{}}
}

func (f *fakeSwarmAPI) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeSwarmAPI) find(ref string) (swarm.Service, bool) {
	for _, s := range f.services {
		if s.ID == ref || s.Spec.Name == ref {
			return s, true
		}
	}
	return swarm.Service{}, false
}

func (f *fakeSwarmAPI) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	f.record("ServiceCreate " + o.Spec.Name)
	f.mu.Lock()
	f.created = append(f.created, o.Spec)
	f.createOpts = append(f.createOpts, o)
	f.mu.Unlock()
	id := fmt.Sprintf("id-%s", o.Spec.Name)
	f.services[id] = swarm.Service{ID: id, Spec: o.Spec, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}}
	return client.ServiceCreateResult{ID: id}, nil
}

func (f *fakeSwarmAPI) ServiceInspect(_ context.Context, ref string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	s, ok := f.find(ref)
	if !ok {
		return client.ServiceInspectResult{}, fmt.Errorf("service %s not found: %w", ref, errdefs.ErrNotFound)
	}
	return client.ServiceInspectResult{Service: s}, nil
}

func (f *fakeSwarmAPI) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	var out []swarm.Service
	for _, s := range f.services {
		ok := true
		for l := range o.Filters["label"] {
			k, v, _ := strings.Cut(l, "=")
			if s.Spec.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return client.ServiceListResult{Items: out}, nil
}

func (f *fakeSwarmAPI) ServiceUpdate(_ context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	f.record("ServiceUpdate " + id)
	f.updated = append(f.updated, o)
	s := f.services[id]
	s.Spec = o.Spec
	s.Version.Index++
	f.services[id] = s
	return client.ServiceUpdateResult{}, nil
}

func (f *fakeSwarmAPI) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	f.record("ServiceRemove " + id)
	f.removed = append(f.removed, id)
	delete(f.services, id)
	return client.ServiceRemoveResult{}, nil
}

func (f *fakeSwarmAPI) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	if f.converge {
		f.tasks = nil
		ids := make([]string, 0, len(f.services))
		for id := range f.services {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			s := f.services[id]
			n := 1
			if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
				n = int(*r.Replicas)
			}
			for i := 1; i <= n; i++ {
				tid := fmt.Sprintf("%s-t%d", id, i)
				f.tasks = append(f.tasks, swarm.Task{ID: tid, ServiceID: id, Slot: i, Spec: s.Spec.TaskTemplate,
					DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning,
						ContainerStatus: &swarm.ContainerStatus{ContainerID: tid}}})
			}
		}
	}
	var out []swarm.Task
	for _, t := range f.tasks {
		if svc := o.Filters["service"]; len(svc) > 0 && !svc[t.ServiceID] {
			continue
		}
		out = append(out, t)
	}
	return client.TaskListResult{Items: out}, nil
}

func (f *fakeSwarmAPI) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: []swarm.Node{{ID: "n1", Description: swarm.NodeDescription{Hostname: "host1"}}}}, nil
}

func (f *fakeSwarmAPI) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.health[id]
	if !ok {
		return client.ContainerInspectResult{}, fmt.Errorf("no such container: %w", errdefs.ErrNotFound)
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{State: &container.State{Health: &container.Health{Status: h}}}}, nil
}

func (f *fakeSwarmAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{}, nil
}

func (f *fakeSwarmAPI) NetworkList(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
	var out []network.Summary
	for _, n := range f.networks {
		ok := true
		for l := range o.Filters["label"] {
			k, v, _ := strings.Cut(l, "=")
			if n.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	return client.NetworkListResult{Items: out}, nil
}

func (f *fakeSwarmAPI) NetworkCreate(_ context.Context, name string, _ client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	f.record("NetworkCreate " + name)
	f.netMade = append(f.netMade, name)
	f.networks = append(f.networks, network.Summary{Network: network.Network{Name: name, ID: "net-" + name}})
	return client.NetworkCreateResult{ID: "net-" + name}, nil
}

func (f *fakeSwarmAPI) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	f.record("NetworkRemove " + id)
	return client.NetworkRemoveResult{}, nil
}

func (f *fakeSwarmAPI) SecretList(context.Context, client.SecretListOptions) (client.SecretListResult, error) {
	return client.SecretListResult{Items: f.secrets}, nil
}

func (f *fakeSwarmAPI) SecretCreate(_ context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	f.record("SecretCreate " + o.Spec.Name)
	f.secrets = append(f.secrets, swarm.Secret{ID: "sec-" + o.Spec.Name, Spec: o.Spec})
	return client.SecretCreateResult{ID: "sec-" + o.Spec.Name}, nil
}

func (f *fakeSwarmAPI) SecretInspect(_ context.Context, ref string, _ client.SecretInspectOptions) (client.SecretInspectResult, error) {
	for _, s := range f.secrets {
		if s.ID == ref || s.Spec.Name == ref {
			return client.SecretInspectResult{Secret: s}, nil
		}
	}
	return client.SecretInspectResult{}, fmt.Errorf("secret %s not found: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeSwarmAPI) SecretRemove(_ context.Context, ref string, _ client.SecretRemoveOptions) (client.SecretRemoveResult, error) {
	f.record("SecretRemove " + ref)
	return client.SecretRemoveResult{}, nil
}

func (f *fakeSwarmAPI) ConfigList(context.Context, client.ConfigListOptions) (client.ConfigListResult, error) {
	return client.ConfigListResult{Items: f.configs}, nil
}

func (f *fakeSwarmAPI) ConfigCreate(_ context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error) {
	f.record("ConfigCreate " + o.Spec.Name)
	f.configs = append(f.configs, swarm.Config{ID: "cfg-" + o.Spec.Name, Spec: o.Spec})
	return client.ConfigCreateResult{ID: "cfg-" + o.Spec.Name}, nil
}

func (f *fakeSwarmAPI) ConfigInspect(_ context.Context, ref string, _ client.ConfigInspectOptions) (client.ConfigInspectResult, error) {
	for _, s := range f.configs {
		if s.ID == ref || s.Spec.Name == ref {
			return client.ConfigInspectResult{Config: s}, nil
		}
	}
	return client.ConfigInspectResult{}, fmt.Errorf("config %s not found: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeSwarmAPI) ConfigRemove(_ context.Context, ref string, _ client.ConfigRemoveOptions) (client.ConfigRemoveResult, error) {
	f.record("ConfigRemove " + ref)
	return client.ConfigRemoveResult{}, nil
}

func TestServiceCreateFlagsToSpec(t *testing.T) {
	api := newFakeSwarm()
	out, _, err := runCLI(t, api, "service", "create", "--name", "web", "--replicas", "5",
		"-p", "80:80", "-p", "published=8080,target=81,protocol=udp,mode=host",
		"--limit-cpu", "0.1", "--limit-memory", "50M", "--reserve-memory", "20M",
		"--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "2", "--restart-window", "1m",
		"--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first", "--update-failure-action", "rollback",
		"--rollback-parallelism", "0", "--rollback-monitor", "20s",
		"-e", "A=1", "--env", "B=2", "--label", "tier=front", "--container-label", "c=d",
		"--mount", "type=volume,source=data,target=/data", "--network", "webnet",
		"--constraint", "node.role==manager", "--placement-pref", "spread=node.labels.zone",
		"--secret", "pw", "--secret", "source=cert,target=tls.crt,mode=0400", "--config", "source=conf,target=/etc/app.conf",
		"--health-cmd", "wget -q -O- localhost", "--health-interval", "2s", "--health-retries", "4",
		"--hostname", "h", "--workdir", "/srv", "--user", "1000", "--stop-grace-period", "3s",
		"-d", "busybox", "httpd", "-f")
	require.NoError(t, err)
	assert.Equal(t, "id-web\n", out)
	require.Len(t, api.created, 1)
	spec := api.created[0]

	assert.Equal(t, "web", spec.Name)
	assert.Equal(t, map[string]string{"tier": "front"}, spec.Labels)
	require.NotNil(t, spec.Mode.Replicated)
	assert.EqualValues(t, 5, *spec.Mode.Replicated.Replicas)
	assert.Equal(t, []swarm.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeIngress},
		{Protocol: "udp", TargetPort: 81, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost},
	}, spec.EndpointSpec.Ports)

	ts := spec.TaskTemplate
	cs := ts.ContainerSpec
	assert.Equal(t, "busybox", cs.Image)
	assert.Equal(t, []string{"httpd", "-f"}, cs.Args)
	assert.Equal(t, []string{"A=1", "B=2"}, cs.Env)
	assert.Equal(t, map[string]string{"c": "d"}, cs.Labels)
	assert.Equal(t, "h", cs.Hostname)
	assert.Equal(t, "/srv", cs.Dir)
	assert.Equal(t, "1000", cs.User)
	assert.Equal(t, 3*time.Second, *cs.StopGracePeriod)
	assert.Equal(t, []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/data"}}, cs.Mounts)
	assert.Equal(t, &container.HealthConfig{Test: []string{"CMD-SHELL", "wget -q -O- localhost"}, Interval: 2 * time.Second, Retries: 4}, cs.Healthcheck)
	require.Len(t, cs.Secrets, 2)
	assert.Equal(t, swarm.SecretReference{SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}}, *cs.Secrets[0])
	assert.Equal(t, swarm.SecretReferenceFileTarget{Name: "tls.crt", UID: "0", GID: "0", Mode: 0o400}, *cs.Secrets[1].File)
	require.Len(t, cs.Configs, 1)
	assert.Equal(t, "conf", cs.Configs[0].ConfigName)
	assert.Equal(t, "/etc/app.conf", cs.Configs[0].File.Name)

	assert.Equal(t, &swarm.ResourceRequirements{Limits: &swarm.Limit{NanoCPUs: 1e8, MemoryBytes: 50 * 1024 * 1024},
		Reservations: &swarm.Resources{MemoryBytes: 20 * 1024 * 1024}}, ts.Resources)
	rp := ts.RestartPolicy
	assert.Equal(t, swarm.RestartPolicyConditionOnFailure, rp.Condition)
	assert.Equal(t, 3*time.Second, *rp.Delay)
	assert.Equal(t, time.Minute, *rp.Window)
	assert.EqualValues(t, 2, *rp.MaxAttempts)
	assert.Equal(t, []swarm.NetworkAttachmentConfig{{Target: "webnet"}}, ts.Networks)
	assert.Equal(t, []string{"node.role==manager"}, ts.Placement.Constraints)
	assert.Equal(t, "node.labels.zone", ts.Placement.Preferences[0].Spread.SpreadDescriptor)

	assert.Equal(t, &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, Order: swarm.UpdateOrderStartFirst,
		FailureAction: swarm.UpdateFailureActionRollback}, spec.UpdateConfig)
	assert.Equal(t, &swarm.UpdateConfig{Parallelism: 0, Monitor: 20 * time.Second}, spec.RollbackConfig)
}

func TestServiceCreateGlobalAndErrors(t *testing.T) {
	api := newFakeSwarm()
	_, _, err := runCLI(t, api, "service", "create", "-d", "--mode", "global", "--name", "agent", "busybox")
	require.NoError(t, err)
	require.NotNil(t, api.created[0].Mode.Global)
	assert.Nil(t, api.created[0].Mode.Replicated)

	for _, args := range [][]string{
		{"--mode", "global", "--replicas", "2"},
		{"--mode", "both"},
		{"-p", "80:0"},
		{"-p", "published=80"},
		{"--limit-memory", "lots"},
		{"--limit-cpu", "-1"},
		{"--limit-cpu", "NaN"},
		{"--reserve-cpu", "1e400"},
		{"--reserve-cpu", "0.0000000001"},
		{"--reserve-memory", "lots"},
		{"--restart-condition", "sometimes"},
		{"--update-order", "random"},
		{"--rollback-failure-action", "rollback"},
		{"--update-max-failure-ratio", "2"},
		{"--no-healthcheck", "--health-cmd", "true"},
		{"--secret", "source="},
		{"--placement-pref", "pack=node.id"},
		{"--restart-delay", "soon"},
	} {
		api := newFakeSwarm()
		_, _, err := runCLI(t, api, append(append([]string{"service", "create", "-d"}, args...), "busybox")...)
		assert.Error(t, err, "%v", args)
		assert.Empty(t, api.created, "%v", args)
	}
}

func TestServiceUpdateEdits(t *testing.T) {
	api := newFakeSwarm()
	two := uint64(2)
	api.services["s1"] = swarm.Service{ID: "s1", Meta: swarm.Meta{Version: swarm.Version{Index: 41}}, Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "web", Labels: map[string]string{"keep": "1", "drop": "1"}},
		Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox", Env: []string{"A=1", "B=2"},
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/v"}}},
			Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: 1 << 20}}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 80}, {Protocol: "tcp", TargetPort: 443, PublishedPort: 443}}},
	}}
	orig := api.services["s1"]
	_, _, err := runCLI(t, api, "service", "update", "-d", "--image", "busybox:v2", "--replicas", "3",
		"--env-add", "B=3", "--env-add", "C=4", "--env-rm", "A", "--publish-rm", "443", "--publish-add", "8080:8080",
		"--label-add", "new=1", "--label-rm", "drop", "--mount-rm", "/v", "--constraint-add", "node.role==worker",
		"--secret-add", "pw", "--limit-cpu", "0.5", "--force", "web")
	require.NoError(t, err)
	require.Len(t, api.updated, 1)
	u := api.updated[0]
	assert.EqualValues(t, 41, u.Version.Index)
	assert.Empty(t, u.Rollback)
	cs := u.Spec.TaskTemplate.ContainerSpec
	assert.Equal(t, "busybox:v2", cs.Image)
	assert.Equal(t, []string{"B=3", "C=4"}, cs.Env)
	assert.Empty(t, cs.Mounts)
	assert.Equal(t, "pw", cs.Secrets[0].SecretName)
	assert.EqualValues(t, 3, *u.Spec.Mode.Replicated.Replicas)
	assert.Equal(t, map[string]string{"keep": "1", "new": "1"}, u.Spec.Labels)
	assert.Equal(t, []uint32{80, 8080}, []uint32{u.Spec.EndpointSpec.Ports[0].TargetPort, u.Spec.EndpointSpec.Ports[1].TargetPort})
	assert.Equal(t, []string{"node.role==worker"}, u.Spec.TaskTemplate.Placement.Constraints)
	assert.EqualValues(t, 1, u.Spec.TaskTemplate.ForceUpdate)
	assert.Equal(t, &swarm.Limit{NanoCPUs: 5e8, MemoryBytes: 1 << 20}, u.Spec.TaskTemplate.Resources.Limits, "other limits are kept")

	// The spec read from the daemon is not written to (update builds a copy).
	assert.Equal(t, []string{"A=1", "B=2"}, orig.Spec.TaskTemplate.ContainerSpec.Env)
	assert.Len(t, orig.Spec.EndpointSpec.Ports, 2)
	assert.Equal(t, map[string]string{"keep": "1", "drop": "1"}, orig.Spec.Labels)

	_, _, err = runCLI(t, api, "service", "update", "-d", "--rollback", "web")
	require.NoError(t, err)
	assert.Equal(t, "previous", api.updated[1].Rollback)
	_, _, err = runCLI(t, api, "service", "update", "-d", "--rollback", "--image", "x", "web")
	assert.Error(t, err)
	_, _, err = runCLI(t, api, "service", "update", "-d", "nope")
	assert.True(t, errdefs.IsNotFound(err))
}

func TestServiceScale(t *testing.T) {
	api := newFakeSwarm()
	one := uint64(1)
	api.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}, TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}}}
	api.services["g1"] = swarm.Service{ID: "g1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "agent"},
		Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}, TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}}}
	api.converge = true
	out, _, err := runCLI(t, api, "service", "scale", "web=3")
	require.NoError(t, err)
	assert.Equal(t, "web scaled to 3\noverall progress: 3 out of 3 tasks\nverify: Service converged\n", out)
	assert.EqualValues(t, 3, *api.services["s1"].Spec.Mode.Replicated.Replicas)

	out, _, err = runCLI(t, api, "service", "scale", "-d", "agent=2", "web=2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scale can only be used with replicated mode")
	assert.Contains(t, out, "web scaled to 2")

	_, _, err = runCLI(t, api, "service", "scale", "web")
	assert.ErrorContains(t, err, "invalid scale specifier 'web'")
}

func TestServicePsRendering(t *testing.T) {
	api := newFakeSwarm()
	api.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}}}
	now := time.Now()
	spec := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest@sha256:abc"}}
	api.tasks = []swarm.Task{
		{ID: "aaaaaaaaaaaaaaaaaaaaaaaaa", ServiceID: "s1", Slot: 1, NodeID: "n1", Spec: spec, Meta: swarm.Meta{CreatedAt: now.Add(-time.Minute)},
			DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)", Timestamp: now.Add(-time.Minute)}},
		{ID: "bbbbbbbbbbbbbbbbbbbbbbbbb", ServiceID: "s1", Slot: 1, NodeID: "n1", Spec: spec, Meta: swarm.Meta{CreatedAt: now},
			DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: now.Add(-5 * time.Second)}},
		{ID: "ccccccccccccccccccccccccc", ServiceID: "s1", Slot: 2, NodeID: "n1", Spec: spec, Meta: swarm.Meta{CreatedAt: now},
			DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: now.Add(-5 * time.Second),
				PortStatus: swarm.PortStatus{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}}}},
	}
	out, _, err := runCLI(t, api, "service", "ps", "web")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$`, lines[0])
	assert.Regexp(t, `^bbbbbbbbbbbb\s+web\.1\s+busybox:latest\s+host1\s+Running\s+Running 5 seconds ago\s*$`, lines[1])
	assert.Regexp(t, `^aaaaaaaaaaaa\s+ \\_ web\.1\s+busybox:latest\s+host1\s+Shutdown\s+Failed About a minute ago\s+"?task: non-zero exit \(1\)"?\s*$`, lines[2])
	assert.Regexp(t, `^cccccccccccc\s+web\.2\s+.*\*:8080->80/tcp$`, lines[3])

	out, _, err = runCLI(t, api, "service", "ps", "-q", "--no-trunc", "web")
	require.NoError(t, err)
	assert.Equal(t, "bbbbbbbbbbbbbbbbbbbbbbbbb\naaaaaaaaaaaaaaaaaaaaaaaaa\nccccccccccccccccccccccccc\n", out)
}

func TestServiceLsRendering(t *testing.T) {
	api := newFakeSwarm()
	five := uint64(5)
	api.services["s1"] = swarm.Service{ID: "s1xxxxxxxxxxxxxxxx", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &five}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "friendlyhello:latest@sha256:abc"}}},
		Endpoint:      swarm.Endpoint{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 4000, PublishMode: swarm.PortConfigPublishModeIngress}}},
		ServiceStatus: &swarm.ServiceStatus{RunningTasks: 3, DesiredTasks: 5}}
	out, _, err := runCLI(t, api, "service", "ls")
	require.NoError(t, err)
	assert.Regexp(t, `^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS\ns1xxxxxxxxxx\s+web\s+replicated\s+3/5\s+friendlyhello:latest\s+\*:4000->80/tcp\n$`, out)
}

func TestSecretAndConfigCommands(t *testing.T) {
	api := newFakeSwarm()
	c := &CLI{Streams: Streams{In: strings.NewReader("s3cret"), Out: &strings.Builder{}, Err: &strings.Builder{}},
		newClient: func(globalOptions) (APIClient, error) { return api, nil }}
	root := newRootCommand(c)
	root.SetArgs([]string{"secret", "create", "--label", "a=b", "pw", "-"})
	require.NoError(t, root.ExecuteContext(context.Background()))
	assert.Equal(t, "sec-pw\n", c.Out.(*strings.Builder).String())
	require.Len(t, api.secrets, 1)
	assert.Equal(t, "s3cret", string(api.secrets[0].Spec.Data))
	assert.Equal(t, map[string]string{"a": "b"}, api.secrets[0].Spec.Labels)

	_, _, err := runCLI(t, api, "secret", "create", "pw")
	assert.Error(t, err, "content is required without a driver")
	_, _, err = runCLI(t, api, "secret", "create", "pw", "/nonexistent/file")
	assert.ErrorContains(t, err, "error reading content from \"/nonexistent/file\"")

	out, _, err := runCLI(t, api, "secret", "ls")
	require.NoError(t, err)
	assert.Regexp(t, `^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED\nsec-pw\s+pw\s+`, out)
	out, _, err = runCLI(t, api, "secret", "inspect", "--format", "{{.Spec.Name}}", "pw")
	require.NoError(t, err)
	assert.Equal(t, "pw\n", out)
	out, _, err = runCLI(t, api, "secret", "inspect", "--pretty", "pw")
	require.NoError(t, err)
	assert.Contains(t, out, "Name:            pw\nLabels:\n - a=b\n")
	out, _, err = runCLI(t, api, "secret", "rm", "pw")
	require.NoError(t, err)
	assert.Equal(t, "pw\n", out)

	api.configs = []swarm.Config{{ID: "cfg-app", Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app"}, Data: []byte("k=v")}}}
	out, _, err = runCLI(t, api, "config", "ls", "-q")
	require.NoError(t, err)
	assert.Equal(t, "cfg-app\n", out)
	out, _, err = runCLI(t, api, "config", "inspect", "--pretty", "app")
	require.NoError(t, err)
	assert.Contains(t, out, "Data:\nk=v\n")
	_, _, err = runCLI(t, api, "config", "inspect", "nope")
	assert.ErrorContains(t, err, "config nope not found")
	_, _, err = runCLI(t, api, "config", "create", "only-name")
	assert.Error(t, err)
	out, _, err = runCLI(t, api, "config", "ls")
	require.NoError(t, err)
	assert.Regexp(t, `^ID\s+NAME\s+CREATED\s+UPDATED\ncfg-app\s+app\s+`, out, "configs have no driver column")
	out, _, err = runCLI(t, api, "config", "rm", "app")
	require.NoError(t, err)
	assert.Equal(t, "app\n", out)
}

func running(id, svc string, slot int, spec swarm.TaskSpec, created time.Time) swarm.Task {
	return swarm.Task{ID: id, ServiceID: svc, Slot: slot, Spec: spec, Meta: swarm.Meta{CreatedAt: created},
		DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}
}

func TestCheckConvergence(t *testing.T) {
	now := time.Now()
	since := now.Add(-time.Minute)
	three := uint64(3)
	v1 := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:v1"}}
	v2 := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app:v2"}}
	svc := swarm.Service{ID: "s", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}}, TaskTemplate: v2}}
	always := func(swarm.Task) bool { return true }

	// Old-spec tasks running do not count: the update has not happened yet.
	tasks := []swarm.Task{running("a", "s", 1, v1, since), running("b", "s", 2, v1, since), running("c", "s", 3, v1, since)}
	cv := checkConvergence(svc, tasks, since, now, false, always)
	assert.False(t, cv.converged)
	assert.Equal(t, 0, cv.running)
	assert.Equal(t, 3, cv.want)

	tasks = []swarm.Task{running("a", "s", 1, v2, now), running("b", "s", 2, v2, now), running("c", "s", 3, v2, now)}
	cv = checkConvergence(svc, tasks, since, now, false, always)
	assert.True(t, cv.converged)
	assert.Len(t, cv.slots, 3)
	assert.Equal(t, "1/3", cv.slots[0].label)

	// Counts match but the orchestrator still reports an update in flight.
	upd := svc
	upd.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
	assert.False(t, checkConvergence(upd, tasks, since, now, false, always).converged)

	// A scale-down is converged only once the extra task is gone.
	two := uint64(2)
	down := svc
	down.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}
	cv = checkConvergence(down, tasks, since, now, false, always)
	assert.False(t, cv.converged)
	assert.Equal(t, 2, cv.running, "the leaving slot is no progress: never 3 out of 2")
	assert.Len(t, cv.slots, 2)
	assert.True(t, checkConvergence(down, tasks[:2], since, now, false, always).converged)

	// A task running for less than stableFor does not count yet.
	fresh := slices.Clone(tasks)
	fresh[2].Status.Timestamp = now.Add(-stableFor / 2)
	cv = checkConvergence(svc, fresh, since, now, false, always)
	assert.False(t, cv.converged, "it may be about to exit")
	assert.Equal(t, 2, cv.running)
	fresh[2].Status.Timestamp = now.Add(-stableFor)
	assert.True(t, checkConvergence(svc, fresh, since, now, false, always).converged)

	// A one-shot service (restart condition none or on-failure) is done
	// once its task completed, desired state shut down or not; with the
	// default condition (any) a completed task is restarted, so not done.
	one := uint64(1)
	job := svc
	job.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	done := running("j", "s", 1, v2, since)
	done.Status.State, done.DesiredState = swarm.TaskStateComplete, swarm.TaskStateShutdown
	for _, cond := range []swarm.RestartPolicyCondition{swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure} {
		job.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: cond}
		done.Spec = job.Spec.TaskTemplate
		assert.True(t, checkConvergence(job, []swarm.Task{done}, since, now, false, always).converged, cond)
	}
	job.Spec.TaskTemplate.RestartPolicy = nil
	done.Spec = job.Spec.TaskTemplate
	assert.False(t, checkConvergence(job, []swarm.Task{done}, since, now, false, always).converged)

	// Unhealthy running tasks are "starting".
	notYet := func(t swarm.Task) bool { return t.ID != "b" }
	cv = checkConvergence(svc, tasks, since, now, false, notYet)
	assert.False(t, cv.converged)
	assert.Equal(t, 2, cv.running)
	assert.Equal(t, swarm.TaskStateStarting, cv.slots[1].state)

	// A crash loop: three failures of slot 2 since the wait began.
	failed := func(id string, at time.Time) swarm.Task {
		return swarm.Task{ID: id, ServiceID: "s", Slot: 2, Spec: v2, Meta: swarm.Meta{CreatedAt: at}, DesiredState: swarm.TaskStateShutdown,
			Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (" + id + ")"}}
	}
	loop := append([]swarm.Task{tasks[0], tasks[2]}, failed("1", now.Add(-3*time.Second)), failed("2", now.Add(-2*time.Second)))
	assert.NoError(t, checkConvergence(svc, loop, since, now, false, always).err, "two failures may still recover")
	loop = append(loop, failed("3", now.Add(-time.Second)))
	cv = checkConvergence(svc, loop, since, now, false, always)
	require.Error(t, cv.err)
	assert.Equal(t, "web.2: task: non-zero exit (3)", cv.err.Error())
	// Failures from before the wait do not count.
	assert.NoError(t, checkConvergence(svc, loop, now, now, false, always).err)
	// Restart condition none: the first failure is final.
	none := svc
	none.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	v2none := none.Spec.TaskTemplate
	f1 := failed("x", now)
	f1.Spec = v2none
	cv = checkConvergence(none, []swarm.Task{f1}, since, now, false, always)
	assert.ErrorContains(t, cv.err, "web.2: task: non-zero exit (x)")

	// Pending with a reason: tolerated for a while, then the error.
	pending := swarm.Task{ID: "p", ServiceID: "s", Slot: 1, Spec: v2, DesiredState: swarm.TaskStateRunning, Meta: swarm.Meta{CreatedAt: now.Add(-5 * time.Second)},
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (insufficient resources on 1 node)"}}
	assert.NoError(t, checkConvergence(svc, []swarm.Task{pending}, since, now, false, always).err)
	cv = checkConvergence(svc, []swarm.Task{pending}, since, now.Add(time.Minute), false, always)
	assert.EqualError(t, cv.err, "web.1: no suitable node (insufficient resources on 1 node)")

	// Update states.
	paused := svc
	paused.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure"}
	assert.EqualError(t, checkConvergence(paused, tasks, since, now, false, always).err, "service web: update paused: update paused due to failure")
	rolled := svc
	started := now.Add(-time.Second)
	rolled.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "rollback completed", StartedAt: &started}
	assert.Error(t, checkConvergence(rolled, tasks, since, now, false, always).err)
	assert.True(t, checkConvergence(rolled, tasks, since, now, true, always).converged, "service rollback waits for exactly this")
	old := now.Add(-time.Hour)
	rolled.UpdateStatus.StartedAt = &old
	assert.True(t, checkConvergence(rolled, tasks, since, now, false, always).converged, "an old rollback is history")

	// Global: one task per node.
	global := swarm.Service{ID: "g", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "agent"}, Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}, TaskTemplate: v1}}
	gt := running("g1", "g", 0, v1, now)
	gt.NodeID = "n1"
	cv = checkConvergence(global, []swarm.Task{gt}, since, now, false, always)
	assert.True(t, cv.converged)
	assert.Equal(t, "n1", cv.slots[0].label)
	assert.False(t, checkConvergence(global, nil, since, now, false, always).converged)
}

func TestWaitConvergedHealth(t *testing.T) {
	api := newFakeSwarm()
	one := uint64(1)
	spec := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "x", Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}}}}
	api.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "db"},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}, TaskTemplate: spec}}
	task := running("t1", "s1", 1, spec, time.Now())
	task.Status.ContainerStatus = &swarm.ContainerStatus{ContainerID: "c1"}
	api.tasks = []swarm.Task{task}
	api.health["c1"] = container.Starting

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out strings.Builder
	c := &CLI{Streams: Streams{Out: &out, Err: &out}}
	done := make(chan error, 1)
	go func() { done <- waitConverged(ctx, c, api, "s1", false, false) }()
	select {
	case err := <-done:
		t.Fatalf("converged while the task is unhealthy: %v", err)
	case <-time.After(3 * convergePoll):
	}
	api.mu.Lock()
	api.health["c1"] = container.Healthy
	api.mu.Unlock()
	require.NoError(t, <-done)
	assert.Equal(t, "overall progress: 0 out of 1 tasks\noverall progress: 1 out of 1 tasks\nverify: Service converged\n", out.String())
}

func TestProgressPrinterTTY(t *testing.T) {
	var b strings.Builder
	p := &progressPrinter{out: &b, tty: true}
	p.update(convergence{running: 0, want: 2, slots: []slotProgress{{label: "1/2", state: swarm.TaskStatePreparing}, {label: "2/2", state: swarm.TaskStatePending, err: "no suitable node"}}})
	first := b.String()
	assert.Equal(t, 3, strings.Count(first, "\n"))
	assert.Contains(t, first, "overall progress: 0 out of 2 tasks")
	assert.Contains(t, first, "1/2: preparing [=================================>                 ]")
	assert.Contains(t, first, "2/2: no suitable node")
	b.Reset()
	p.update(convergence{running: 1, want: 1, slots: []slotProgress{{label: "1/1", state: swarm.TaskStateRunning}}})
	second := b.String()
	assert.True(t, strings.HasPrefix(second, "\x1b[3A"), "redraws over the last block: %q", second)
	assert.Contains(t, second, "1/1: running   [==================================================>]")
	assert.True(t, strings.HasSuffix(second, "\x1b[1A"), "leaves the cursor under the shorter block: %q", second)
}

func TestStackDeployDecisions(t *testing.T) {
	api := newFakeSwarm()
	api.converge = true
	one := uint64(1)
	ns := map[string]string{labelNamespace: "lab"}
	web := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_web", Labels: ns},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "web:1", Secrets: []*swarm.SecretReference{{SecretName: "lab_pw"}}}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80}}}}
	redis := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_redis", Labels: ns},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "redis"}}}
	st := &stackFile{Secrets: []swarm.SecretSpec{{Annotations: swarm.Annotations{Name: "lab_pw", Labels: ns}, Data: []byte("x")}},
		Services: []swarm.ServiceSpec{redis, web}, DependsOn: map[string]map[string]string{"lab_web": {"lab_redis": "service_started"}}}
	st.Networks = append(st.Networks, stackNetwork{Name: "lab_default", Create: client.NetworkCreateOptions{Driver: "overlay", Labels: ns}})

	var out strings.Builder
	c := &CLI{Streams: Streams{Out: &out, Err: &out}}
	ctx := context.Background()
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveNever}))
	assert.Equal(t, "Creating network lab_default\nCreating secret lab_pw\nCreating service lab_redis\nCreating service lab_web\n", out.String())
	assert.Equal(t, []string{"NetworkCreate lab_default", "SecretCreate lab_pw", "ServiceCreate lab_redis", "ServiceCreate lab_web"}, api.calls)

	// What the daemon stores differs in ways the file cannot say: defaults
	// filled in, secret IDs resolved, a forced update counted.
	stored := api.services["id-lab_web"]
	sp := stored.Spec
	sp.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:1", Secrets: []*swarm.SecretReference{{SecretName: "lab_pw", SecretID: "sec-lab_pw"}}}
	sp.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeIngress, TargetPort: 80, PublishedPort: 80}}}
	sp.TaskTemplate.ForceUpdate = 2
	stored.Spec = sp
	api.services["id-lab_web"] = stored
	rs := api.services["id-lab_redis"]
	rs.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	api.services["id-lab_redis"] = rs

	out.Reset()
	api.calls = nil
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveNever}))
	assert.Empty(t, out.String(), "an unchanged redeploy does nothing")
	assert.Empty(t, api.calls)

	// A changed image updates that service only, keeping the force counter.
	web2 := web
	web2.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:2", Secrets: web.TaskTemplate.ContainerSpec.Secrets}
	st.Services = []swarm.ServiceSpec{web2}
	api.calls = nil
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{prune: true, resolveImage: resolveNever}))
	assert.Equal(t, "Updating service lab_web (id: id-lab_web)\nRemoving service lab_redis\n", out.String())
	assert.Equal(t, []string{"ServiceUpdate id-lab_web", "ServiceRemove id-lab_redis"}, api.calls)
	last := api.updated[len(api.updated)-1]
	assert.EqualValues(t, 2, last.Spec.TaskTemplate.ForceUpdate)
	assert.Equal(t, "web:2", last.Spec.TaskTemplate.ContainerSpec.Image)

	// An external network that is missing stops the deploy before anything.
	st.Networks[0].External, st.Networks[0].Name = true, "outside"
	err := deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveNever})
	assert.ErrorContains(t, err, `network "outside" is declared as external, but could not be found`)
}

// TestStackDeployChecksImages: an image in neither the daemon nor its
// registry stops the deploy before anything is created.
func TestStackDeployChecksImages(t *testing.T) {
	api := newFakeSwarm()
	api.converge = true
	api.missing = map[string]bool{"nosuch:v1": true}
	api.remote = map[string]bool{"elsewhere:v1": true}
	ns := map[string]string{labelNamespace: "lab"}
	svc := func(name, image string) swarm.ServiceSpec {
		return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name, Labels: ns},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}}}
	}
	st := &stackFile{Services: []swarm.ServiceSpec{svc("lab_a", "busybox"), svc("lab_b", "nosuch:v1")}}
	st.Networks = append(st.Networks, stackNetwork{Name: "lab_default", Create: client.NetworkCreateOptions{Driver: "overlay", Labels: ns}})
	var out strings.Builder
	c := &CLI{Streams: Streams{Out: &out, Err: &out}}
	ctx := context.Background()

	err := deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveAlways})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service lab_b: image nosuch:v1 not found")
	assert.Equal(t, []string{"ImageInspect busybox", "ImageInspect nosuch:v1", "DistributionInspect nosuch:v1"}, api.calls,
		"nothing is created")
	assert.Empty(t, out.String())

	// An image only in its registry is found there, with the stack's
	// credentials, and not pulled.
	api.calls = nil
	st.Services[1] = svc("lab_b", "elsewhere:v1")
	auth := func(image string) (string, error) { return "auth-for-" + image, nil }
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveAlways, auth: auth}))
	assert.Empty(t, api.pulled)
	assert.Equal(t, []string{"auth-for-elsewhere:v1"}, api.inspectAuths[len(api.inspectAuths)-1:])
	assert.Contains(t, api.calls, "ServiceCreate lab_b")
	require.NotEmpty(t, api.createOpts)
	assert.Equal(t, "auth-for-elsewhere:v1", api.createOpts[len(api.createOpts)-1].EncodedRegistryAuth)
	for id := range api.services {
		delete(api.services, id)
	}
	api.networks = nil

	// never: no check at all.
	api.calls = nil
	st.Services[1] = svc("lab_b", "nosuch:v1")
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveNever}))
	assert.Equal(t, []string{"NetworkCreate lab_default", "ServiceCreate lab_a", "ServiceCreate lab_b"}, api.calls)

	// changed: only the images that change are looked at.
	api.calls = nil
	st.Services[0] = svc("lab_a", "busybox:v2")
	require.NoError(t, deployStack(ctx, c, api, "lab", st, deployOptions{resolveImage: resolveChanged}))
	assert.Equal(t, []string{"ImageInspect busybox:v2", "ServiceUpdate id-lab_a"}, api.calls)

	_, _, err = runCLI(t, api, "stack", "deploy", "-c", "x.yml", "--resolve-image", "sometimes", "lab")
	assert.ErrorContains(t, err, "invalid option sometimes for flag --resolve-image")
}

// TestStackDeployDependsOn: a service_healthy dependency that is not
// healthy yet holds the dependent service back; service_started does not
// wait for health.
func TestStackDeployDependsOn(t *testing.T) {
	hc := &container.HealthConfig{Test: []string{"CMD", "true"}}
	ns := map[string]string{labelNamespace: "lab"}
	db := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_db", Labels: ns},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "db", Healthcheck: hc}}}
	app := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_app", Labels: ns},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "app"}}}

	for _, tc := range []struct {
		condition string
		waits     bool
	}{{"service_healthy", true}, {"service_started", false}} {
		t.Run(tc.condition, func(t *testing.T) {
			api := newFakeSwarm()
			api.converge = true
			api.health["id-lab_db-t1"] = container.Starting
			st := &stackFile{Services: []swarm.ServiceSpec{db, app},
				DependsOn: map[string]map[string]string{"lab_app": {"lab_db": tc.condition}}}
			c := &CLI{Streams: Streams{Out: io.Discard, Err: io.Discard}}
			done := make(chan error, 1)
			go func() {
				done <- deployStack(context.Background(), c, api, "lab", st, deployOptions{resolveImage: resolveNever})
			}()
			created := func() []string {
				api.mu.Lock()
				defer api.mu.Unlock()
				var out []string
				for _, s := range api.created {
					out = append(out, s.Name)
				}
				return out
			}
			if !tc.waits {
				require.NoError(t, <-done)
				assert.Equal(t, []string{"lab_db", "lab_app"}, created(), "running is enough")
				return
			}
			select {
			case err := <-done:
				t.Fatalf("deploy ended while lab_db is unhealthy: %v", err)
			case <-time.After(4 * convergePoll):
			}
			assert.Equal(t, []string{"lab_db"}, created(), "lab_app waits for lab_db to be healthy")
			api.mu.Lock()
			api.health["id-lab_db-t1"] = container.Healthy
			api.mu.Unlock()
			require.NoError(t, <-done)
			assert.Equal(t, []string{"lab_db", "lab_app"}, created())
		})
	}

	api := newFakeSwarm()
	st := &stackFile{Services: []swarm.ServiceSpec{db, app}, DependsOn: map[string]map[string]string{"lab_app": {"lab_db": "service_sometime"}}}
	c := &CLI{Streams: Streams{Out: io.Discard, Err: io.Discard}}
	err := deployStack(context.Background(), c, api, "lab", st, deployOptions{resolveImage: resolveNever})
	assert.ErrorContains(t, err, `depends_on condition "service_sometime" is not supported`)
}

// TestWaitCompleted: service_completed_successfully waits for a task that
// exited 0; a failure the service will not retry ends the wait.
func TestWaitCompleted(t *testing.T) {
	api := newFakeSwarm()
	api.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_init"},
		TaskTemplate: swarm.TaskSpec{RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}}}}
	api.tasks = []swarm.Task{{ID: "t1", ServiceID: "s1", Status: swarm.TaskStatus{State: swarm.TaskStateComplete}}}
	require.NoError(t, waitCompleted(context.Background(), api, "lab_init"))
	api.tasks = []swarm.Task{{ID: "t1", ServiceID: "s1", Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (3)"}}}
	assert.ErrorContains(t, waitCompleted(context.Background(), api, "lab_init"), "did not complete successfully: task: non-zero exit (3)")
}

func TestStackRmWaitsForTasks(t *testing.T) {
	api := newFakeSwarm()
	ns := map[string]string{labelNamespace: "lab"}
	api.services["s1"] = swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "lab_web", Labels: ns}}}
	api.networks = []network.Summary{{Network: network.Network{Name: "lab_default", ID: "n1", Labels: ns}}}
	api.tasks = nil
	out, _, err := runCLI(t, api, "stack", "rm", "lab")
	require.NoError(t, err)
	assert.Contains(t, out, "Removing service lab_web\n")
	assert.Contains(t, out, "Removing network lab_default\n")
	assert.Contains(t, api.calls, "ServiceRemove s1")

	_, errOut, err := runCLI(t, api, "stack", "rm", "other")
	require.NoError(t, err)
	assert.Contains(t, errOut, "Nothing found in stack: other")
}

func TestSameSpec(t *testing.T) {
	one := uint64(1)
	a := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "x"}, TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "i"}}}
	b := a
	b.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	assert.True(t, sameSpec(b, a), "replicas default to 1")
	c := a
	c.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "i", Secrets: []*swarm.SecretReference{{SecretName: "s"}}}
	assert.False(t, sameSpec(a, c), "a new secret is a change")
	d := c
	d.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "i", Secrets: []*swarm.SecretReference{{SecretName: "s", SecretID: "id"}}}
	assert.True(t, sameSpec(d, c), "the daemon's secret IDs are not")
}

func FuzzParsePublishSpec(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "8080:80/udp", "published=8080,target=80,protocol=udp,mode=host", "x:y", "=", ":", "1:", "/tcp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pcs, err := parsePublish(s)
		if err != nil {
			return
		}
		require.Len(t, pcs, 1)
		assert.NotZero(t, pcs[0].TargetPort)
		assert.NotEmpty(t, pcs[0].Protocol)
		assert.NotEmpty(t, pcs[0].PublishMode)
	})
}

func FuzzParseScale(f *testing.F) {
	for _, s := range []string{"web=3", "web", "=3", "web=-1", "a=b=c", "web=18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, n, err := parseScale(s)
		if err != nil {
			return
		}
		assert.NotEmpty(t, name)
		name2, n2, err := parseScale(fmt.Sprintf("%s=%d", name, n))
		require.NoError(t, err)
		assert.Equal(t, name, name2)
		assert.Equal(t, n, n2)
	})
}

func FuzzParseFileRef(f *testing.F) {
	for _, s := range []string{"pw", "source=pw,target=x,uid=1,gid=2,mode=0400", "source=", "mode=9999", "src=a,bogus=1", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseSecretRef(s); err == nil {
			assert.NotEmpty(t, r.SecretName)
			assert.NotEmpty(t, r.File.Name)
			assert.LessOrEqual(t, uint32(r.File.Mode), uint32(0o7777))
		}
		if r, err := parseConfigRef(s); err == nil {
			assert.True(t, strings.HasPrefix(r.File.Name, "/"))
		}
		if p, err := parsePlacementPref(s); err == nil {
			assert.NotEmpty(t, p.Spread.SpreadDescriptor)
		}
	})
}

func FuzzFilterFlag(f *testing.F) {
	for _, s := range []string{"name=web", "label=a=b", "=x", "noequals", " Desired-State =running"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var ff filterFlag
		if err := ff.Set(s); err != nil {
			return
		}
		assert.Len(t, ff.f, 1)
		for k := range ff.f {
			assert.Equal(t, strings.ToLower(k), k)
		}
	})
}

func FuzzParsePlacementPref(f *testing.F) {
	for _, s := range []string{"spread=node.labels.zone", "SPREAD=x", "spread=", "binpack=x", "=", "spread=a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePlacementPref(s)
		if err != nil {
			return
		}
		require.NotNil(t, p.Spread)
		assert.NotEmpty(t, p.Spread.SpreadDescriptor)
		k, v, _ := strings.Cut(s, "=")
		assert.True(t, strings.EqualFold(k, "spread"), "only spread is accepted: %q", s)
		assert.Equal(t, v, p.Spread.SpreadDescriptor)
	})
}

// TestServiceRegistryAuthAndResolve: create and update ask the client to
// pin the image's digest unless --no-resolve-image, and send the stored
// credentials only with --with-registry-auth (else update keeps the
// service's own, or takes the previous spec's on rollback).
func TestServiceRegistryAuthAndResolve(t *testing.T) {
	dir := useConfigDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"),
		[]byte(`{"auths":{"127.0.0.1:5000":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:secret"))+`"}}}`), 0o600))
	api := newFakeSwarm()

	_, _, err := runCLI(t, api, "service", "create", "--name", "web", "-d", "--with-registry-auth", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	o := api.createOpts[0]
	assert.True(t, o.QueryRegistry)
	ac, err := authconfig.Decode(o.EncodedRegistryAuth)
	require.NoError(t, err)
	assert.Equal(t, "alice", ac.Username)
	assert.Equal(t, "secret", ac.Password)

	_, _, err = runCLI(t, api, "service", "create", "--name", "plain", "-d", "--no-resolve-image", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	assert.False(t, api.createOpts[1].QueryRegistry)
	assert.Empty(t, api.createOpts[1].EncodedRegistryAuth)

	_, _, err = runCLI(t, api, "service", "update", "-d", "--image", "127.0.0.1:5000/alice/app:2", "--with-registry-auth", "web")
	require.NoError(t, err)
	u := api.updated[0]
	assert.True(t, u.QueryRegistry)
	assert.NotEmpty(t, u.EncodedRegistryAuth)

	_, _, err = runCLI(t, api, "service", "update", "-d", "--replicas", "2", "web")
	require.NoError(t, err)
	u = api.updated[1]
	assert.False(t, u.QueryRegistry, "the image did not change")
	assert.Empty(t, u.EncodedRegistryAuth)
	assert.Equal(t, swarm.RegistryAuthFromSpec, u.RegistryAuthFrom)

	_, _, err = runCLI(t, api, "service", "update", "-d", "--rollback", "web")
	require.NoError(t, err)
	assert.Equal(t, swarm.RegistryAuthFromPreviousSpec, api.updated[2].RegistryAuthFrom)
}
