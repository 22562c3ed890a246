package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/agent"
	"wharf.io/wharf/cluster/store"
)

// Swarm services, tasks, secrets and configs: the engine side of the
// /services, /tasks, /secrets and /configs routes. Specs go into the cluster
// store; the leader's controller and each node's agent do the rest.

// serviceNameRE is docker's rule for service (and stack object) names.
var serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

func (e *Engine) clusterStore() (*store.Store, error) {
	return e.cluster.Store()
}

// validateServiceSpec applies docker's checks at the API edge.
func validateServiceSpec(spec *swarm.ServiceSpec) error {
	if spec.Name == "" {
		return fmt.Errorf("name must be valid as a DNS name component: %w", errdefs.ErrInvalidArgument)
	}
	if len(spec.Name) > 63 || !serviceNameRE.MatchString(spec.Name) {
		return fmt.Errorf("name must be valid as a DNS name component: %w", errdefs.ErrInvalidArgument)
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return fmt.Errorf("ContainerSpec: ContainerSpec must be provided: %w", errdefs.ErrInvalidArgument)
	}
	if cs.Image == "" {
		return fmt.Errorf("ContainerSpec: image reference must be provided: %w", errdefs.ErrInvalidArgument)
	}
	m := spec.Mode
	if m.Replicated != nil && m.Global != nil {
		return fmt.Errorf("service mode: only one of replicated and global may be set: %w", errdefs.ErrInvalidArgument)
	}
	if m.ReplicatedJob != nil || m.GlobalJob != nil {
		return fmt.Errorf("job services are not supported yet: %w", errdefs.ErrNotImplemented)
	}
	if r := spec.TaskTemplate.Resources; r != nil {
		if r.Limits != nil && (r.Limits.NanoCPUs < 0 || r.Limits.MemoryBytes < 0) {
			return fmt.Errorf("resource limits must not be negative: %w", errdefs.ErrInvalidArgument)
		}
	}
	if ep := spec.EndpointSpec; ep != nil {
		seen := map[string]bool{}
		for _, p := range ep.Ports {
			if p.TargetPort == 0 || p.TargetPort > 65535 || p.PublishedPort > 65535 {
				return fmt.Errorf("invalid port %d:%d: %w", p.PublishedPort, p.TargetPort, errdefs.ErrInvalidArgument)
			}
			key := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
			if p.PublishedPort != 0 && seen[key] {
				return fmt.Errorf("duplicate published ports provided: %d: %w", p.PublishedPort, errdefs.ErrInvalidArgument)
			}
			seen[key] = true
		}
	}
	return nil
}

// withServiceDefaults fills what docker fills in a new spec.
func withServiceDefaults(spec *swarm.ServiceSpec) {
	if spec.Mode.Replicated == nil && spec.Mode.Global == nil {
		one := uint64(1)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	}
	if r := spec.Mode.Replicated; r != nil && r.Replicas == nil {
		one := uint64(1)
		r.Replicas = &one
	}
	if ep := spec.EndpointSpec; ep != nil {
		for i := range ep.Ports {
			p := &ep.Ports[i]
			if p.Protocol == "" {
				p.Protocol = "tcp"
			}
			if p.PublishMode == "" {
				p.PublishMode = swarm.PortConfigPublishModeIngress
			}
		}
	}
}

// ServiceCreate implements POST /services/create.
func (e *Engine) ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, encodedAuth string) (swarm.ServiceCreateResponse, error) {
	st, err := e.clusterStore()
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	if err := validateServiceSpec(&spec); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	withServiceDefaults(&spec)
	if err := resolveFileRefs(ctx, st, &spec); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	all, err := st.Services().List(ctx)
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	for _, s := range all {
		if s.Spec.Name == spec.Name {
			return swarm.ServiceCreateResponse{}, fmt.Errorf("service %s already exists: %w", spec.Name, errdefs.ErrConflict)
		}
	}
	ports, err := allocatePorts(all, "", spec.EndpointSpec)
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	// The image's digest is pinned by the client (the docker CLI's
	// QueryRegistry, through GET /distribution), which also warns when the
	// registry cannot be reached, as dockerd leaves it to API >= 1.30.
	svc := &swarm.Service{Spec: spec, Endpoint: swarm.Endpoint{Ports: ports}}
	if spec.EndpointSpec != nil {
		svc.Endpoint.Spec = *spec.EndpointSpec
	}
	op, err := st.Services().CreateOp(svc)
	if err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	ops := []store.Op{op}
	if encodedAuth != "" {
		put, err := st.ServiceAuths().PutOp(&store.ServiceAuth{ID: svc.ID, RegistryAuth: encodedAuth})
		if err != nil {
			return swarm.ServiceCreateResponse{}, err
		}
		ops = append(ops, put)
	}
	if err := st.Commit(ctx, ops...); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	return swarm.ServiceCreateResponse{ID: svc.ID, Warnings: []string{}}, nil
}

