package agent

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// IngressNetwork is the name of the routing mesh's network.
const IngressNetwork = "ingress"

// Labels Docker sets on every task container.
const (
	LabelNodeID      = "com.docker.swarm.node.id"
	LabelServiceID   = "com.docker.swarm.service.id"
	LabelServiceName = "com.docker.swarm.service.name"
	LabelTask        = "com.docker.swarm.task"
	LabelTaskID      = "com.docker.swarm.task.id"
	LabelTaskName    = "com.docker.swarm.task.name"
)

// Assignment is a task handed to this node, with what running it needs
// beyond the task itself.
type Assignment struct {
	Task        swarm.Task
	ServiceName string
	// Ports are the service's published ports in host mode: this node
	// binds them for the task (ingress ports are the routing mesh's).
	Ports []swarm.PortConfig
	// Ingress is set when the service publishes ports on the routing mesh:
	// the task joins the ingress network, whose addresses the mesh sends
	// those ports to, as Docker attaches such tasks.
	Ingress bool
	// Secrets and Configs hold the referenced objects' data by ID.
	Secrets map[string][]byte
	Configs map[string][]byte
	// RegistryAuth is the encoded X-Registry-Auth the service was created
	// or updated with (--with-registry-auth): the task's image is pulled
	// with it. Never shown by inspect.
	RegistryAuth string
}

// TaskName is Docker's name for a task and its container:
// <service>.<slot>.<task ID>, or <service>.<node ID>.<task ID> for a
// global service.
func TaskName(serviceName string, t *swarm.Task) string {
	place := strconv.Itoa(t.Slot)
	if t.Slot == 0 {
		place = t.NodeID
	}
	return serviceName + "." + place + "." + t.ID
}

// fileMount is a secret or config the agent writes to disk and binds
// read-only into the container.
type fileMount struct {
	Source, Target string
	Data           []byte
	UID, GID       int
	Mode           os.FileMode
}

