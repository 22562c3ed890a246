package compose

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// LabelNamespace marks every object of a stack.
const LabelNamespace = "com.docker.stack.namespace"

// Network is a network the stack needs.
type Network struct {
	Name     string                `json:"name"`
	External bool                  `json:"external,omitempty"`
	Create   network.CreateRequest `json:"create"`
}

// Stack is a converted project: what deploy creates, in dependency order.
type Stack struct {
	Namespace string              `json:"namespace"`
	Networks  []Network           `json:"networks"`
	Secrets   []swarm.SecretSpec  `json:"secrets"`
	Configs   []swarm.ConfigSpec  `json:"configs"`
	Services  []swarm.ServiceSpec `json:"services"`
	// DependsOn lists, per service (full name), the services it waits for
	// and the condition ("service_started", "service_healthy").
	DependsOn map[string]map[string]string `json:"dependsOn,omitempty"`
	Warnings  []string                     `json:"warnings,omitempty"`
}

// Load reads compose files (workDir resolves relative paths; env
// interpolates ${VARS}, as the process environment would).
func Load(ctx context.Context, files []string, workDir string, env []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory(workDir), cli.WithEnv(env),
		cli.WithDotEnv, cli.WithName("stack"))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// scoped is <namespace>_<name>.
func scoped(ns, name string) string { return ns + "_" + name }

// Convert turns a loaded project into the stack namespace's objects.
func Convert(p *types.Project, ns string) (*Stack, error) {
	st := &Stack{Namespace: ns, DependsOn: map[string]map[string]string{}}
	warn := func(format string, a ...any) { st.Warnings = append(st.Warnings, fmt.Sprintf(format, a...)) }
	nsLabels := func(l map[string]string) map[string]string {
		out := map[string]string{LabelNamespace: ns}
		for k, v := range l {
			out[k] = v
		}
		return out
	}

	// Networks: the ones services use; "default" becomes <stack>_default.
	used := map[string]bool{}
	for _, s := range p.Services {
		if len(s.Networks) == 0 {
			used["default"] = true
		}
		for n := range s.Networks {
			used[n] = true
		}
	}
	for _, key := range sortedKeys(used) {
		cfg, ok := p.Networks[key]
		if !ok && key != "default" {
			return nil, fmt.Errorf("service refers to undefined network %s: %w", key, errdefs.ErrInvalidArgument)
		}
		if bool(cfg.External) {
			name := cfg.Name
			if name == "" {
				name = key
			}
			st.Networks = append(st.Networks, Network{Name: name, External: true})
			continue
		}
		driver := cfg.Driver
		if driver == "" {
			driver = "overlay"
		}
		name := scoped(ns, key)
		if cfg.Name != "" && cfg.Name != key && cfg.Name != "stack_"+key {
			name = cfg.Name
		}
		req := network.CreateRequest{Driver: driver, Scope: "swarm", Internal: cfg.Internal, Attachable: cfg.Attachable,
			Labels: nsLabels(cfg.Labels), Options: cfg.DriverOpts}
		for _, c := range cfg.Ipam.Config {
			if req.IPAM == nil {
				req.IPAM = &network.IPAM{Driver: cfg.Ipam.Driver}
			}
			ic := network.IPAMConfig{}
			if c.Subnet != "" {
				pfx, err := netip.ParsePrefix(c.Subnet)
				if err != nil {
					return nil, fmt.Errorf("network %s: invalid subnet %q: %w", key, c.Subnet, errdefs.ErrInvalidArgument)
				}
				ic.Subnet = pfx
			}
			req.IPAM.Config = append(req.IPAM.Config, ic)
		}
		st.Networks = append(st.Networks, Network{Name: name, Create: req})
	}

	// Secrets and configs from files (external ones must exist already).
	secretIDs, configIDs := map[string]string{}, map[string]string{}
	for _, key := range sortedKeys(p.Secrets) {
		cfg := p.Secrets[key]
		name := scoped(ns, key)
		if bool(cfg.External) {
			name = orDefault(cfg.Name, key)
			secretIDs[key] = name
			continue
		}
		data, err := fileData(cfg.File, cfg.Content, cfg.Environment, p)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", key, err)
		}
		st.Secrets = append(st.Secrets, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: nsLabels(cfg.Labels)}, Data: data})
		secretIDs[key] = name
	}
	for _, key := range sortedKeys(p.Configs) {
		cfg := p.Configs[key]
		name := scoped(ns, key)
		if bool(cfg.External) {
			name = orDefault(cfg.Name, key)
			configIDs[key] = name
			continue
		}
		data, err := fileData(cfg.File, cfg.Content, cfg.Environment, p)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", key, err)
		}
		st.Configs = append(st.Configs, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: nsLabels(cfg.Labels)}, Data: data})
		configIDs[key] = name
	}

	order, err := dependencyOrder(p)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		s := p.Services[name]
		spec, err := convertService(p, ns, s, secretIDs, configIDs, warn)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		st.Services = append(st.Services, spec)
		for dep, d := range s.DependsOn {
			if st.DependsOn[spec.Name] == nil {
				st.DependsOn[spec.Name] = map[string]string{}
			}
			st.DependsOn[spec.Name][scoped(ns, dep)] = d.Condition
		}
	}
	if len(st.DependsOn) == 0 {
		st.DependsOn = nil
	}
	return st, nil
}

