package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

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
	Networks []struct {
		Name     string                      `json:"name"`
		External bool                        `json:"external"`
		Create   client.NetworkCreateOptions `json:"create"`
	} `json:"networks"`
	Secrets   []swarm.SecretSpec           `json:"secrets"`
	Configs   []swarm.ConfigSpec           `json:"configs"`
	Services  []swarm.ServiceSpec          `json:"services"`
	DependsOn map[string]map[string]string `json:"dependsOn"`
	Warnings  []string                     `json:"warnings"`
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

// convertCompose runs `wharfd compose convert` beside this executable.
func convertCompose(stack string, files []string) (*stackFile, error) {
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
		Files  []string
		Prune  bool
		Detach bool
		Auth   bool
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
			api, err := c.stackClient()
			if err != nil {
				return err
			}
			ctx, stack := cmd.Context(), args[0]
			st, err := convertCompose(stack, o.Files)
			if err != nil {
				return err
			}
			for _, w := range st.Warnings {
				fmt.Fprintln(c.Err, w)
			}
			if err := deployStack(ctx, c, api, stack, st, o.Prune); err != nil {
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
	f.String("resolve-image", "always", "Query the registry to resolve image digest and supported platforms")
	return cmd
}

// deployStack creates what is missing and updates what changed, in
// dependency order; a service whose spec did not change is left alone.
func deployStack(ctx context.Context, c *CLI, api stackAPI, stack string, st *stackFile, prune bool) error {
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

	existing, err := listServices(ctx, api, nsFilter(stack))
	if err != nil {
		return err
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	for _, spec := range st.Services {
		// depends_on: a service starts after what it depends on runs.
		for dep := range st.DependsOn[spec.Name] {
			if err := waitConverged(ctx, c, api, dep, true, false); err != nil {
				return fmt.Errorf("%s depends on %s: %w", spec.Name, dep, err)
			}
		}
		cur, ok := byName[spec.Name]
		if !ok {
			fmt.Fprintf(c.Out, "Creating service %s\n", spec.Name)
			if _, err := api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); err != nil {
				return fmt.Errorf("failed to create service %s: %w", spec.Name, err)
			}
			continue
		}
		// A `service update --force` is not undone by a redeploy (docker
		// keeps the counter too), or every redeploy would restart tasks.
		spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
		if sameSpec(cur.Spec, spec) {
			continue // a redeploy that changes nothing restarts nothing
		}
		fmt.Fprintf(c.Out, "Updating service %s (id: %s)\n", spec.Name, cur.ID)
		if _, err := api.ServiceUpdate(ctx, cur.ID, client.ServiceUpdateOptions{Version: cur.Version, Spec: spec}); err != nil {
			return fmt.Errorf("failed to update service %s: %w", spec.Name, err)
		}
	}
	if prune {
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