// RegistryAuthUpdate is what a service update does with the registry
// credentials the service's tasks pull with (docker's X-Registry-Auth and
// registryAuthFrom on POST /services/{id}/update): Encoded, when set,
// replaces them; otherwise From "spec" (or "") keeps the current ones and
// "previous-spec" takes those of the previous spec.
type RegistryAuthUpdate struct {
	Encoded string
	From    swarm.RegistryAuthSource
}

// allocatePorts gives ingress ports without a published port one from
// docker's dynamic range (30000–32767) and refuses a port another service
// publishes already.
func allocatePorts(all []*swarm.Service, self string, ep *swarm.EndpointSpec) ([]swarm.PortConfig, error) {
	if ep == nil {
		return nil, nil
	}
	used := map[string]string{}
	for _, s := range all {
		if s.ID == self {
			continue
		}
		for _, p := range s.Endpoint.Ports {
			used[fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)] = s.Spec.Name
		}
	}
	var out []swarm.PortConfig
	for _, p := range ep.Ports {
		if p.PublishedPort == 0 && p.PublishMode != swarm.PortConfigPublishModeHost {
			for port := uint32(30000); port <= 32767; port++ {
				if _, taken := used[fmt.Sprintf("%d/%s", port, p.Protocol)]; !taken {
					p.PublishedPort = port
					break
				}
			}
		}
		key := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
		if other, taken := used[key]; taken && p.PublishMode != swarm.PortConfigPublishModeHost {
			return nil, fmt.Errorf("port '%d' is already in use by service '%s' as an ingress port: %w", p.PublishedPort, other, errdefs.ErrInvalidArgument)
		}
		used[key] = "self"
		out = append(out, p)
	}
	return out, nil
}

// findService resolves an ID, a unique ID prefix or a name.
func findService(ctx context.Context, st *store.Store, ref string) (*swarm.Service, error) {
	all, err := st.Services().List(ctx)
	if err != nil {
		return nil, err
	}
	var byPrefix []*swarm.Service
	for _, s := range all {
		if s.ID == ref || s.Spec.Name == ref {
			return s, nil
		}
		if strings.HasPrefix(s.ID, ref) {
			byPrefix = append(byPrefix, s)
		}
	}
	if len(byPrefix) == 1 {
		return byPrefix[0], nil
	}
	if len(byPrefix) > 1 {
		return nil, fmt.Errorf("service %s is ambiguous (%d matches found): %w", ref, len(byPrefix), errdefs.ErrInvalidArgument)
	}
	return nil, fmt.Errorf("service %s not found: %w", ref, errdefs.ErrNotFound)
}

// ServiceInspect implements GET /services/{id}.
func (e *Engine) ServiceInspect(ctx context.Context, ref string) (swarm.Service, error) {
	st, err := e.clusterStore()
	if err != nil {
		return swarm.Service{}, err
	}
	s, err := findService(ctx, st, ref)
	if err != nil {
		return swarm.Service{}, err
	}
	return *s, nil
}

// ServiceUpdate implements POST /services/{id}/update: a new spec (the
// previous one kept for rollback), or with rollback the previous spec back.
func (e *Engine) ServiceUpdate(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback bool) (swarm.ServiceUpdateResponse, error) {
	return e.ServiceUpdateAuth(ctx, ref, version, spec, rollback, RegistryAuthUpdate{})
}

