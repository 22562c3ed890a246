package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
	"wharf.io/wharf/cli/opts"
)

// serviceAPI is the part of the SDK the service and stack commands use,
// asserted from the client like swarmAPI.
type serviceAPI interface {
	swarmAPI
	ServiceCreate(ctx context.Context, options client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceInspect(ctx context.Context, serviceID string, options client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	ServiceUpdate(ctx context.Context, serviceID string, options client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, serviceID string, options client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	ServiceLogs(ctx context.Context, serviceID string, options client.ServiceLogsOptions) (client.ServiceLogsResult, error)
	NetworkCreate(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkRemove(ctx context.Context, network string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
}

func (c *CLI) serviceClient() (serviceAPI, error) {
	api, err := c.Client()
	if err != nil {
		return nil, err
	}
	sa, ok := api.(serviceAPI)
	if !ok {
		return nil, fmt.Errorf("this client does not support swarm services")
	}
	return sa, nil
}

func newServiceCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Manage Swarm services",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newServiceCreateCommand(c), newServiceLsCommand(c), newServicePsCommand(c),
		newServiceInspectCommand(c), newServiceLogsCommand(c), newServiceScaleCommand(c),
		newServiceUpdateCommand(c), newServiceRollbackCommand(c), newServiceRmCommand(c))
	return cmd
}

// serviceFlags are the spec options shared by create and update.
type serviceFlags struct {
	Replicas                         opts.OptionalInt
	Mode                             string
	Publish                          []string
	LimitCPU, LimitMemory            string
	ReserveCPU, ReserveMemory        string
	RestartCondition                 string
	RestartDelay, RestartWindow      string
	RestartMaxAttempts               opts.OptionalInt
	UpdateParallelism                opts.OptionalInt
	UpdateDelay                      string
	UpdateOrder, UpdateFailureAction string
	Env, Labels, ContainerLabels     []string
	Networks, Constraints, Mounts    []string
	Hostname, Workdir, User          string
	Entrypoint                       string
	HealthCmd                        string
	HealthInterval                   time.Duration
	HealthRetries                    int
	Detach, Quiet                    bool
}

func (o *serviceFlags) register(cmd *cobra.Command, create bool) {
	f := cmd.Flags()
	f.Var(&o.Replicas, "replicas", "Number of tasks")
	f.StringVar(&o.LimitCPU, "limit-cpu", "", "Limit CPUs")
	f.StringVar(&o.LimitMemory, "limit-memory", "", "Limit Memory")
	f.StringVar(&o.ReserveCPU, "reserve-cpu", "", "Reserve CPUs")
	f.StringVar(&o.ReserveMemory, "reserve-memory", "", "Reserve Memory")
	f.StringVar(&o.RestartCondition, "restart-condition", "", `Restart when condition is met ("none", "on-failure", "any")`)
	f.StringVar(&o.RestartDelay, "restart-delay", "", "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.StringVar(&o.RestartWindow, "restart-window", "", "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	f.Var(&o.RestartMaxAttempts, "restart-max-attempts", "Maximum number of restarts before giving up")
	f.Var(&o.UpdateParallelism, "update-parallelism", "Maximum number of tasks updated simultaneously (0 to update all at once)")
	f.StringVar(&o.UpdateDelay, "update-delay", "", "Delay between updates (ns|us|ms|s|m|h)")
	f.StringVar(&o.UpdateOrder, "update-order", "", `Update order ("start-first", "stop-first")`)
	f.StringVar(&o.UpdateFailureAction, "update-failure-action", "", `Action on update failure ("pause", "continue", "rollback")`)
	f.BoolVarP(&o.Detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress progress output")
	if create {
		f.StringVar(&o.Mode, "mode", "replicated", `Service mode ("replicated", "global")`)
		f.StringSliceVarP(&o.Publish, "publish", "p", nil, "Publish a port as a node port")
		f.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
		f.StringArrayVarP(&o.Labels, "label", "l", nil, "Service labels")
		f.StringArrayVar(&o.ContainerLabels, "container-label", nil, "Container labels")
		f.StringArrayVar(&o.Networks, "network", nil, "Network attachments")
		f.StringArrayVar(&o.Constraints, "constraint", nil, "Placement constraints")
		f.StringArrayVar(&o.Mounts, "mount", nil, "Attach a filesystem mount to the service")
		f.StringVar(&o.Hostname, "hostname", "", "Container hostname")
		f.StringVarP(&o.Workdir, "workdir", "w", "", "Working directory inside the container")
		f.StringVarP(&o.User, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
		f.StringVar(&o.Entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
		f.StringVar(&o.HealthCmd, "health-cmd", "", "Command to run to check health")
		f.DurationVar(&o.HealthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h)")
		f.IntVar(&o.HealthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	}
}

// apply writes the flags that were set into spec.
func (o *serviceFlags) apply(cmd *cobra.Command, spec *swarm.ServiceSpec) error {
	set := cmd.Flags().Changed
	ts := &spec.TaskTemplate
	if ts.ContainerSpec == nil {
		ts.ContainerSpec = &swarm.ContainerSpec{}
	}
	cs := ts.ContainerSpec
	if set("mode") {
		switch o.Mode {
		case "replicated":
			spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}
		case "global":
			if o.Replicas.IsSet {
				return fmt.Errorf("replicas can only be used with replicated mode")
			}
			spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
		default:
			return fmt.Errorf("invalid mode %q: must be replicated or global", o.Mode)
		}
	}
	if o.Replicas.IsSet {
		if spec.Mode.Replicated == nil {
			return fmt.Errorf("replicas can only be used with replicated mode")
		}
		n := uint64(o.Replicas.Value)
		spec.Mode.Replicated.Replicas = &n
	}
	for _, p := range o.Publish {
		pc, err := parsePublish(p)
		if err != nil {
			return err
		}
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &swarm.EndpointSpec{}
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, pc...)
	}
	res := func() *swarm.ResourceRequirements {
		if ts.Resources == nil {
			ts.Resources = &swarm.ResourceRequirements{}
		}
		return ts.Resources
	}
	if set("limit-cpu") || set("limit-memory") {
		r := res()
		if r.Limits == nil {
			r.Limits = &swarm.Limit{}
		}
		if set("limit-cpu") {
			n, err := parseNanoCPUs(o.LimitCPU)
			if err != nil {
				return err
			}
			r.Limits.NanoCPUs = n
		}
		if set("limit-memory") {
			n, err := units.RAMInBytes(o.LimitMemory)
			if err != nil {
				return fmt.Errorf("invalid argument %q for \"--limit-memory\" flag: %w", o.LimitMemory, err)
			}
			r.Limits.MemoryBytes = n
		}
	}
	if set("reserve-cpu") || set("reserve-memory") {
		r := res()
		if r.Reservations == nil {
			r.Reservations = &swarm.Resources{}
		}
		if set("reserve-cpu") {
			n, err := parseNanoCPUs(o.ReserveCPU)
			if err != nil {
				return err
			}
			r.Reservations.NanoCPUs = n
		}
		if set("reserve-memory") {
			n, err := units.RAMInBytes(o.ReserveMemory)
			if err != nil {
				return fmt.Errorf("invalid argument %q for \"--reserve-memory\" flag: %w", o.ReserveMemory, err)
			}
			r.Reservations.MemoryBytes = n
		}
	}
	if set("restart-condition") || set("restart-delay") || set("restart-window") || set("restart-max-attempts") {
		if ts.RestartPolicy == nil {
			ts.RestartPolicy = &swarm.RestartPolicy{}
		}
		rp := ts.RestartPolicy
		if set("restart-condition") {
			switch c := swarm.RestartPolicyCondition(o.RestartCondition); c {
			case swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionAny:
				rp.Condition = c
			default:
				return fmt.Errorf("invalid restart condition %q", o.RestartCondition)
			}
		}
		for flag, dst := range map[string]**time.Duration{"restart-delay": &rp.Delay, "restart-window": &rp.Window} {
			if set(flag) {
				v := o.RestartDelay
				if flag == "restart-window" {
					v = o.RestartWindow
				}
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("invalid argument %q for \"--%s\" flag: %w", v, flag, err)
				}
				*dst = &d
			}
		}
		if set("restart-max-attempts") {
			n := uint64(o.RestartMaxAttempts.Value)
			rp.MaxAttempts = &n
		}
	}
	if set("update-parallelism") || set("update-delay") || set("update-order") || set("update-failure-action") {
		if spec.UpdateConfig == nil {
			spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
		}
		uc := spec.UpdateConfig
		if set("update-parallelism") {
			uc.Parallelism = uint64(o.UpdateParallelism.Value)
		}
		if set("update-delay") {
			d, err := time.ParseDuration(o.UpdateDelay)
			if err != nil {
				return fmt.Errorf("invalid argument %q for \"--update-delay\" flag: %w", o.UpdateDelay, err)
			}
			uc.Delay = d
		}
		if set("update-order") {
			uc.Order = swarm.UpdateOrder(o.UpdateOrder)
		}
		if set("update-failure-action") {
			uc.FailureAction = swarm.FailureAction(o.UpdateFailureAction)
		}
	}
	cs.Env = append(cs.Env, o.Env...)
	if len(o.Labels) > 0 {
		labels, err := opts.ParseLabels(o.Labels)
		if err != nil {
			return err
		}
		spec.Labels = labels
	}
	if len(o.ContainerLabels) > 0 {
		labels, err := opts.ParseLabels(o.ContainerLabels)
		if err != nil {
			return err
		}
		cs.Labels = labels
	}
	for _, n := range o.Networks {
		ts.Networks = append(ts.Networks, swarm.NetworkAttachmentConfig{Target: n})
	}
	if len(o.Constraints) > 0 {
		ts.Placement = &swarm.Placement{Constraints: o.Constraints}
	}
	for _, m := range o.Mounts {
		mt, err := opts.ParseMount(m)
		if err != nil {
			return err
		}
		cs.Mounts = append(cs.Mounts, mt)
	}
	if set("hostname") {
		cs.Hostname = o.Hostname
	}
	if set("workdir") {
		cs.Dir = o.Workdir
	}
	if set("user") {
		cs.User = o.User
	}
	if set("entrypoint") {
		cs.Command = strings.Fields(o.Entrypoint)
	}
	if o.HealthCmd != "" {
		cs.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", o.HealthCmd}, Interval: o.HealthInterval, Retries: o.HealthRetries}
	}
	return nil
}

func parseNanoCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid CPU value %q", s)
	}
	return int64(f * 1e9), nil
}

// parsePublish reads -p: "8080:80", "8080:80/udp", "80" (a port the swarm
// picks), or "published=8080,target=80,protocol=udp,mode=host".
func parsePublish(s string) ([]swarm.PortConfig, error) {
	bad := fmt.Errorf("invalid publish option %q", s)
	pc := swarm.PortConfig{Protocol: network.TCP, PublishMode: swarm.PortConfigPublishModeIngress}
	if strings.Contains(s, "=") {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, bad
			}
			switch strings.ToLower(k) {
			case "published":
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil {
					return nil, bad
				}
				pc.PublishedPort = uint32(n)
			case "target":
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil || n == 0 {
					return nil, bad
				}
				pc.TargetPort = uint32(n)
			case "protocol":
				if v != "tcp" && v != "udp" {
					return nil, bad
				}
				pc.Protocol = network.IPProtocol(v)
			case "mode":
				if v != "ingress" && v != "host" {
					return nil, bad
				}
				pc.PublishMode = swarm.PortConfigPublishMode(v)
			default:
				return nil, bad
			}
		}
		if pc.TargetPort == 0 {
			return nil, fmt.Errorf("invalid publish option %q: missing target port", s)
		}
		return []swarm.PortConfig{pc}, nil
	}
	spec, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return nil, bad
		}
		pc.Protocol = network.IPProtocol(proto)
	}
	pub, target, hasPub := strings.Cut(spec, ":")
	if !hasPub {
		target, pub = pub, ""
	}
	t, err := strconv.ParseUint(target, 10, 16)
	if err != nil || t == 0 {
		return nil, bad
	}
	pc.TargetPort = uint32(t)
	if pub != "" {
		p, err := strconv.ParseUint(pub, 10, 16)
		if err != nil || p == 0 {
			return nil, bad
		}
		pc.PublishedPort = uint32(p)
	}
	return []swarm.PortConfig{pc}, nil
}

