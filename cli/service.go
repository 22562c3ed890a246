package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	return clientAs[serviceAPI](c, "this client does not support swarm services")
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

// serviceFlags are the spec options of create and update; the flags a user
// did not set leave the spec alone, so update changes only what was asked.
type serviceFlags struct {
	Replicas                             opts.OptionalInt
	Mode                                 string
	Publish                              []string
	LimitCPU, LimitMemory                string
	ReserveCPU, ReserveMemory            string
	RestartCondition                     string
	RestartDelay, RestartWindow          time.Duration
	RestartMaxAttempts                   opts.OptionalInt
	Update, Rollback                     updateFlags
	Env, Labels, ContainerLabels         []string
	Networks, Constraints, Mounts, Prefs []string
	Secrets, Configs                     []string
	// RegistryAuth (--with-registry-auth) sends the stored credentials
	// for the image's registry, which the swarm agents pull with.
	RegistryAuth bool
	// NoResolveImage (--no-resolve-image) keeps the image as given
	// instead of pinning it to the registry's digest.
	NoResolveImage                         bool
	Hostname, Workdir, User                string
	Entrypoint                             string
	StopGracePeriod                        time.Duration
	HealthCmd                              string
	HealthInterval, HealthTimeout          time.Duration
	HealthStartPeriod, HealthStartInterval time.Duration
	HealthRetries                          int
	NoHealthcheck                          bool
	Detach, Quiet                          bool
}

// updateFlags are --update-* and --rollback-*.
type updateFlags struct {
	Parallelism          opts.OptionalInt
	Delay, Monitor       time.Duration
	Order, FailureAction string
	MaxFailureRatio      float32
}

func (u *updateFlags) register(f *pflag.FlagSet, prefix, what string) {
	f.Var(&u.Parallelism, prefix+"-parallelism", fmt.Sprintf("Maximum number of tasks %s simultaneously (0 to %s all at once)", what, strings.TrimSuffix(what, "d")))
	f.DurationVar(&u.Delay, prefix+"-delay", 0, fmt.Sprintf("Delay between %ss (ns|us|ms|s|m|h)", prefix))
	f.DurationVar(&u.Monitor, prefix+"-monitor", 0, fmt.Sprintf("Duration after each task %s to monitor for failure (ns|us|ms|s|m|h)", prefix))
	f.StringVar(&u.Order, prefix+"-order", "", fmt.Sprintf(`%s order ("start-first", "stop-first")`, capitalize(prefix)))
	actions := `"pause", "continue", "rollback"`
	if prefix == "rollback" {
		actions = `"pause", "continue"`
	}
	f.StringVar(&u.FailureAction, prefix+"-failure-action", "", fmt.Sprintf("Action on %s failure (%s)", prefix, actions))
	f.Float32Var(&u.MaxFailureRatio, prefix+"-max-failure-ratio", 0, fmt.Sprintf("Failure rate to tolerate during a %s", prefix))
}

// apply writes the --PREFIX-* flags that were set into *dst.
func (u *updateFlags) apply(set func(string) bool, prefix string, dst **swarm.UpdateConfig) error {
	names := []string{"parallelism", "delay", "monitor", "order", "failure-action", "max-failure-ratio"}
	any := false
	for _, n := range names {
		any = any || set(prefix+"-"+n)
	}
	if !any {
		return nil
	}
	if *dst == nil {
		*dst = &swarm.UpdateConfig{Parallelism: 1}
	} else {
		c := **dst
		*dst = &c
	}
	uc := *dst
	if set(prefix + "-parallelism") {
		if u.Parallelism.Value < 0 {
			return fmt.Errorf("invalid argument %q for \"--%s-parallelism\" flag: must not be negative", fmt.Sprint(u.Parallelism.Value), prefix)
		}
		uc.Parallelism = uint64(u.Parallelism.Value)
	}
	if set(prefix + "-delay") {
		uc.Delay = u.Delay
	}
	if set(prefix + "-monitor") {
		uc.Monitor = u.Monitor
	}
	if set(prefix + "-order") {
		switch o := swarm.UpdateOrder(u.Order); o {
		case swarm.UpdateOrderStartFirst, swarm.UpdateOrderStopFirst:
			uc.Order = o
		default:
			return fmt.Errorf("invalid argument %q for \"--%s-order\" flag: must be start-first or stop-first", u.Order, prefix)
		}
	}
	if set(prefix + "-failure-action") {
		switch a := swarm.FailureAction(u.FailureAction); a {
		case swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue:
			uc.FailureAction = a
		case swarm.UpdateFailureActionRollback:
			if prefix == "rollback" {
				return fmt.Errorf("invalid argument %q for \"--rollback-failure-action\" flag: must be pause or continue", u.FailureAction)
			}
			uc.FailureAction = a
		default:
			return fmt.Errorf("invalid argument %q for \"--%s-failure-action\" flag", u.FailureAction, prefix)
		}
	}
	if set(prefix + "-max-failure-ratio") {
		if u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1 {
			return fmt.Errorf("invalid argument for \"--%s-max-failure-ratio\" flag: must be between 0 and 1", prefix)
		}
		uc.MaxFailureRatio = u.MaxFailureRatio
	}
	return nil
}