// ServiceUpdateAuth is ServiceUpdate that also says what becomes of the
// service's registry credentials. A rollback takes back the previous
// spec's, as swarmkit restores the previous spec's PullOptions.
func (e *Engine) ServiceUpdateAuth(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback bool, auth RegistryAuthUpdate) (swarm.ServiceUpdateResponse, error) {
	st, err := e.clusterStore()
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	cur, err := findService(ctx, st, ref)
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	if rollback {
		if cur.PreviousSpec == nil {
			return swarm.ServiceUpdateResponse{}, fmt.Errorf("service %s does not have a previous spec: %w", cur.Spec.Name, errdefs.ErrFailedPrecondition)
		}
		spec = *cur.PreviousSpec
	} else {
		if err := validateServiceSpec(&spec); err != nil {
			return swarm.ServiceUpdateResponse{}, err
		}
		if spec.Name != cur.Spec.Name {
			return swarm.ServiceUpdateResponse{}, fmt.Errorf("renaming services is not supported: %w", errdefs.ErrInvalidArgument)
		}
		withServiceDefaults(&spec)
		if err := resolveFileRefs(ctx, st, &spec); err != nil {
			return swarm.ServiceUpdateResponse{}, err
		}
	}
	all, err := st.Services().List(ctx)
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	ports, err := allocatePorts(all, cur.ID, keepPublished(cur, spec.EndpointSpec))
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	next := *cur
	if version != 0 {
		next.Version.Index = version
	}
	prev := cur.Spec
	next.PreviousSpec = &prev
	next.Spec = spec
	next.Endpoint = swarm.Endpoint{Ports: ports, VirtualIPs: cur.Endpoint.VirtualIPs}
	if spec.EndpointSpec != nil {
		next.Endpoint.Spec = *spec.EndpointSpec
	}
	now := time.Now().UTC()
	next.UpdatedAt = now
	next.UpdateStatus = nil
	if rollback {
		next.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
	}
	cred, err := st.ServiceAuths().Get(ctx, cur.ID)
	hadCred := err == nil
	if errdefs.IsNotFound(err) {
		cred, err = &store.ServiceAuth{ID: cur.ID}, nil
	}
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	nextCred := store.ServiceAuth{ID: cur.ID, Meta: cred.Meta, PreviousRegistryAuth: cred.RegistryAuth}
	switch {
	case rollback:
		nextCred.RegistryAuth = cred.PreviousRegistryAuth
	case auth.Encoded != "":
		nextCred.RegistryAuth = auth.Encoded
	case auth.From == swarm.RegistryAuthFromPreviousSpec:
		if cur.PreviousSpec == nil {
			return swarm.ServiceUpdateResponse{}, fmt.Errorf("service %s does not have a previous spec: %w", cur.Spec.Name, errdefs.ErrFailedPrecondition)
		}
		nextCred.RegistryAuth = cred.PreviousRegistryAuth
	case auth.From == "" || auth.From == swarm.RegistryAuthFromSpec:
		nextCred.RegistryAuth = cred.RegistryAuth
	default:
		return swarm.ServiceUpdateResponse{}, fmt.Errorf("unsupported registryAuthFrom value %q: %w", auth.From, errdefs.ErrInvalidArgument)
	}
	up, err := st.Services().UpdateOp(&next)
	if err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	ops := []store.Op{up}
	if nextCred.RegistryAuth != "" || nextCred.PreviousRegistryAuth != "" {
		put, err := st.ServiceAuths().PutOp(&nextCred)
		if err != nil {
			return swarm.ServiceUpdateResponse{}, err
		}
		ops = append(ops, put)
	} else if hadCred {
		ops = append(ops, st.ServiceAuths().RemoveOp(cur.ID))
	}
	if err := st.Commit(ctx, ops...); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	return swarm.ServiceUpdateResponse{Warnings: []string{}}, nil
}

// keepPublished keeps the ports a service was given when its new spec asks
// for the same target without a published port (docker does).
func keepPublished(cur *swarm.Service, ep *swarm.EndpointSpec) *swarm.EndpointSpec {
	if ep == nil {
		return nil
	}
	out := *ep
	out.Ports = append([]swarm.PortConfig(nil), ep.Ports...)
	for i, p := range out.Ports {
		if p.PublishedPort != 0 {
			continue
		}
		for _, q := range cur.Endpoint.Ports {
			if q.TargetPort == p.TargetPort && q.Protocol == p.Protocol {
				out.Ports[i].PublishedPort = q.PublishedPort
			}
		}
	}
	return &out
}

// ServiceRemove implements DELETE /services/{id}; the controller stops and
// forgets its tasks.
func (e *Engine) ServiceRemove(ctx context.Context, ref string) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	s, err := findService(ctx, st, ref)
	if err != nil {
		return err
	}
	ops := []store.Op{st.Services().DeleteOp(s.ID, 0)}
	if _, err := st.ServiceAuths().Get(ctx, s.ID); err == nil {
		ops = append(ops, st.ServiceAuths().RemoveOp(s.ID))
	}
	return st.Commit(ctx, ops...)
}