func newServiceCreateCommand(c *CLI) *cobra.Command {
	var o serviceFlags
	o.Mode = "replicated"
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new service",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			name, _ := cmd.Flags().GetString("name")
			spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name},
				Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: args[0], Args: args[1:]}}}
			if err := cmd.Flags().Set("mode", o.Mode); err != nil {
				return err
			}
			if err := o.apply(cmd, &spec); err != nil {
				return err
			}
			res, err := api.ServiceCreate(cmd.Context(), client.ServiceCreateOptions{Spec: spec})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			fmt.Fprintln(c.Out, res.ID)
			if o.Detach {
				return nil
			}
			return waitConverged(cmd.Context(), c, api, res.ID, o.Quiet)
		},
	}
	cmd.Flags().String("name", "", "Service name")
	o.register(cmd, true)
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// waitConverged follows a service until every task it wants runs, as the
// docker CLI does without --detach, and fails with a task's error when
// one fails instead.
func waitConverged(ctx context.Context, c *CLI, api serviceAPI, id string, quiet bool) error {
	out := c.Out
	if quiet {
		out = io.Discard
	}
	last := ""
	deadline := time.Now().Add(5 * time.Minute)
	for {
		svc, err := api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		f := client.Filters{}
		f.Add("service", svc.Service.ID)
		f.Add("desired-state", "running")
		tasks, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
		if err != nil {
			return err
		}
		running := 0
		var failure string
		for _, t := range tasks.Items {
			if t.Status.State == swarm.TaskStateRunning {
				running++
			}
			if t.Status.Err != "" && (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected || t.Status.State == swarm.TaskStatePending) {
				failure = t.Status.Err
			}
		}
		want := len(tasks.Items)
		if r := svc.Service.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			want = int(*r.Replicas)
		}
		line := fmt.Sprintf("overall progress: %d out of %d tasks", running, want)
		if line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		if running == want {
			fmt.Fprintln(out, "verify: Service converged")
			return nil
		}
		if failure != "" && time.Now().After(deadline.Add(-4*time.Minute)) {
			return fmt.Errorf("%s: %s", svc.Service.Spec.Name, failure)
		}
		if time.Now().After(deadline) {
			return errors.New("service did not converge within 5 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serviceRow is what a `service ls --format` template sees.
type serviceRow struct{ s swarm.Service }

func (r serviceRow) ID() string   { return format.TruncateID(r.s.ID) }
func (r serviceRow) Name() string { return r.s.Spec.Name }
func (r serviceRow) Mode() string {
	if r.s.Spec.Mode.Global != nil {
		return "global"
	}
	return "replicated"
}
func (r serviceRow) Replicas() string {
	st := r.s.ServiceStatus
	if st == nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", st.RunningTasks, st.DesiredTasks)
}
func (r serviceRow) Image() string {
	if cs := r.s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		img, _, _ := strings.Cut(cs.Image, "@")
		return img
	}
	return ""
}
func (r serviceRow) Ports() string {
	var out []string
	for _, p := range r.s.Endpoint.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeIngress && p.PublishedPort != 0 {
			out = append(out, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
		}
	}
	return strings.Join(out, ", ")
}

const defaultServiceTable = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"

var serviceHeader = map[string]string{"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS"}

func listServices(ctx context.Context, api serviceAPI, f client.Filters) ([]swarm.Service, error) {
	res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: f, Status: true})
	if err != nil {
		return nil, err
	}
	sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Spec.Name < res.Items[j].Spec.Name })
	return res.Items, nil
}

func newServiceLsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List services",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			services, err := listServices(cmd.Context(), api, o.Filter.f)
			if err != nil {
				return err
			}
			return writeServices(c, services, o.Format, o.Quiet)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func writeServices(c *CLI, services []swarm.Service, tmpl string, quiet bool) error {
	rows := make([]any, 0, len(services))
	for _, s := range services {
		rows = append(rows, serviceRow{s})
	}
	if quiet {
		tmpl = "{{.ID}}"
	}
	return format.Context{Output: c.Out, Format: tmpl}.Write(defaultServiceTable, serviceHeader, rows)
}

// writeTasks prints tasks as `service ps` does, newest first per slot,
// with the history rows marked "\_".
func writeTasks(ctx context.Context, c *CLI, api serviceAPI, f client.Filters, tmpl string, quiet, noTrunc bool) error {
	res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return err
	}
	services, err := listServices(ctx, api, client.Filters{})
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, s := range services {
		names[s.ID] = s.Spec.Name
	}
	nodes := map[string]string{}
	if nl, err := api.NodeList(ctx, client.NodeListOptions{}); err == nil {
		for _, n := range nl.Items {
			nodes[n.ID] = n.Description.Hostname
		}
	}
	tasks := res.Items
	sort.SliceStable(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if names[a.ServiceID] != names[b.ServiceID] {
			return names[a.ServiceID] < names[b.ServiceID]
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.Meta.CreatedAt.After(b.Meta.CreatedAt)
	})
	rows := make([]any, 0, len(tasks))
	prev := ""
	for _, t := range tasks {
		row := taskRow{t: t, node: nodes[t.NodeID], noTrunc: noTrunc, services: names}
		place := fmt.Sprintf("%s/%d/%s", t.ServiceID, t.Slot, t.NodeID)
		if t.Slot == 0 {
			place = t.ServiceID + "/" + t.NodeID
		}
		if place == prev {
			row.history = true
		}
		prev = place
		rows = append(rows, row)
	}
	if quiet {
		tmpl = "{{.ID}}"
	}
	return format.Context{Output: c.Out, Format: tmpl}.Write(defaultTaskTable, taskHeader, rows)
}

func newServicePsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet, NoTrunc bool
		Format         string
		Filter         filterFlag
	}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] SERVICE [SERVICE...]",
		Short: "List the tasks of one or more services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			f := client.Filters{}
			for k, vs := range o.Filter.f {
				for v := range vs {
					f.Add(k, v)
				}
			}
			for _, ref := range args {
				s, err := api.ServiceInspect(cmd.Context(), ref, client.ServiceInspectOptions{})
				if err != nil {
					return err
				}
				f.Add("service", s.Service.ID)
			}
			return writeTasks(cmd.Context(), c, api, f, o.Format, o.Quiet, o.NoTrunc)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display task IDs")
	fl.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	fl.StringVar(&o.Format, "format", "", "Pretty-print tasks using a Go template")
	fl.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func newServiceInspectCommand(c *CLI) *cobra.Command {
	var o struct {
		Format string
		Pretty bool
	}
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] SERVICE [SERVICE...]",
		Short: "Display detailed information on one or more services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			if o.Pretty {
				for _, ref := range args {
					s, err := api.ServiceInspect(cmd.Context(), ref, client.ServiceInspectOptions{})
					if err != nil {
						return err
					}
					prettyService(c.Out, s.Service)
				}
				return nil
			}
			return runInspect(cmd.Context(), c, args, o.Format, func(ctx context.Context, _ APIClient, ref string) (inspected, error) {
				s, err := api.ServiceInspect(ctx, ref, client.ServiceInspectOptions{})
				if err != nil {
					return inspected{}, err
				}
				return inspected{value: s.Service, raw: s.Raw}, nil
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVar(&o.Pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

// prettyService is `service inspect --pretty`.
func prettyService(w io.Writer, s swarm.Service) {
	r := serviceRow{s}
	fmt.Fprintf(w, "\nID:\t\t%s\nName:\t\t%s\n", s.ID, s.Spec.Name)
	if len(s.Spec.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for k, v := range s.Spec.Labels {
			fmt.Fprintf(w, " %s=%s\n", k, v)
		}
	}
	fmt.Fprintf(w, "Service Mode:\t%s\n", capitalize(r.Mode()))
	if rep := s.Spec.Mode.Replicated; rep != nil && rep.Replicas != nil {
		fmt.Fprintf(w, " Replicas:\t%d\n", *rep.Replicas)
	}
	if rp := s.Spec.TaskTemplate.RestartPolicy; rp != nil {
		fmt.Fprintf(w, "RestartPolicy:\n Condition:\t%s\n", rp.Condition)
	}
	fmt.Fprintf(w, "ContainerSpec:\n Image:\t\t%s\n", r.Image())
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil && len(cs.Args) > 0 {
		fmt.Fprintf(w, " Args:\t\t%s\n", strings.Join(cs.Args, " "))
	}
	if res := s.Spec.TaskTemplate.Resources; res != nil && res.Limits != nil {
		fmt.Fprintln(w, "Resources:\n Limits:")
		if res.Limits.NanoCPUs != 0 {
			fmt.Fprintf(w, "  CPU:\t\t%g\n", float64(res.Limits.NanoCPUs)/1e9)
		}
		if res.Limits.MemoryBytes != 0 {
			fmt.Fprintf(w, "  Memory:\t%s\n", units.BytesSize(float64(res.Limits.MemoryBytes)))
		}
	}
	for _, n := range s.Spec.TaskTemplate.Networks {
		fmt.Fprintf(w, "Networks:\t%s\n", n.Target)
	}
	if len(s.Endpoint.Ports) > 0 {
		fmt.Fprintln(w, "Ports:")
		for _, p := range s.Endpoint.Ports {
			fmt.Fprintf(w, " PublishedPort = %d\n  Protocol = %s\n  TargetPort = %d\n  PublishMode = %s\n", p.PublishedPort, p.Protocol, p.TargetPort, p.PublishMode)
		}
	}
	fmt.Fprintln(w)
}

func newServiceLogsCommand(c *CLI) *cobra.Command {
	var o struct {
		Follow, Timestamps bool
		Tail               string
	}
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Fetch the logs of a service or task",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
			if err != nil {
				return err
			}
			rc, err := api.ServiceLogs(ctx, s.Service.ID, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true,
				Follow: o.Follow, Timestamps: o.Timestamps, Tail: o.Tail, Details: true})
			if err != nil {
				return err
			}
			defer rc.Close()
			pw := &taskPrefixWriter{service: s.Service.Spec.Name, api: api, ctx: ctx}
			return copyOutput(rc, false, &lineWriter{w: c.Out, fn: pw.prefix}, &lineWriter{w: c.Err, fn: pw.prefix})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	f.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

// lineWriter hands complete lines to fn and writes what it returns.
type lineWriter struct {
	w   io.Writer
	fn  func(string) string
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if _, err := io.WriteString(l.w, l.fn(line)+"\n"); err != nil {
			return 0, err
		}
	}
}

// taskPrefixWriter turns the daemon's log details into docker's
// "web.1.abcdef123456@node    | " prefix.
type taskPrefixWriter struct {
	service string
	api     serviceAPI
	ctx     context.Context
	names   map[string]string // task ID → prefix
}

func (p *taskPrefixWriter) prefix(line string) string {
	details, msg, ok := strings.Cut(line, " ")
	if !ok || !strings.Contains(details, "com.docker.swarm.task.id=") {
		return line
	}
	var taskID, nodeID string
	for _, kv := range strings.Split(details, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "com.docker.swarm.task.id":
			taskID = v
		case "com.docker.swarm.node.id":
			nodeID = v
		}
	}
	if p.names == nil {
		p.names = map[string]string{}
		hosts := map[string]string{}
		if nl, err := p.api.NodeList(p.ctx, client.NodeListOptions{}); err == nil {
			for _, n := range nl.Items {
				hosts[n.ID] = n.Description.Hostname
			}
		}
		if tl, err := p.api.TaskList(p.ctx, client.TaskListOptions{}); err == nil {
			for _, t := range tl.Items {
				place := t.NodeID
				if t.Slot != 0 {
					place = strconv.Itoa(t.Slot)
				}
				p.names[t.ID] = fmt.Sprintf("%s.%s.%s@%s", p.service, place, format.TruncateID(t.ID), hosts[t.NodeID])
			}
		}
	}
	name := p.names[taskID]
	if name == "" {
		name = p.service + "." + format.TruncateID(taskID) + "@" + nodeID
	}
	return fmt.Sprintf("%-40s| %s", name+"    ", msg)
}

func newServiceScaleCommand(c *CLI) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
		Short: "Scale one or multiple replicated services",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var errs []string
			var scaled []string
			for _, a := range args {
				name, n, err := parseScale(a)
				if err != nil {
					return err
				}
				err = updateService(ctx, api, name, func(spec *swarm.ServiceSpec) error {
					if spec.Mode.Replicated == nil {
						return fmt.Errorf("scale can only be used with replicated mode")
					}
					spec.Mode.Replicated.Replicas = &n
					return nil
				})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				fmt.Fprintf(c.Out, "%s scaled to %d\n", name, n)
				scaled = append(scaled, name)
			}
			if !detach {
				for _, name := range scaled {
					if err := waitConverged(ctx, c, api, name, false); err != nil {
						errs = append(errs, err.Error())
					}
				}
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	return cmd
}

// parseScale reads SERVICE=REPLICAS.
func parseScale(s string) (string, uint64, error) {
	name, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseUint(v, 10, 64)
	if !ok || name == "" || err != nil {
		return "", 0, fmt.Errorf("invalid scale specifier '%s'.\nSee 'wharf service scale --help'.\n\nUsage:  wharf service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]", s)
	}
	return name, n, nil
}

// updateService reads a service, changes its spec and writes it back.
func updateService(ctx context.Context, api serviceAPI, ref string, mutate func(*swarm.ServiceSpec) error) error {
	s, err := api.ServiceInspect(ctx, ref, client.ServiceInspectOptions{})
	if err != nil {
		return err
	}
	spec := s.Service.Spec
	if err := mutate(&spec); err != nil {
		return err
	}
	_, err = api.ServiceUpdate(ctx, s.Service.ID, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: spec})
	return err
}