// dependencyOrder lists services so that every one comes after those it
// depends on; a cycle is an error.
func dependencyOrder(p *types.Project) ([]string, error) {
	var out []string
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("dependency cycle through service %s: %w", n, errdefs.ErrInvalidArgument)
		case 2:
			return nil
		}
		state[n] = 1
		s, ok := p.Services[n]
		if !ok {
			return fmt.Errorf("service depends on undefined service %s: %w", n, errdefs.ErrInvalidArgument)
		}
		for _, d := range sortedKeys(s.DependsOn) {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, n := range sortedKeys(p.Services) {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func convertService(p *types.Project, ns string, s types.ServiceConfig, secretIDs, configIDs map[string]string,
	warn func(string, ...any)) (swarm.ServiceSpec, error) {
	name := scoped(ns, s.Name)
	// Keys swarm ignores: say so, as the docker CLI does.
	if s.Build != nil {
		warn("Ignoring unsupported options: build")
	}
	for key, set := range map[string]bool{"container_name": s.ContainerName != "", "restart": s.Restart != "",
		"links": len(s.Links) > 0, "devices": len(s.Devices) > 0, "privileged": s.Privileged,
		"network_mode": s.NetworkMode != "", "security_opt": len(s.SecurityOpt) > 0, "cgroup_parent": s.CgroupParent != ""} {
		if set {
			warn("Ignoring unsupported options: %s", key)
		}
	}
	if s.Image == "" {
		return swarm.ServiceSpec{}, fmt.Errorf("no image given (swarm cannot build images): %w", errdefs.ErrInvalidArgument)
	}
	labels := map[string]string{LabelNamespace: ns}
	cs := &swarm.ContainerSpec{
		Image: s.Image, Labels: map[string]string{LabelNamespace: ns}, Command: s.Entrypoint, Args: s.Command,
		Hostname: s.Hostname, Dir: s.WorkingDir, User: s.User, TTY: s.Tty, OpenStdin: s.StdinOpen,
		ReadOnly: s.ReadOnly, StopSignal: s.StopSignal, CapabilityAdd: s.CapAdd, CapabilityDrop: s.CapDrop,
		Init: s.Init, Groups: s.GroupAdd, Sysctls: s.Sysctls,
	}
	for k, v := range s.Labels {
		cs.Labels[k] = v
	}
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil {
			cs.Env = append(cs.Env, k+"="+*v)
		} else {
			cs.Env = append(cs.Env, k)
		}
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	for _, h := range s.ExtraHosts.AsList(" ") {
		f := strings.Fields(h)
		if len(f) == 2 {
			cs.Hosts = append(cs.Hosts, f[1]+" "+f[0])
		}
	}
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 || len(s.DNSOpts) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Search: s.DNSSearch, Options: s.DNSOpts}
		for _, ns := range s.DNS {
			a, err := netip.ParseAddr(ns)
			if err != nil {
				return swarm.ServiceSpec{}, fmt.Errorf("invalid dns address %q: %w", ns, errdefs.ErrInvalidArgument)
			}
			cs.DNSConfig.Nameservers = append(cs.DNSConfig.Nameservers, a)
		}
	}
	if hc := s.HealthCheck; hc != nil {
		h := &container.HealthConfig{Test: hc.Test}
		if hc.Disable {
			h.Test = []string{"NONE"}
		}
		if hc.Interval != nil {
			h.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil {
			h.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.StartPeriod != nil {
			h.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.StartInterval != nil {
			h.StartInterval = time.Duration(*hc.StartInterval)
		}
		if hc.Retries != nil {
			h.Retries = int(*hc.Retries)
		}
		cs.Healthcheck = h
	}
	for _, v := range s.Volumes {
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			m.Type, m.Source = mount.TypeBind, v.Source
		case types.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
		default:
			m.Type = mount.TypeVolume
			if v.Source != "" {
				vol, ok := p.Volumes[v.Source]
				m.Source = scoped(ns, v.Source)
				if ok && bool(vol.External) {
					m.Source = orDefault(vol.Name, v.Source)
				}
				m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{LabelNamespace: ns}}
			}
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	for _, ref := range s.Secrets {
		target := orDefault(ref.Target, ref.Source)
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretName: secretIDs[ref.Source],
			File: &swarm.SecretReferenceFileTarget{Name: target, UID: orDefault(ref.UID, "0"), GID: orDefault(ref.GID, "0"), Mode: fileMode(ref.Mode, 0o444)}})
	}
	for _, ref := range s.Configs {
		target := orDefault(ref.Target, "/"+ref.Source)
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: configIDs[ref.Source],
			File: &swarm.ConfigReferenceFileTarget{Name: target, UID: orDefault(ref.UID, "0"), GID: orDefault(ref.GID, "0"), Mode: fileMode(ref.Mode, 0o444)}})
	}

	spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: cs}}
	one := uint64(1)
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}

	// Networks, with the service's short name as an alias like docker.
	if len(s.Networks) == 0 {
		spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: scoped(ns, "default"), Aliases: []string{s.Name}}}
	}
	for _, key := range sortedKeys(s.Networks) {
		target := scoped(ns, key)
		if cfg, ok := p.Networks[key]; ok && bool(cfg.External) {
			target = orDefault(cfg.Name, key)
		}
		aliases := []string{s.Name}
		if n := s.Networks[key]; n != nil {
			aliases = append(aliases, n.Aliases...)
		}
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: target, Aliases: aliases})
	}
	for _, pc := range s.Ports {
		port := swarm.PortConfig{TargetPort: pc.Target, Protocol: network.IPProtocol(orDefault(pc.Protocol, "tcp")),
			PublishMode: swarm.PortConfigPublishMode(orDefault(pc.Mode, "ingress"))}
		if pc.Published != "" {
			var n uint32
			if _, err := fmt.Sscanf(pc.Published, "%d", &n); err != nil {
				return swarm.ServiceSpec{}, fmt.Errorf("invalid published port %q: %w", pc.Published, errdefs.ErrInvalidArgument)
			}
			port.PublishedPort = n
		}
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, port)
	}

	if d := s.Deploy; d != nil {
		for k, v := range d.Labels {
			spec.Labels[k] = v
		}
		switch d.Mode {
		case "", "replicated":
			if d.Replicas != nil {
				n := uint64(*d.Replicas)
				spec.Mode.Replicated.Replicas = &n
			}
		case "global":
			spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		default:
			return swarm.ServiceSpec{}, fmt.Errorf("unknown deploy mode %q: %w", d.Mode, errdefs.ErrInvalidArgument)
		}
		if r := d.Resources; r.Limits != nil || r.Reservations != nil {
			rr := &swarm.ResourceRequirements{}
			if l := r.Limits; l != nil {
				rr.Limits = &swarm.Limit{NanoCPUs: int64(l.NanoCPUs.Value() * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
			}
			if l := r.Reservations; l != nil {
				rr.Reservations = &swarm.Resources{NanoCPUs: int64(l.NanoCPUs.Value() * 1e9), MemoryBytes: int64(l.MemoryBytes)}
			}
			spec.TaskTemplate.Resources = rr
		}
		if rp := d.RestartPolicy; rp != nil {
			p := &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition), MaxAttempts: rp.MaxAttempts}
			if p.Condition == "" {
				p.Condition = swarm.RestartPolicyConditionAny
			}
			if rp.Delay != nil {
				dd := time.Duration(*rp.Delay)
				p.Delay = &dd
			}
			if rp.Window != nil {
				w := time.Duration(*rp.Window)
				p.Window = &w
			}
			spec.TaskTemplate.RestartPolicy = p
		}
		spec.UpdateConfig = updateConfig(d.UpdateConfig)
		spec.RollbackConfig = updateConfig(d.RollbackConfig)
		if len(d.Placement.Constraints) > 0 || d.Placement.MaxReplicas > 0 {
			spec.TaskTemplate.Placement = &swarm.Placement{Constraints: d.Placement.Constraints, MaxReplicas: d.Placement.MaxReplicas}
		}
		if d.EndpointMode != "" {
			if spec.EndpointSpec == nil {
				spec.EndpointSpec = &swarm.EndpointSpec{}
			}
			spec.EndpointSpec.Mode = swarm.ResolutionMode(d.EndpointMode)
		}
	} else if s.Restart != "" {
		// docker stack deploy maps a plain restart: key onto the policy.
		cond := map[string]swarm.RestartPolicyCondition{"no": swarm.RestartPolicyConditionNone, "always": swarm.RestartPolicyConditionAny,
			"unless-stopped": swarm.RestartPolicyConditionAny, "on-failure": swarm.RestartPolicyConditionOnFailure}[strings.Split(s.Restart, ":")[0]]
		if cond != "" {
			spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: cond}
		}
	}
	return spec, nil
}

func updateConfig(u *types.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	out := &swarm.UpdateConfig{Parallelism: 1, Delay: time.Duration(u.Delay), FailureAction: swarm.FailureAction(u.FailureAction),
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: swarm.UpdateOrder(u.Order)}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	return out
}

// fileData reads a secret's or config's content: a file (relative to the
// project), inline content, or an environment variable.
func fileData(file, content, env string, p *types.Project) ([]byte, error) {
	switch {
	case file != "":
		if !filepath.IsAbs(file) {
			file = filepath.Join(p.WorkingDir, file)
		}
		return os.ReadFile(file)
	case content != "":
		return []byte(content), nil
	case env != "":
		v, ok := p.Environment[env]
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set: %w", env, errdefs.ErrInvalidArgument)
		}
		return []byte(v), nil
	}
	return nil, fmt.Errorf("no file, content or environment given: %w", errdefs.ErrInvalidArgument)
}

func fileMode(m *types.FileMode, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