func (o *serviceFlags) register(cmd *cobra.Command, create bool) {
	f := cmd.Flags()
	f.Var(&o.Replicas, "replicas", "Number of tasks")
	f.StringVar(&o.LimitCPU, "limit-cpu", "", "Limit CPUs")
	f.StringVar(&o.LimitMemory, "limit-memory", "", "Limit Memory")
	f.StringVar(&o.ReserveCPU, "reserve-cpu", "", "Reserve CPUs")
	f.StringVar(&o.ReserveMemory, "reserve-memory", "", "Reserve Memory")
	f.StringVar(&o.RestartCondition, "restart-condition", "", `Restart when condition is met ("none", "on-failure", "any")`)
	f.DurationVar(&o.RestartDelay, "restart-delay", 0, "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.DurationVar(&o.RestartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	f.Var(&o.RestartMaxAttempts, "restart-max-attempts", "Maximum number of restarts before giving up")
	o.Update.register(f, "update", "updated")
	o.Rollback.register(f, "rollback", "rolled back")
	f.StringVar(&o.Hostname, "hostname", "", "Container hostname")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.User, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVar(&o.Entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.DurationVar(&o.StopGracePeriod, "stop-grace-period", 0, "Time to wait before force killing a container (ns|us|ms|s|m|h)")
	f.StringVar(&o.HealthCmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&o.HealthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h)")
	f.DurationVar(&o.HealthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h)")
	f.DurationVar(&o.HealthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)")
	f.DurationVar(&o.HealthStartInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h)")
	f.IntVar(&o.HealthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.BoolVar(&o.NoHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	f.BoolVarP(&o.Detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress progress output")
	f.BoolVar(&o.RegistryAuth, "with-registry-auth", false, "Send registry authentication details to swarm agents")
	f.BoolVar(&o.NoResolveImage, "no-resolve-image", false, "Do not query the registry to resolve image digest and supported platforms")
	if create {
		f.StringVar(&o.Mode, "mode", "replicated", `Service mode ("replicated", "global")`)
		f.StringArrayVarP(&o.Publish, "publish", "p", nil, "Publish a port as a node port")
		f.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
		f.StringArrayVarP(&o.Labels, "label", "l", nil, "Service labels")
		f.StringArrayVar(&o.ContainerLabels, "container-label", nil, "Container labels")
		f.StringArrayVar(&o.Networks, "network", nil, "Network attachments")
		f.StringArrayVar(&o.Constraints, "constraint", nil, "Placement constraints")
		f.StringArrayVar(&o.Prefs, "placement-pref", nil, "Add a placement preference")
		f.StringArrayVar(&o.Mounts, "mount", nil, "Attach a filesystem mount to the service")
		f.StringArrayVar(&o.Secrets, "secret", nil, "Specify secrets to expose to the service")
		f.StringArrayVar(&o.Configs, "config", nil, "Specify configurations to expose to the service")
	}
}

// apply writes the flags that were set into spec.
func (o *serviceFlags) apply(cmd *cobra.Command, spec *swarm.ServiceSpec) error {
	set := cmd.Flags().Changed
	ts := &spec.TaskTemplate
	// spec is a copy whose pointers still share the daemon's answer;
	// what the flags write through them gets its own copy first.
	cs := &swarm.ContainerSpec{}
	if ts.ContainerSpec != nil {
		*cs = *ts.ContainerSpec
	}
	ts.ContainerSpec = cs
	if r := spec.Mode.Replicated; r != nil {
		c := *r
		spec.Mode.Replicated = &c
	}
	if set("mode") {
		switch o.Mode {
		case "replicated":
			if spec.Mode.Replicated == nil {
				spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}
			}
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
		if o.Replicas.Value < 0 {
			return fmt.Errorf("invalid argument \"%d\" for \"--replicas\" flag: must not be negative", o.Replicas.Value)
		}
		n := uint64(o.Replicas.Value)
		spec.Mode.Replicated.Replicas = &n
	}
	if len(o.Publish) > 0 {
		ep := &swarm.EndpointSpec{}
		if spec.EndpointSpec != nil {
			*ep = *spec.EndpointSpec
		}
		ep.Ports = slices.Clone(ep.Ports)
		spec.EndpointSpec = ep
	}
	for _, p := range o.Publish {
		pc, err := parsePublish(p)
		if err != nil {
			return err
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, pc...)
	}
	if err := o.applyResources(set, ts); err != nil {
		return err
	}
	if set("restart-condition") || set("restart-delay") || set("restart-window") || set("restart-max-attempts") {
		rp := &swarm.RestartPolicy{}
		if ts.RestartPolicy != nil {
			*rp = *ts.RestartPolicy
		}
		ts.RestartPolicy = rp
		if set("restart-condition") {
			switch c := swarm.RestartPolicyCondition(o.RestartCondition); c {
			case swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionAny:
				rp.Condition = c
			default:
				return fmt.Errorf("invalid restart condition %q", o.RestartCondition)
			}
		}
		if set("restart-delay") {
			d := o.RestartDelay
			rp.Delay = &d
		}
		if set("restart-window") {
			d := o.RestartWindow
			rp.Window = &d
		}
		if set("restart-max-attempts") {
			if o.RestartMaxAttempts.Value < 0 {
				return fmt.Errorf("invalid argument for \"--restart-max-attempts\" flag: must not be negative")
			}
			n := uint64(o.RestartMaxAttempts.Value)
			rp.MaxAttempts = &n
		}
	}
	if err := o.Update.apply(set, "update", &spec.UpdateConfig); err != nil {
		return err
	}
	if err := o.Rollback.apply(set, "rollback", &spec.RollbackConfig); err != nil {
		return err
	}
	if len(o.Env) > 0 {
		cs.Env = append(slices.Clone(cs.Env), o.Env...)
	}
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
		ts.Networks = append(slices.Clip(ts.Networks), swarm.NetworkAttachmentConfig{Target: n})
	}
	if len(o.Constraints) > 0 || len(o.Prefs) > 0 {
		p := &swarm.Placement{}
		if ts.Placement != nil {
			*p = *ts.Placement
		}
		ts.Placement = p
		p.Preferences = slices.Clip(p.Preferences)
		p.Constraints = append(slices.Clip(p.Constraints), o.Constraints...)
		for _, p := range o.Prefs {
			pp, err := parsePlacementPref(p)
			if err != nil {
				return err
			}
			ts.Placement.Preferences = append(ts.Placement.Preferences, pp)
		}
	}
	for _, m := range o.Mounts {
		mt, err := opts.ParseMount(m)
		if err != nil {
			return err
		}
		cs.Mounts = append(slices.Clip(cs.Mounts), mt)
	}
	for _, s := range o.Secrets {
		r, err := parseSecretRef(s)
		if err != nil {
			return err
		}
		cs.Secrets = append(slices.Clip(cs.Secrets), r)
	}
	for _, s := range o.Configs {
		r, err := parseConfigRef(s)
		if err != nil {
			return err
		}
		cs.Configs = append(slices.Clip(cs.Configs), r)
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
	if set("stop-grace-period") {
		d := o.StopGracePeriod
		cs.StopGracePeriod = &d
	}
	return o.applyHealth(set, cs)
}

func (o *serviceFlags) applyResources(set func(string) bool, ts *swarm.TaskSpec) error {
	if !set("limit-cpu") && !set("limit-memory") && !set("reserve-cpu") && !set("reserve-memory") {
		return nil
	}
	r := &swarm.ResourceRequirements{}
	if ts.Resources != nil {
		*r = *ts.Resources
	}
	ts.Resources = r
	if set("limit-cpu") || set("limit-memory") {
		l := &swarm.Limit{}
		if r.Limits != nil {
			*l = *r.Limits
		}
		r.Limits = l
		if err := applyCPUMemory(set, "limit", o.LimitCPU, o.LimitMemory, &l.NanoCPUs, &l.MemoryBytes); err != nil {
			return err
		}
	}
	if set("reserve-cpu") || set("reserve-memory") {
		res := &swarm.Resources{}
		if r.Reservations != nil {
			*res = *r.Reservations
		}
		r.Reservations = res
		if err := applyCPUMemory(set, "reserve", o.ReserveCPU, o.ReserveMemory, &res.NanoCPUs, &res.MemoryBytes); err != nil {
			return err
		}
	}
	return nil
}

// applyCPUMemory sets the --<kind>-cpu and --<kind>-memory values the user
// gave into a limit or a reservation, leaving the unset one as it was.
func applyCPUMemory(set func(string) bool, kind, cpu, memory string, nanoCPUs, memoryBytes *int64) error {
	if set(kind + "-cpu") {
		n, err := opts.ParseCPUs(cpu)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--%s-cpu\" flag: %w", cpu, kind, err)
		}
		*nanoCPUs = n
	}
	if set(kind + "-memory") {
		n, err := units.RAMInBytes(memory)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--%s-memory\" flag: %w", memory, kind, err)
		}
		*memoryBytes = n
	}
	return nil
}

func (o *serviceFlags) applyHealth(set func(string) bool, cs *swarm.ContainerSpec) error {
	health := []string{"health-cmd", "health-interval", "health-timeout", "health-start-period", "health-start-interval", "health-retries"}
	changed := false
	for _, h := range health {
		changed = changed || set(h)
	}
	if o.NoHealthcheck {
		if changed {
			return fmt.Errorf("--no-healthcheck conflicts with --health-* options")
		}
		cs.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		return nil
	}
	if !changed {
		return nil
	}
	hc := &container.HealthConfig{}
	if cs.Healthcheck != nil && (len(cs.Healthcheck.Test) == 0 || cs.Healthcheck.Test[0] != "NONE") {
		*hc = *cs.Healthcheck
	}
	if set("health-cmd") {
		hc.Test = nil
		if o.HealthCmd != "" {
			hc.Test = []string{"CMD-SHELL", o.HealthCmd}
		}
	}
	for flag, d := range map[string]time.Duration{"health-interval": o.HealthInterval, "health-timeout": o.HealthTimeout,
		"health-start-period": o.HealthStartPeriod, "health-start-interval": o.HealthStartInterval} {
		if set(flag) && d < 0 {
			return fmt.Errorf("invalid argument for \"--%s\" flag: must not be negative", flag)
		}
	}
	if set("health-interval") {
		hc.Interval = o.HealthInterval
	}
	if set("health-timeout") {
		hc.Timeout = o.HealthTimeout
	}
	if set("health-start-period") {
		hc.StartPeriod = o.HealthStartPeriod
	}
	if set("health-start-interval") {
		hc.StartInterval = o.HealthStartInterval
	}
	if set("health-retries") {
		if o.HealthRetries < 0 {
			return fmt.Errorf("invalid argument for \"--health-retries\" flag: must not be negative")
		}
		hc.Retries = o.HealthRetries
	}
	cs.Healthcheck = hc
	return nil
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
			// As the docker CLI: the moby client pins the image to its
			// digest through GET /distribution (QueryRegistry) and warns
			// when the registry cannot be reached.
			opts := client.ServiceCreateOptions{Spec: spec, QueryRegistry: !o.NoResolveImage}
			if o.RegistryAuth {
				if opts.EncodedRegistryAuth, err = c.credentials(args[0]); err != nil {
					return err
				}
			}
			res, err := api.ServiceCreate(cmd.Context(), opts)
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
			return waitConverged(cmd.Context(), c, api, res.ID, o.Quiet, false)
		},
	}
	cmd.Flags().String("name", "", "Service name")
	o.register(cmd, true)
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// convergeTimeout bounds a wait for convergence that neither succeeds nor
// fails (a slow image pull is the usual reason to come near it).
var convergeTimeout = 5 * time.Minute

