package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
)

// labelNamespace marks every object of a stack (as the docker CLI does).
const labelNamespace = "com.docker.stack.namespace"

// stackFile is what `wharfd compose convert` prints (compose.Stack; the
// client does not link the compose package, see cmd/wharfd/compose.go).
type stackFile struct {
	Networks  []stackNetwork               `json:"networks"`
	Secrets   []swarm.SecretSpec           `json:"secrets"`
	Configs   []swarm.ConfigSpec           `json:"configs"`
	Services  []swarm.ServiceSpec          `json:"services"`
	DependsOn map[string]map[string]string `json:"dependsOn"`
	Warnings  []string                     `json:"warnings"`
}

// stackNetwork is a network of the stack: to create, or external (to find).
type stackNetwork struct {
	Name     string                      `json:"name"`
	External bool                        `json:"external"`
	Create   client.NetworkCreateOptions `json:"create"`
}

// stackAPI adds what stack deploy and rm need to serviceAPI.
type stackAPI interface {
	serviceAPI
	SecretList(ctx context.Context, options client.SecretListOptions) (client.SecretListResult, error)
	SecretCreate(ctx context.Context, options client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretRemove(ctx context.Context, id string, options client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ConfigList(ctx context.Context, options client.ConfigListOptions) (client.ConfigListResult, error)
	ConfigCreate(ctx context.Context, options client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigRemove(ctx context.Context, id string, options client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
	// The image check before a deploy.
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	DistributionInspect(ctx context.Context, image string, options client.DistributionInspectOptions) (client.DistributionInspectResult, error)
}

// deployOptions are stack deploy's flags that steer deployStack.
type deployOptions struct {
	prune bool
	// detach: create and update without waiting, depends_on included.
	detach bool
	// resolveImage is always, changed or never (docker's
	// --resolve-image): which services' images are checked to exist
	// before anything is created.
	resolveImage string
	// auth (--with-registry-auth) maps an image to the encoded
	// credentials of its registry; nil sends none.
	auth func(image string) (string, error)
}

// encodedAuth is the X-Registry-Auth to send for image.
func (o deployOptions) encodedAuth(image string) (string, error) {
	if o.auth == nil {
		return "", nil
	}
	return o.auth(image)
}

func (c *CLI) stackClient() (stackAPI, error) {
	return clientAs[stackAPI](c, "this client does not support swarm stacks")
}

func newStackCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Manage Swarm stacks",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newStackDeployCommand(c), newStackLsCommand(c), newStackServicesCommand(c),
		newStackPsCommand(c), newStackRmCommand(c))
	return cmd
}

func nsFilter(stack string) client.Filters {
	f := client.Filters{}
	f.Add("label", labelNamespace+"="+stack)
	return f
}

// convertCompose runs `wharfd compose convert` beside this executable; a
// file "-" is read from stdin, which the converter gets.
func convertCompose(stack string, files []string, stdin io.Reader) (*stackFile, error) {
	bin, err := findDaemon(os.Executable, exec.LookPath)
	if err != nil {
		return nil, err
	}
	args := []string{"compose", "convert", "--namespace", stack}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if slices.Contains(files, "-") {
		cmd.Stdin = stdin
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, errors.New(msg)
	}
	var st stackFile
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("reading the converted stack: %w", err)
	}
	return &st, nil
}

func newStackDeployCommand(c *CLI) *cobra.Command {
	var o struct {
		Files   []string
		Prune   bool
		Detach  bool
		Auth    bool
		Resolve string
	}
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Files) == 0 {
				return fmt.Errorf("please specify a Compose file (with --compose-file)")
			}
			switch o.Resolve {
			case resolveAlways, resolveChanged, resolveNever:
			default:
				return fmt.Errorf("invalid option %s for flag --resolve-image", o.Resolve)
			}
			api, err := c.stackClient()
			if err != nil {
				return err
			}
			ctx, stack := cmd.Context(), args[0]
			st, err := convertCompose(stack, o.Files, c.In)
			if err != nil {
				return err
			}
			for _, w := range st.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			var auth func(string) (string, error)
			if o.Auth {
				auth = c.credentials
			}
			if err := deployStack(ctx, c, api, stack, st, deployOptions{prune: o.Prune, detach: o.Detach, resolveImage: o.Resolve, auth: auth}); err != nil {
				return err
			}
			if o.Detach {
				return nil
			}
			var errs []string
			for _, s := range st.Services {
				if err := waitConverged(ctx, c, api, s.Name, true, false); err != nil {
					errs = append(errs, err.Error())
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("stack %s did not converge:\n%s", stack, strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.Files, "compose-file", "c", nil, "Path to a Compose file, or \"-\" to read from stdin")
	f.BoolVar(&o.Prune, "prune", false, "Prune services that are no longer referenced")
	f.BoolVarP(&o.Detach, "detach", "d", false, "Exit immediately instead of waiting for the stack services to converge")
	f.BoolVar(&o.Auth, "with-registry-auth", false, "Send registry authentication details to Swarm agents")
	f.StringVar(&o.Resolve, "resolve-image", resolveAlways, `Check that each image exists, here or in its registry, before deploying ("always", "changed", "never")`)
	return cmd
}

// --resolve-image values.
const (
	resolveAlways  = "always"
	resolveChanged = "changed"
	resolveNever   = "never"
)

// deployStack creates what is missing and updates what changed, in
// dependency order; a service whose spec did not change is left alone.
// Every image is checked first (opts.resolveImage), so that a stack with
// an unknown image creates nothing.
func deployStack(ctx context.Context, c *CLI, api stackAPI, stack string, st *stackFile, opts deployOptions) error {
	existing, err := listServices(ctx, api, nsFilter(stack))
	if err != nil {
		return err
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	if err := checkImages(ctx, api, st.Services, byName, opts); err != nil {
		return err
	}
	nets, err := api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range nets.Items {
		have[n.Name] = true
	}
	for _, n := range st.Networks {
		if n.External {
			if !have[n.Name] {
				return fmt.Errorf("network %q is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed", n.Name)
			}
			continue
		}
		if have[n.Name] {
			continue
		}
		fmt.Fprintf(c.Out, "Creating network %s\n", n.Name)
		if _, err := api.NetworkCreate(ctx, n.Name, n.Create); err != nil {
			return fmt.Errorf("failed to create network %s: %w", n.Name, err)
		}
	}
	secrets, err := api.SecretList(ctx, client.SecretListOptions{})
	if err != nil {
		return err
	}
	haveSecret := map[string]bool{}
	for _, s := range secrets.Items {
		haveSecret[s.Spec.Name] = true
	}
	for _, s := range st.Secrets {
		if haveSecret[s.Name] {
			continue
		}
		fmt.Fprintf(c.Out, "Creating secret %s\n", s.Name)
		if _, err := api.SecretCreate(ctx, client.SecretCreateOptions{Spec: s}); err != nil {
			return err
		}
	}
	configs, err := api.ConfigList(ctx, client.ConfigListOptions{})
	if err != nil {
		return err
	}
	haveConfig := map[string]bool{}
	for _, s := range configs.Items {
		haveConfig[s.Spec.Name] = true
	}
	for _, s := range st.Configs {
		if haveConfig[s.Name] {
			continue
		}
		fmt.Fprintf(c.Out, "Creating config %s\n", s.Name)
		if _, err := api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: s}); err != nil {
			return err
		}
	}

	for _, spec := range st.Services {
		cur, ok := byName[spec.Name]
		if ok {
			// A `service update --force` is not undone by a redeploy (docker
			// keeps the counter too), or every redeploy would restart tasks.
			spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
			if sameSpec(cur.Spec, spec) {
				continue // a redeploy that changes nothing restarts nothing
			}
		}
		// depends_on: a service is created or changed once what it
		// depends on meets the condition.
		if !opts.detach {
			deps := st.DependsOn[spec.Name]
			for _, dep := range slices.Sorted(maps.Keys(deps)) {
				if err := waitDependency(ctx, c, api, dep, deps[dep]); err != nil {
					return fmt.Errorf("%s depends on %s: %w", spec.Name, dep, err)
				}
			}
		}
		var encoded string
		if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
			if encoded, err = opts.encodedAuth(cs.Image); err != nil {
				return err
			}
		}
		if !ok {
			fmt.Fprintf(c.Out, "Creating service %s\n", spec.Name)
			if _, err := api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, EncodedRegistryAuth: encoded}); err != nil {
				return fmt.Errorf("failed to create service %s: %w", spec.Name, err)
			}
			continue
		}
		fmt.Fprintf(c.Out, "Updating service %s (id: %s)\n", spec.Name, cur.ID)
		upd := client.ServiceUpdateOptions{Version: cur.Version, Spec: spec, EncodedRegistryAuth: encoded}
		if encoded == "" {
			upd.RegistryAuthFrom = swarm.RegistryAuthFromSpec // keep what the service has
		}
		if _, err := api.ServiceUpdate(ctx, cur.ID, upd); err != nil {
			return fmt.Errorf("failed to update service %s: %w", spec.Name, err)
		}
	}
	if opts.prune {
		want := map[string]bool{}
		for _, s := range st.Services {
			want[s.Name] = true
		}
		for _, s := range existing {
			if !want[s.Spec.Name] {
				fmt.Fprintf(c.Out, "Removing service %s\n", s.Spec.Name)
				if _, err := api.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkImages makes sure every service's image exists, here or in its
// registry, before a deploy creates anything: a task that cannot pull
// its image would fail seconds later, with the stack half made. mode is
// --resolve-image: never checks nothing, changed only the images of new
// services and of those whose image changes.
func checkImages(ctx context.Context, api stackAPI, services []swarm.ServiceSpec, existing map[string]swarm.Service, opts deployOptions) error {
	mode := opts.resolveImage
	if mode == resolveNever {
		return nil
	}
	checked := map[string]bool{}
	for _, spec := range services {
		cs := spec.TaskTemplate.ContainerSpec
		if cs == nil || cs.Image == "" || checked[cs.Image] {
			continue
		}
		if cur, ok := existing[spec.Name]; ok && mode == resolveChanged {
			if cc := cur.Spec.TaskTemplate.ContainerSpec; cc != nil && cc.Image == cs.Image {
				continue
			}
		}
		checked[cs.Image] = true
		auth, err := opts.encodedAuth(cs.Image)
		if err != nil {
			return err
		}
		if err := findImage(ctx, api, cs.Image, auth); err != nil {
			return fmt.Errorf("service %s: %w", spec.Name, err)
		}
	}
	return nil
}

// findImage looks for ref in the daemon's images, then in its registry
// through the daemon (distribution inspect, with the encoded credentials
// auth): the manifest is read, nothing is downloaded. A task that needs
// the image pulls it on its node.
func findImage(ctx context.Context, api stackAPI, ref, auth string) error {
	_, err := api.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return err
	}
	if _, err := api.DistributionInspect(ctx, ref, client.DistributionInspectOptions{EncodedRegistryAuth: auth}); err != nil {
		return fmt.Errorf("image %s not found, here or in its registry: %w", ref, err)
	}
	return nil
}

// waitDependency waits until service dep meets a depends_on condition:
// service_started (its tasks run), service_healthy (and pass their
// healthcheck) or service_completed_successfully (a task of it exited 0).
func waitDependency(ctx context.Context, c *CLI, api serviceAPI, dep, condition string) error {
	switch condition {
	case "", "service_started":
		return waitService(ctx, c, api, dep, true, false, false)
	case "service_healthy":
		return waitService(ctx, c, api, dep, true, false, true)
	case "service_completed_successfully":
		return waitCompleted(ctx, api, dep)
	default:
		return fmt.Errorf("depends_on condition %q is not supported", condition)
	}
}

// waitCompleted waits until a task of service id has exited 0. A failed
// task ends the wait when the service will not restart it.
func waitCompleted(ctx context.Context, api serviceAPI, id string) error {
	start := time.Now()
	for {
		svc, tasks, err := serviceTasks(ctx, api, id)
		if err != nil {
			return err
		}
		rp := svc.Spec.TaskTemplate.RestartPolicy
		noRestart := rp != nil && rp.Condition == swarm.RestartPolicyConditionNone
		for _, t := range tasks {
			switch t.Status.State {
			case swarm.TaskStateComplete:
				return nil
			case swarm.TaskStateFailed, swarm.TaskStateRejected:
				if noRestart {
					return fmt.Errorf("service %s did not complete successfully: %s", svc.Spec.Name, cmp.Or(t.Status.Err, t.Status.Message))
				}
			}
		}
		if time.Since(start) > convergeTimeout {
			return fmt.Errorf("service %s did not complete within %s", svc.Spec.Name, convergeTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(convergePoll):
		}
	}
}

// sameSpec compares specs as the daemon stores them: the daemon fills in
// defaults and secret IDs, so compare what the file can say.
func sameSpec(cur, next swarm.ServiceSpec) bool {
	norm := func(s swarm.ServiceSpec) swarm.ServiceSpec {
		if cs := s.TaskTemplate.ContainerSpec; cs != nil {
			// The file names secrets and configs; the daemon adds their IDs.
			c := *cs
			c.Secrets, c.Configs = nil, nil
			for _, r := range cs.Secrets {
				if r != nil {
					x := *r
					x.SecretID = ""
					c.Secrets = append(c.Secrets, &x)
				}
			}
			for _, r := range cs.Configs {
				if r != nil {
					x := *r
					x.ConfigID = ""
					c.Configs = append(c.Configs, &x)
				}
			}
			s.TaskTemplate.ContainerSpec = &c
		}
		if s.Mode.Replicated == nil && s.Mode.Global == nil {
			s.Mode.Replicated = &swarm.ReplicatedService{}
		}
		if r := s.Mode.Replicated; r != nil && r.Replicas == nil {
			one := uint64(1)
			s.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
		}
		if ep := s.EndpointSpec; ep != nil {
			e := *ep
			e.Ports = nil
			for _, p := range ep.Ports {
				if p.Protocol == "" {
					p.Protocol = "tcp"
				}
				if p.PublishMode == "" {
					p.PublishMode = swarm.PortConfigPublishModeIngress
				}
				e.Ports = append(e.Ports, p)
			}
			s.EndpointSpec = &e
		}
		return s
	}
	// JSON, not reflect.DeepEqual: a nil and an empty map or slice are the
	// same spec once the daemon has stored it. A spec always marshals.
	a, _ := json.Marshal(norm(cur))
	b, _ := json.Marshal(norm(next))
	return bytes.Equal(a, b)
}

// stacks groups the swarm's services by their stack label.
func stacks(ctx context.Context, api serviceAPI) (map[string][]swarm.Service, error) {
	all, err := listServices(ctx, api, client.Filters{})
	if err != nil {
		return nil, err
	}
	out := map[string][]swarm.Service{}
	for _, s := range all {
		if ns := s.Spec.Labels[labelNamespace]; ns != "" {
			out[ns] = append(out[ns], s)
		}
	}
	return out, nil
}

type stackRow struct {
	name     string
	services int
}

func (r stackRow) Name() string     { return r.name }
func (r stackRow) Services() string { return fmt.Sprint(r.services) }

func newStackLsCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			all, err := stacks(cmd.Context(), api)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			rows := make([]any, 0, len(names))
			for _, n := range names {
				rows = append(rows, stackRow{n, len(all[n])})
			}
			return format.Context{Output: c.Out, Format: tmpl}.Write("table {{.Name}}\t{{.Services}}",
				map[string]string{"Name": "NAME", "Services": "SERVICES"}, rows)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "Format output using a custom template")
	return cmd
}

func newStackServicesCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
	}
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] STACK",
		Short: "List the services in the stack",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			services, err := listServices(cmd.Context(), api, nsFilter(args[0]))
			if err != nil {
				return err
			}
			if len(services) == 0 {
				fmt.Fprintf(c.Err, "Nothing found in stack: %s\n", args[0])
				return nil
			}
			return writeServices(c, services, o.Format, o.Quiet)
		},
	}
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

func newStackPsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet, NoTrunc bool
		Format         string
	}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] STACK",
		Short: "List the tasks in the stack",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.serviceClient()
			if err != nil {
				return err
			}
			services, err := listServices(cmd.Context(), api, nsFilter(args[0]))
			if err != nil {
				return err
			}
			if len(services) == 0 {
				return fmt.Errorf("nothing found in stack: %s", args[0])
			}
			f := client.Filters{}
			for _, s := range services {
				f.Add("service", s.ID)
			}
			return writeTasks(cmd.Context(), c, api, f, o.Format, o.Quiet, o.NoTrunc)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display task IDs")
	fl.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	fl.StringVar(&o.Format, "format", "", "Pretty-print tasks using a Go template")
	return cmd
}

func newStackRmCommand(c *CLI) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove one or more stacks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.stackClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var errs []string
			for _, stack := range args {
				services, err := listServices(ctx, api, nsFilter(stack))
				if err != nil {
					return err
				}
				// A listing that fails must stop rm: going on would report
				// "Nothing found" or leave the stack's networks behind.
				nets, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: nsFilter(stack)})
				if err != nil {
					return err
				}
				secrets, err := api.SecretList(ctx, client.SecretListOptions{Filters: nsFilter(stack)})
				if err != nil {
					return err
				}
				configs, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: nsFilter(stack)})
				if err != nil {
					return err
				}
				if len(services)+len(nets.Items)+len(secrets.Items)+len(configs.Items) == 0 {
					fmt.Fprintf(c.Err, "Nothing found in stack: %s\n", stack)
					continue
				}
				for _, s := range services {
					fmt.Fprintf(c.Out, "Removing service %s\n", s.Spec.Name)
					if _, err := api.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil {
						errs = append(errs, err.Error())
					}
				}
				for _, s := range secrets.Items {
					fmt.Fprintf(c.Out, "Removing secret %s\n", s.Spec.Name)
					if _, err := api.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil {
						errs = append(errs, err.Error())
					}
				}
				for _, s := range configs.Items {
					fmt.Fprintf(c.Out, "Removing config %s\n", s.Spec.Name)
					if _, err := api.ConfigRemove(ctx, s.ID, client.ConfigRemoveOptions{}); err != nil {
						errs = append(errs, err.Error())
					}
				}
				for _, n := range nets.Items {
					fmt.Fprintf(c.Out, "Removing network %s\n", n.Name)
					if _, err := api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
						errs = append(errs, err.Error())
					}
				}
				if !detach {
					waitNoTasks(ctx, api, services)
				}
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Do not wait for the stack's tasks to be removed")
	return cmd
}

// waitNoTasks waits (bounded) until the removed services' tasks are gone.
func waitNoTasks(ctx context.Context, api serviceAPI, services []swarm.Service) {
	if len(services) == 0 {
		return
	}
	f := client.Filters{}
	for _, s := range services {
		f.Add("service", s.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
		if err != nil || len(res.Items) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