// ServiceList implements GET /services; with status, each service carries
// its running and desired task counts.
func (e *Engine) ServiceList(ctx context.Context, filters Filters, status bool) ([]swarm.Service, error) {
	if err := validateFilters(filters, "id", "name", "label", "mode"); err != nil {
		return nil, err
	}
	st, err := e.clusterStore()
	if err != nil {
		return nil, err
	}
	all, err := st.Services().List(ctx)
	if err != nil {
		return nil, err
	}
	var tasks []*swarm.Task
	var nodes []*swarm.Node
	if status {
		if tasks, err = st.Tasks().List(ctx); err != nil {
			return nil, err
		}
		if nodes, err = st.Nodes().List(ctx); err != nil {
			return nil, err
		}
	}
	out := []swarm.Service{}
	for _, s := range all {
		if !matchService(s, filters) {
			continue
		}
		if status {
			s.ServiceStatus = serviceStatus(s, tasks, nodes)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

func matchService(s *swarm.Service, f Filters) bool {
	return matchAny(f["id"], func(v string) bool { return strings.HasPrefix(s.ID, v) }) &&
		matchAny(f["name"], func(v string) bool { return strings.HasPrefix(s.Spec.Name, v) }) &&
		matchAny(f["mode"], func(v string) bool {
			return (v == "global" && s.Spec.Mode.Global != nil) || (v == "replicated" && s.Spec.Mode.Replicated != nil)
		}) &&
		matchAny(f["label"], func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := s.Spec.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

func serviceStatus(s *swarm.Service, tasks []*swarm.Task, nodes []*swarm.Node) *swarm.ServiceStatus {
	st := &swarm.ServiceStatus{}
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		st.DesiredTasks = *r.Replicas
	}
	for _, t := range tasks {
		if t.ServiceID != s.ID || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if s.Spec.Mode.Global != nil {
			st.DesiredTasks++
		}
		if t.Status.State == swarm.TaskStateRunning {
			st.RunningTasks++
		}
	}
	return st
}

// TaskList implements GET /tasks.
func (e *Engine) TaskList(ctx context.Context, filters Filters) ([]swarm.Task, error) {
	if err := validateFilters(filters, "id", "name", "service", "node", "label", "desired-state", "_up-to-date"); err != nil {
		return nil, err
	}
	st, err := e.clusterStore()
	if err != nil {
		return nil, err
	}
	tasks, err := st.Tasks().List(ctx)
	if err != nil {
		return nil, err
	}
	services, err := st.Services().List(ctx)
	if err != nil {
		return nil, err
	}
	svcName := map[string]string{}
	for _, s := range services {
		svcName[s.ID] = s.Spec.Name
	}
	self := e.cluster.NodeID()
	out := []swarm.Task{}
	for _, t := range tasks {
		name := taskName(svcName[t.ServiceID], t)
		ok := matchAny(filters["id"], func(v string) bool { return strings.HasPrefix(t.ID, v) }) &&
			matchAny(filters["name"], func(v string) bool { return strings.HasPrefix(name, v) }) &&
			matchAny(filters["service"], func(v string) bool {
				return t.ServiceID == v || svcName[t.ServiceID] == v || (len(v) >= 3 && strings.HasPrefix(t.ServiceID, v))
			}) &&
			matchAny(filters["node"], func(v string) bool { return t.NodeID == v || (v == "self" && t.NodeID == self) }) &&
			matchAny(filters["desired-state"], func(v string) bool {
				switch v {
				case "running":
					return t.DesiredState == swarm.TaskStateRunning
				case "shutdown":
					return t.DesiredState == swarm.TaskStateShutdown || t.DesiredState == swarm.TaskStateRemove
				case "accepted":
					return t.DesiredState == swarm.TaskStateAccepted
				}
				return string(t.DesiredState) == v
			}) &&
			matchAny(filters["label"], func(v string) bool {
				k, val, hasVal := strings.Cut(v, "=")
				got, ok := t.Spec.ContainerSpec.Labels[k]
				return ok && (!hasVal || got == val)
			})
		if ok {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ServiceID != out[j].ServiceID {
			return svcName[out[i].ServiceID] < svcName[out[j].ServiceID]
		}
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].CreatedAt.After(out[j].CreatedAt)
	})
	return out, nil
}

func taskName(service string, t *swarm.Task) string {
	if t.Slot != 0 {
		return fmt.Sprintf("%s.%d.%s", service, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", service, t.NodeID, t.ID)
}

// TaskInspect implements GET /tasks/{id}.
func (e *Engine) TaskInspect(ctx context.Context, id string) (swarm.Task, error) {
	st, err := e.clusterStore()
	if err != nil {
		return swarm.Task{}, err
	}
	t, err := st.Tasks().Get(ctx, id)
	if err == nil {
		return *t, nil
	}
	tasks, lerr := st.Tasks().List(ctx)
	if lerr != nil {
		return swarm.Task{}, lerr
	}
	for _, t := range tasks {
		if strings.HasPrefix(t.ID, id) {
			return *t, nil
		}
	}
	return swarm.Task{}, fmt.Errorf("task %s not found: %w", id, errdefs.ErrNotFound)
}

// ServiceLogs implements GET /services/{id}/logs: the logs of the
// service's task containers on this node, each line led by the details the
// docker CLI parses for its "web.1.abc@node |" prefix.
func (e *Engine) ServiceLogs(ctx context.Context, ref string, opts LogsOptions, stdout, stderr io.Writer) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	var tasks []*swarm.Task
	if s, serr := findService(ctx, st, ref); serr == nil {
		all, err := st.Tasks().List(ctx)
		if err != nil {
			return err
		}
		for _, t := range all {
			if t.ServiceID == s.ID {
				tasks = append(tasks, t)
			}
		}
	} else if t, terr := e.TaskInspect(ctx, ref); terr == nil {
		tasks = append(tasks, &t)
	} else {
		return serr
	}
	containers, err := taskRuntime{e}.TaskContainers(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // one line at a time on the shared stream
	errs := make(chan error, len(tasks))
	for _, t := range tasks {
		cid, ok := containers[t.ID]
		if !ok {
			continue
		}
		details := fmt.Sprintf("com.docker.swarm.node.id=%s,com.docker.swarm.service.id=%s,com.docker.swarm.task.id=%s", t.NodeID, t.ServiceID, t.ID)
		out := &detailsWriter{w: stdout, mu: &mu, details: details, timestamps: opts.Timestamps}
		errw := &detailsWriter{w: stderr, mu: &mu, details: details, timestamps: opts.Timestamps}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.ContainerLogs(ctx, cid, opts, out, errw); err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// detailsWriter puts "details " before each log line (after its timestamp).
type detailsWriter struct {
	w          io.Writer
	mu         *sync.Mutex
	details    string
	timestamps bool
}

func (d *detailsWriter) Write(p []byte) (int, error) {
	line := p
	var ts []byte
	if d.timestamps {
		if i := bytes.IndexByte(line, ' '); i >= 0 {
			ts, line = line[:i+1], line[i+1:]
		}
	}
	buf := make([]byte, 0, len(ts)+len(d.details)+1+len(line))
	buf = append(append(append(append(buf, ts...), d.details...), ' '), line...)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// resolveFileRefs fills the IDs of secrets and configs a spec names only
// by name (docker stack deploy sends names), and checks they exist.
func resolveFileRefs(ctx context.Context, st *store.Store, spec *swarm.ServiceSpec) error {
	cs := spec.TaskTemplate.ContainerSpec
	for _, r := range cs.Secrets {
		if r == nil {
			continue
		}
		ref := r.SecretID
		if ref == "" {
			ref = r.SecretName
		}
		s, err := secretKind.find(ctx, st, ref)
		if err != nil {
			return fmt.Errorf("secret not found: %s: %w", ref, errdefs.ErrInvalidArgument)
		}
		r.SecretID, r.SecretName = s.ID, s.Spec.Name
		if err := checkFileOwner("secret", r.SecretName, (*swarm.SecretReferenceFileTarget)(r.File)); err != nil {
			return err
		}
	}
	for _, r := range cs.Configs {
		if r == nil {
			continue
		}
		ref := r.ConfigID
		if ref == "" {
			ref = r.ConfigName
		}
		c, err := configKind.find(ctx, st, ref)
		if err != nil {
			return fmt.Errorf("config not found: %s: %w", ref, errdefs.ErrInvalidArgument)
		}
		r.ConfigID, r.ConfigName = c.ID, c.Spec.Name
		if err := checkFileOwner("config", r.ConfigName, (*swarm.SecretReferenceFileTarget)(r.File)); err != nil {
			return err
		}
	}
	return nil
}

// checkFileOwner refuses at create what the agent would refuse when it
// starts the task: a file owner that is not a numeric id.
func checkFileOwner(kind, name string, f *swarm.SecretReferenceFileTarget) error {
	if f == nil {
		return nil
	}
	for _, id := range []string{f.UID, f.GID} {
		if _, err := agent.FileOwner(id); err != nil {
			return fmt.Errorf("%s %s: file owner: %w", kind, name, err)
		}
	}
	return nil
}