func newServiceUpdateCommand(c *CLI) *cobra.Command {
	var o serviceFlags
	var image string
	var envAdd, envRm, pubAdd []string
	var force, rollback bool
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if rollback {
				s, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
				if err != nil {
					return err
				}
				if _, err := api.ServiceUpdate(ctx, s.Service.ID, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: s.Service.Spec, Rollback: "previous"}); err != nil {
					return err
				}
			} else if err := updateService(ctx, api, args[0], func(spec *swarm.ServiceSpec) error {
				if err := o.apply(cmd, spec); err != nil {
					return err
				}
				cs := spec.TaskTemplate.ContainerSpec
				if image != "" {
					cs.Image = image
				}
				for _, k := range envRm {
					cs.Env = removeEnv(cs.Env, k)
				}
				for _, kv := range envAdd {
					k, _, _ := strings.Cut(kv, "=")
					cs.Env = append(removeEnv(cs.Env, k), kv)
				}
				for _, p := range pubAdd {
					pc, err := parsePublish(p)
					if err != nil {
						return err
					}
					if spec.EndpointSpec == nil {
						spec.EndpointSpec = &swarm.EndpointSpec{}
					}
					spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, pc...)
				}
				if force {
					spec.TaskTemplate.ForceUpdate++
				}
				return nil
			}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, args[0])
			if o.Detach {
				return nil
			}
			return waitConverged(ctx, c, api, args[0], o.Quiet)
		},
	}
	o.register(cmd, false)
	f := cmd.Flags()
	f.StringVar(&image, "image", "", "Service image tag")
	f.StringArrayVar(&envAdd, "env-add", nil, "Add or update an environment variable")
	f.StringArrayVar(&envRm, "env-rm", nil, "Remove an environment variable")
	f.StringArrayVar(&pubAdd, "publish-add", nil, "Add or update a published port")
	f.BoolVar(&force, "force", false, "Force update even if no changes require it")
	f.BoolVar(&rollback, "rollback", false, "Rollback to previous specification")
	return cmd
}

func removeEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	return out
}

func newServiceRollbackCommand(c *CLI) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] SERVICE",
		Short: "Revert changes to a service's configuration",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
			if err != nil {
				return err
			}
			if _, err := api.ServiceUpdate(ctx, s.Service.ID, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: s.Service.Spec, Rollback: "previous"}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, args[0])
			if detach {
				return nil
			}
			return waitConverged(ctx, c, api, args[0], false)
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	return cmd
}

func newServiceRmCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "rm SERVICE [SERVICE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more services",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			var errs []string
			for _, ref := range args {
				if _, err := api.ServiceRemove(cmd.Context(), ref, client.ServiceRemoveOptions{}); err != nil {
					errs = append(errs, err.Error())
					continue
				}
				fmt.Fprintln(c.Out, ref)
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
}