// containerFor translates an assignment into the container create request
// the engine runs, plus the files (secrets, configs) to write before it
// starts; fileDir is where this task's files go.
func containerFor(a *Assignment, nodeID, fileDir string) (string, *container.CreateRequest, []fileMount, error) {
	t := &a.Task
	cs := t.Spec.ContainerSpec
	if cs == nil {
		return "", nil, nil, fmt.Errorf("task %s has no container spec", t.ID)
	}
	name := TaskName(a.ServiceName, t)
	labels := map[string]string{}
	for k, v := range cs.Labels {
		labels[k] = v
	}
	labels[LabelNodeID] = nodeID
	labels[LabelServiceID] = t.ServiceID
	labels[LabelServiceName] = a.ServiceName
	labels[LabelTask] = ""
	labels[LabelTaskID] = t.ID
	labels[LabelTaskName] = name

	cfg := &container.Config{
		Image: cs.Image, Labels: labels, Env: cs.Env, Cmd: cs.Args, Entrypoint: cs.Command,
		WorkingDir: cs.Dir, User: cs.User, Hostname: cs.Hostname, Tty: cs.TTY, OpenStdin: cs.OpenStdin,
		StopSignal: cs.StopSignal, Healthcheck: cs.Healthcheck,
	}
	if cs.StopGracePeriod != nil {
		secs := int(cs.StopGracePeriod.Seconds())
		cfg.StopTimeout = &secs
	}
	hc := &container.HostConfig{
		Mounts: append([]mount.Mount(nil), cs.Mounts...), ReadonlyRootfs: cs.ReadOnly,
		CapAdd: cs.CapabilityAdd, CapDrop: cs.CapabilityDrop, Sysctls: cs.Sysctls, Init: cs.Init,
		GroupAdd: cs.Groups, OomScoreAdj: int(cs.OomScoreAdj),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}, // the orchestrator restarts tasks
	}
	for _, u := range cs.Ulimits {
		hc.Ulimits = append(hc.Ulimits, u)
	}
	for _, h := range cs.Hosts {
		// swarm keeps hosts(5) lines ("IP name aliases…"); the engine
		// takes docker's "name:IP".
		f := strings.Fields(h)
		for _, n := range f[min(1, len(f)):] {
			hc.ExtraHosts = append(hc.ExtraHosts, n+":"+f[0])
		}
	}
	if d := cs.DNSConfig; d != nil {
		hc.DNS, hc.DNSSearch, hc.DNSOptions = nil, d.Search, d.Options
		for _, ns := range d.Nameservers {
			hc.DNS = append(hc.DNS, ns)
		}
	}
	if r := t.Spec.Resources; r != nil && r.Limits != nil {
		hc.NanoCPUs, hc.Memory = r.Limits.NanoCPUs, r.Limits.MemoryBytes
		if r.Limits.Pids > 0 {
			p := r.Limits.Pids
			hc.PidsLimit = &p
		}
	}
	for _, p := range a.Ports {
		if p.PublishMode != swarm.PortConfigPublishModeHost {
			continue
		}
		proto := string(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.TargetPort, proto))
		if err != nil {
			return "", nil, nil, fmt.Errorf("task %s: port %d/%s: %w", t.ID, p.TargetPort, proto, err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts, hc.PortBindings = network.PortSet{}, network.PortMap{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		hostPort := ""
		if p.PublishedPort != 0 {
			hostPort = strconv.Itoa(int(p.PublishedPort))
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], network.PortBinding{HostPort: hostPort})
	}

	var files []fileMount
	for _, ref := range cs.Secrets {
		if ref == nil || ref.File == nil {
			continue
		}
		f, err := objectFile(fileDir, "secret", ref.SecretID, ref.SecretName, "/run/secrets", *ref.File, a.Secrets)
		if err != nil {
			return "", nil, nil, fmt.Errorf("task %s: %w", t.ID, err)
		}
		files = append(files, f)
	}
	for _, ref := range cs.Configs {
		if ref == nil || ref.File == nil {
			continue
		}
		f, err := objectFile(fileDir, "config", ref.ConfigID, ref.ConfigName, "/", swarm.SecretReferenceFileTarget(*ref.File), a.Configs)
		if err != nil {
			return "", nil, nil, fmt.Errorf("task %s: %w", t.ID, err)
		}
		files = append(files, f)
	}
	for _, f := range files {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: f.Source, Target: f.Target, ReadOnly: true})
	}

	nc := &network.NetworkingConfig{}
	for i, n := range t.Spec.Networks {
		if i == 0 {
			hc.NetworkMode = container.NetworkMode(n.Target)
		}
		if nc.EndpointsConfig == nil {
			nc.EndpointsConfig = map[string]*network.EndpointSettings{}
		}
		// The service's own name (its VIP) and tasks.<name> are the
		// network's DNS's business (network.SetService).
		nc.EndpointsConfig[n.Target] = &network.EndpointSettings{Aliases: n.Aliases}
	}
	if a.Ingress {
		// After the service's own networks, so that those (their DNS, their
		// gateway) come first; a task with no network of its own is on
		// ingress only, not on the default bridge.
		if hc.NetworkMode == "" {
			hc.NetworkMode = container.NetworkMode(IngressNetwork)
		}
		if nc.EndpointsConfig == nil {
			nc.EndpointsConfig = map[string]*network.EndpointSettings{}
		}
		nc.EndpointsConfig[IngressNetwork] = &network.EndpointSettings{}
	}
	return name, &container.CreateRequest{Config: cfg, HostConfig: hc, NetworkingConfig: nc}, files, nil
}

// objectFile places a secret's or config's data (kind "secret" or
// "config") in dir and at its target in the container; a relative target
// is under base. Secret and config file targets have the same fields, so
// a config's is passed converted.
func objectFile(dir, kind, id, name, base string, f swarm.SecretReferenceFileTarget, data map[string][]byte) (fileMount, error) {
	d, ok := data[id]
	if !ok {
		return fileMount{}, fmt.Errorf("%s %s (%s) is not available: %w", kind, name, id, errdefs.ErrNotFound)
	}
	// An unparsable owner must not silently become root.
	uid, err := FileOwner(f.UID)
	if err != nil {
		return fileMount{}, fmt.Errorf("%s %s: uid: %w", kind, name, err)
	}
	gid, err := FileOwner(f.GID)
	if err != nil {
		return fileMount{}, fmt.Errorf("%s %s: gid: %w", kind, name, err)
	}
	target := f.Name
	if !path.IsAbs(target) {
		target = path.Join(base, target)
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o444
	}
	return fileMount{Source: filepath.Join(dir, kind+"-"+id), Target: target, Data: d, UID: uid, GID: gid, Mode: mode}, nil
}

// FileOwner parses the numeric uid or gid of a secret or config file;
// empty means 0, as in docker. The engine checks it at service create too.
func FileOwner(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a numeric id: %w", s, errdefs.ErrInvalidArgument)
	}
	return n, nil
}