// convergePoll is how often a wait looks at the service again.
var convergePoll = 250 * time.Millisecond

// containerInspector is the part of the client the health check uses; on
// one node every task container is the local daemon's.
type containerInspector interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// waitConverged follows a service until every task it wants runs its
// current spec (healthy, where it has a healthcheck), as the docker CLI
// does without --detach, and fails with a task's error when the service
// cannot get there. rollback says the wait is for a requested rollback.
// serviceTasks reads service id and its tasks, what each round of a wait
// looks at.
func serviceTasks(ctx context.Context, api serviceAPI, id string) (swarm.Service, []swarm.Task, error) {
	svc, err := api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return swarm.Service{}, nil, err
	}
	f := client.Filters{}
	f.Add("service", svc.Service.ID)
	tasks, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return swarm.Service{}, nil, err
	}
	return svc.Service, tasks.Items, nil
}

func waitConverged(ctx context.Context, c *CLI, api serviceAPI, id string, quiet, rollback bool) error {
	return waitService(ctx, c, api, id, quiet, rollback, true)
}

// waitService is waitConverged where health says whether running tasks
// must also pass their healthcheck (depends_on: service_started does not
// ask for it).
func waitService(ctx context.Context, c *CLI, api serviceAPI, id string, quiet, rollback, health bool) error {
	var out io.Writer = c.Out
	if quiet {
		out = io.Discard
	}
	_, tty := term.GetFdInfo(c.Out)
	pp := &progressPrinter{out: out, tty: tty && !quiet}
	start := time.Now()
	healthyIDs := map[string]bool{}
	inspector, _ := api.(containerInspector)
	healthy := func(t swarm.Task) bool {
		hc := t.Spec.ContainerSpec
		if !health || hc == nil || hc.Healthcheck == nil || len(hc.Healthcheck.Test) == 0 || hc.Healthcheck.Test[0] == "NONE" ||
			t.Status.ContainerStatus == nil || inspector == nil {
			return true
		}
		cid := t.Status.ContainerStatus.ContainerID
		if healthyIDs[cid] {
			return true
		}
		res, err := inspector.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
		if err != nil {
			return true // on another node: the client cannot tell
		}
		if st := res.Container.State; st != nil && st.Health != nil && st.Health.Status != container.Healthy {
			return false
		}
		healthyIDs[cid] = true
		return true
	}
	for {
		svc, tasks, err := serviceTasks(ctx, api, id)
		if err != nil {
			return err
		}
		cv := checkConvergence(svc, tasks, start, time.Now(), rollback, healthy)
		pp.update(cv)
		if cv.err != nil {
			return cv.err
		}
		if cv.converged {
			pp.done()
			return nil
		}
		if time.Since(start) > convergeTimeout {
			return fmt.Errorf("service %s did not converge within %s: %d out of %d tasks running", svc.Spec.Name, convergeTimeout, cv.running, cv.want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(convergePoll):
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
					r := *spec.Mode.Replicated
					r.Replicas = &n
					spec.Mode.Replicated = &r
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
					if err := waitConverged(ctx, c, api, name, false, false); err != nil {
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

// updateEdits are update's --*-add and --*-rm flags.
type updateEdits struct {
	Image                       string
	Args                        string
	EnvAdd, EnvRm               []string
	PublishAdd, PublishRm       []string
	LabelAdd, LabelRm           []string
	ContainerLabelAdd           []string
	ContainerLabelRm            []string
	ConstraintAdd, ConstraintRm []string
	PrefAdd, PrefRm             []string
	MountAdd, MountRm           []string
	NetworkAdd, NetworkRm       []string
	SecretAdd, SecretRm         []string
	ConfigAdd, ConfigRm         []string
	Force, Rollback             bool
}

func (e *updateEdits) register(f *pflag.FlagSet) {
	f.StringVar(&e.Image, "image", "", "Service image tag")
	f.StringVar(&e.Args, "args", "", "Service command args")
	f.StringArrayVar(&e.EnvAdd, "env-add", nil, "Add or update an environment variable")
	f.StringArrayVar(&e.EnvRm, "env-rm", nil, "Remove an environment variable")
	f.StringArrayVar(&e.PublishAdd, "publish-add", nil, "Add or update a published port")
	f.StringArrayVar(&e.PublishRm, "publish-rm", nil, "Remove a published port by its target port")
	f.StringArrayVar(&e.LabelAdd, "label-add", nil, "Add or update a service label")
	f.StringArrayVar(&e.LabelRm, "label-rm", nil, "Remove a label by its key")
	f.StringArrayVar(&e.ContainerLabelAdd, "container-label-add", nil, "Add or update a container label")
	f.StringArrayVar(&e.ContainerLabelRm, "container-label-rm", nil, "Remove a container label by its key")
	f.StringArrayVar(&e.ConstraintAdd, "constraint-add", nil, "Add or update a placement constraint")
	f.StringArrayVar(&e.ConstraintRm, "constraint-rm", nil, "Remove a constraint")
	f.StringArrayVar(&e.PrefAdd, "placement-pref-add", nil, "Add a placement preference")
	f.StringArrayVar(&e.PrefRm, "placement-pref-rm", nil, "Remove a placement preference")
	f.StringArrayVar(&e.MountAdd, "mount-add", nil, "Add or update a mount on a service")
	f.StringArrayVar(&e.MountRm, "mount-rm", nil, "Remove a mount by its target path")
	f.StringArrayVar(&e.NetworkAdd, "network-add", nil, "Add a network")
	f.StringArrayVar(&e.NetworkRm, "network-rm", nil, "Remove a network")
	f.StringArrayVar(&e.SecretAdd, "secret-add", nil, "Add or update a secret on a service")
	f.StringArrayVar(&e.SecretRm, "secret-rm", nil, "Remove a secret")
	f.StringArrayVar(&e.ConfigAdd, "config-add", nil, "Add or update a config file on a service")
	f.StringArrayVar(&e.ConfigRm, "config-rm", nil, "Remove a configuration file")
	f.BoolVar(&e.Force, "force", false, "Force update even if no changes require it")
	f.BoolVar(&e.Rollback, "rollback", false, "Rollback to previous specification")
}

// apply edits spec in place; removals come before additions, as in docker.
func (e *updateEdits) apply(set func(string) bool, spec *swarm.ServiceSpec) error {
	ts := &spec.TaskTemplate
	if ts.ContainerSpec == nil {
		ts.ContainerSpec = &swarm.ContainerSpec{}
	}
	cs := ts.ContainerSpec
	if set("image") {
		cs.Image = e.Image
	}
	if set("args") {
		cs.Args = strings.Fields(e.Args)
	}
	for _, k := range e.EnvRm {
		cs.Env = removeEnv(cs.Env, k)
	}
	for _, kv := range e.EnvAdd {
		k, _, _ := strings.Cut(kv, "=")
		cs.Env = append(removeEnv(cs.Env, k), kv)
	}
	var err error
	if spec.Labels, err = editLabels(spec.Labels, e.LabelAdd, e.LabelRm); err != nil {
		return err
	}
	if cs.Labels, err = editLabels(cs.Labels, e.ContainerLabelAdd, e.ContainerLabelRm); err != nil {
		return err
	}
	if len(e.PublishRm) > 0 || len(e.PublishAdd) > 0 {
		if err := editPorts(spec, e.PublishAdd, e.PublishRm); err != nil {
			return err
		}
	}
	if len(e.ConstraintAdd)+len(e.ConstraintRm)+len(e.PrefAdd)+len(e.PrefRm) > 0 {
		p := &swarm.Placement{}
		if ts.Placement != nil {
			*p = *ts.Placement
		}
		ts.Placement = p
		p.Constraints = slices.DeleteFunc(slices.Clone(p.Constraints), func(c string) bool { return slices.Contains(e.ConstraintRm, c) })
		for _, c := range e.ConstraintAdd {
			if !slices.Contains(p.Constraints, c) {
				p.Constraints = append(p.Constraints, c)
			}
		}
		for _, r := range e.PrefRm {
			pp, err := parsePlacementPref(r)
			if err != nil {
				return err
			}
			p.Preferences = slices.DeleteFunc(slices.Clone(p.Preferences), func(x swarm.PlacementPreference) bool {
				return x.Spread != nil && x.Spread.SpreadDescriptor == pp.Spread.SpreadDescriptor
			})
		}
		for _, a := range e.PrefAdd {
			pp, err := parsePlacementPref(a)
			if err != nil {
				return err
			}
			p.Preferences = append(p.Preferences, pp)
		}
	}
	if len(e.MountRm) > 0 || len(e.MountAdd) > 0 {
		cs.Mounts = slices.DeleteFunc(slices.Clone(cs.Mounts), func(m mount.Mount) bool { return slices.Contains(e.MountRm, m.Target) })
		for _, s := range e.MountAdd {
			m, err := opts.ParseMount(s)
			if err != nil {
				return err
			}
			cs.Mounts = slices.DeleteFunc(cs.Mounts, func(x mount.Mount) bool { return x.Target == m.Target })
			cs.Mounts = append(cs.Mounts, m)
		}
	}
	if len(e.NetworkRm) > 0 || len(e.NetworkAdd) > 0 {
		ts.Networks = slices.DeleteFunc(slices.Clone(ts.Networks), func(n swarm.NetworkAttachmentConfig) bool {
			return slices.Contains(e.NetworkRm, n.Target)
		})
		for _, n := range e.NetworkAdd {
			if slices.ContainsFunc(ts.Networks, func(x swarm.NetworkAttachmentConfig) bool { return x.Target == n }) {
				return fmt.Errorf("service is already attached to network %s", n)
			}
			ts.Networks = append(ts.Networks, swarm.NetworkAttachmentConfig{Target: n})
		}
	}
	if len(e.SecretRm) > 0 || len(e.SecretAdd) > 0 {
		cs.Secrets = slices.DeleteFunc(slices.Clone(cs.Secrets), func(r *swarm.SecretReference) bool {
			return r == nil || slices.Contains(e.SecretRm, r.SecretName) || slices.Contains(e.SecretRm, r.SecretID)
		})
		for _, s := range e.SecretAdd {
			r, err := parseSecretRef(s)
			if err != nil {
				return err
			}
			cs.Secrets = slices.DeleteFunc(cs.Secrets, func(x *swarm.SecretReference) bool { return x.File != nil && x.File.Name == r.File.Name })
			cs.Secrets = append(cs.Secrets, r)
		}
	}
	if len(e.ConfigRm) > 0 || len(e.ConfigAdd) > 0 {
		cs.Configs = slices.DeleteFunc(slices.Clone(cs.Configs), func(r *swarm.ConfigReference) bool {
			return r == nil || slices.Contains(e.ConfigRm, r.ConfigName) || slices.Contains(e.ConfigRm, r.ConfigID)
		})
		for _, s := range e.ConfigAdd {
			r, err := parseConfigRef(s)
			if err != nil {
				return err
			}
			cs.Configs = slices.DeleteFunc(cs.Configs, func(x *swarm.ConfigReference) bool { return x.File != nil && x.File.Name == r.File.Name })
			cs.Configs = append(cs.Configs, r)
		}
	}
	if e.Force {
		ts.ForceUpdate++
	}
	return nil
}

// editLabels removes keys, then sets key=value pairs.
func editLabels(labels map[string]string, add, rm []string) (map[string]string, error) {
	if len(add) == 0 && len(rm) == 0 {
		return labels, nil
	}
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range rm {
		delete(out, k)
	}
	parsed, err := opts.ParseLabels(add)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, parsed)
	return out, nil
}

// editPorts applies --publish-rm (a target port, "80/udp", or a full
// spec) and --publish-add (replacing a port of the same published port).
func editPorts(spec *swarm.ServiceSpec, add, rm []string) error {
	ep := &swarm.EndpointSpec{}
	if spec.EndpointSpec != nil {
		*ep = *spec.EndpointSpec
	}
	spec.EndpointSpec = ep
	ports := slices.Clone(ep.Ports)
	for _, r := range rm {
		target, proto := r, ""
		if strings.Contains(r, "=") || strings.Contains(r, ":") {
			pcs, err := parsePublish(r)
			if err != nil {
				return err
			}
			target, proto = strconv.Itoa(int(pcs[0].TargetPort)), string(pcs[0].Protocol)
		} else if t, p, ok := strings.Cut(r, "/"); ok {
			target, proto = t, p
		}
		n, err := strconv.ParseUint(target, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid publish-rm option %q", r)
		}
		ports = slices.DeleteFunc(ports, func(p swarm.PortConfig) bool {
			pp := string(p.Protocol)
			if pp == "" {
				pp = "tcp"
			}
			return p.TargetPort == uint32(n) && (proto == "" || proto == pp)
		})
	}
	for _, a := range add {
		pcs, err := parsePublish(a)
		if err != nil {
			return err
		}
		for _, pc := range pcs {
			ports = slices.DeleteFunc(ports, func(p swarm.PortConfig) bool {
				return p == pc || (pc.PublishedPort != 0 && p.PublishedPort == pc.PublishedPort && p.Protocol == pc.Protocol)
			})
			ports = append(ports, pc)
		}
	}
	ep.Ports = ports
	return nil
}

func newServiceUpdateCommand(c *CLI) *cobra.Command {
	var o serviceFlags
	var e updateEdits
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
			s, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
			if err != nil {
				return err
			}
			opts := client.ServiceUpdateOptions{Version: s.Service.Version, Spec: s.Service.Spec}
			if e.Rollback {
				if cmd.Flags().NFlag() > 1+boolToInt(cmd.Flags().Changed("detach"))+boolToInt(cmd.Flags().Changed("quiet"))+boolToInt(cmd.Flags().Changed("with-registry-auth")) {
					return fmt.Errorf("--rollback is exclusive with the other update flags")
				}
				opts.Rollback = "previous"
			} else {
				spec := s.Service.Spec
				if err := o.apply(cmd, &spec); err != nil {
					return err
				}
				if err := e.apply(cmd.Flags().Changed, &spec); err != nil {
					return err
				}
				opts.Spec = spec
				// docker resolves the digest only of a new image.
				opts.QueryRegistry = cmd.Flags().Changed("image") && !o.NoResolveImage
			}
			// Credentials: sent with --with-registry-auth (for the image the
			// service will run), else kept from the spec the service goes
			// to, as the docker CLI asks.
			switch {
			case o.RegistryAuth:
				img := ""
				if cs := opts.Spec.TaskTemplate.ContainerSpec; cs != nil {
					img = cs.Image
				}
				if e.Rollback && s.Service.PreviousSpec != nil && s.Service.PreviousSpec.TaskTemplate.ContainerSpec != nil {
					img = s.Service.PreviousSpec.TaskTemplate.ContainerSpec.Image
				}
				if opts.EncodedRegistryAuth, err = c.credentials(img); err != nil {
					return err
				}
			case e.Rollback:
				opts.RegistryAuthFrom = swarm.RegistryAuthFromPreviousSpec
			default:
				opts.RegistryAuthFrom = swarm.RegistryAuthFromSpec
			}
			res, err := api.ServiceUpdate(ctx, s.Service.ID, opts)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			fmt.Fprintln(c.Out, args[0])
			if o.Detach {
				return nil
			}
			return waitConverged(ctx, c, api, s.Service.ID, o.Quiet, e.Rollback)
		},
	}
	o.register(cmd, false)
	e.register(cmd.Flags())
	return cmd
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
			return waitConverged(ctx, c, api, s.Service.ID, false, true)
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
