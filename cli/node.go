package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
	"wharf.io/wharf/cli/opts"
)

func newNodeCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage Swarm nodes",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newNodeLsCommand(c), newNodeInspectCommand(c), newNodeUpdateCommand(c), newNodeRmCommand(c),
		newNodeRoleCommand(c, true), newNodeRoleCommand(c, false), newNodePsCommand(c))
	return cmd
}

// Default `node ls` table, as in the docker CLI.
const defaultNodeTable = "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}"

var nodeHeader = map[string]string{
	"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
	"ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS",
}

// nodeRow is what a `node ls --format` template sees.
type nodeRow struct {
	n    swarm.Node
	self string
}

func (r nodeRow) ID() string            { return r.n.ID }
func (r nodeRow) Self() bool            { return r.n.ID == r.self }
func (r nodeRow) Hostname() string      { return r.n.Description.Hostname }
func (r nodeRow) Status() string        { return capitalize(string(r.n.Status.State)) }
func (r nodeRow) Availability() string  { return capitalize(string(r.n.Spec.Availability)) }
func (r nodeRow) EngineVersion() string { return r.n.Description.Engine.EngineVersion }
func (r nodeRow) TLSStatus() string     { return "Ready" }
func (r nodeRow) ManagerStatus() string {
	ms := r.n.ManagerStatus
	switch {
	case ms == nil:
		return ""
	case ms.Leader:
		return "Leader"
	default:
		return capitalize(string(ms.Reachability))
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func newNodeLsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List nodes in the swarm",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res, err := api.NodeList(ctx, client.NodeListOptions{Filters: o.Filter.f})
			if err != nil {
				return err
			}
			info, err := api.Info(ctx, client.InfoOptions{})
			if err != nil {
				return err
			}
			nodes := res.Items
			sort.Slice(nodes, func(i, j int) bool { return nodes[i].Description.Hostname < nodes[j].Description.Hostname })
			rows := make([]any, 0, len(nodes))
			for _, n := range nodes {
				rows = append(rows, nodeRow{n: n, self: info.Info.Swarm.NodeID})
			}
			f := o.Format
			if o.Quiet {
				f = "{{.ID}}"
			}
			return format.Context{Output: c.Out, Format: f}.Write(defaultNodeTable, nodeHeader, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func newNodeInspectCommand(c *CLI) *cobra.Command {
	var o struct {
		Format string
		Pretty bool
	}
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] self|NODE [NODE...]",
		Short: "Display detailed information on one or more nodes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			get := func(ctx context.Context, _ APIClient, ref string) (inspected, error) {
				// The daemon resolves "self".
				res, err := api.NodeInspect(ctx, ref, client.NodeInspectOptions{})
				if err != nil {
					return inspected{}, err
				}
				return inspected{value: res.Node, raw: res.Raw}, nil
			}
			if !o.Pretty || o.Format != "" {
				return runInspect(ctx, c, args, o.Format, get)
			}
			var errs []string
			for i, ref := range args {
				it, err := get(ctx, nil, ref)
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				if i > 0 {
					fmt.Fprintln(c.Out)
				}
				printNodePretty(c.Out, it.value.(swarm.Node))
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVar(&o.Pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

// printNodePretty is `docker node inspect --pretty`.
func printNodePretty(out io.Writer, n swarm.Node) {
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("ID:\t%s", n.ID)
	if n.Spec.Name != "" {
		p("Name:\t%s", n.Spec.Name)
	}
	if len(n.Spec.Labels) > 0 {
		p("Labels:")
		keys := make([]string, 0, len(n.Spec.Labels))
		for k := range n.Spec.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p(" - %s=%s", k, n.Spec.Labels[k])
		}
	}
	p("Hostname:\t%s", n.Description.Hostname)
	p("Joined at:\t%s", n.CreatedAt.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST"))
	p("Status:")
	p(" State:\t%s", capitalize(string(n.Status.State)))
	if n.Status.Message != "" {
		p(" Message:\t%s", n.Status.Message)
	}
	p(" Availability:\t%s", capitalize(string(n.Spec.Availability)))
	p(" Address:\t%s", n.Status.Addr)
	if ms := n.ManagerStatus; ms != nil {
		p("Manager Status:")
		p(" Address:\t%s", ms.Addr)
		p(" Raft Status:\t%s", capitalize(string(ms.Reachability)))
		leader := "No"
		if ms.Leader {
			leader = "Yes"
		}
		p(" Leader:\t%s", leader)
	}
	p("Platform:")
	p(" Operating System:\t%s", n.Description.Platform.OS)
	p(" Architecture:\t%s", n.Description.Platform.Architecture)
	p("Resources:")
	p(" CPUs:\t%d", n.Description.Resources.NanoCPUs/1e9)
	p(" Memory:\t%s", units.BytesSize(float64(n.Description.Resources.MemoryBytes)))
	if plugins := n.Description.Engine.Plugins; len(plugins) > 0 {
		byType := map[string][]string{}
		var types []string
		for _, pl := range plugins {
			if _, ok := byType[pl.Type]; !ok {
				types = append(types, pl.Type)
			}
			byType[pl.Type] = append(byType[pl.Type], pl.Name)
		}
		sort.Strings(types)
		p("Plugins:")
		for _, t := range types {
			p(" %s:\t%s", t, strings.Join(byType[t], ", "))
		}
	}
	p("Engine Version:\t%s", n.Description.Engine.EngineVersion)
	if len(n.Description.Engine.Labels) > 0 {
		p("Engine Labels:")
		for k, v := range n.Description.Engine.Labels {
			p(" - %s=%s", k, v)
		}
	}
	if t := n.Description.TLSInfo; t.TrustRoot != "" {
		p("TLS Info:")
		p(" TrustRoot:\n%s", t.TrustRoot)
		p(" Issuer Subject:\t%s", base64.StdEncoding.EncodeToString(t.CertIssuerSubject))
		p(" Issuer Public Key:\t%s", base64.StdEncoding.EncodeToString(t.CertIssuerPublicKey))
	}
	w.Flush()
}

// updateNode reads a node, lets mutate change its spec and writes it back
// with the version it read (the daemon refuses a stale one).
func updateNode(ctx context.Context, api swarmAPI, ref string, mutate func(*swarm.NodeSpec) error) error {
	res, err := api.NodeInspect(ctx, ref, client.NodeInspectOptions{})
	if err != nil {
		return err
	}
	spec := res.Node.Spec
	if err := mutate(&spec); err != nil {
		return err
	}
	_, err = api.NodeUpdate(ctx, res.Node.ID, client.NodeUpdateOptions{Version: res.Node.Version, Spec: spec})
	return err
}

func newNodeUpdateCommand(c *CLI) *cobra.Command {
	var o struct {
		Availability, Role string
		LabelAdd, LabelRm  []string
	}
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Update a node",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			add, err := opts.ParseLabels(o.LabelAdd)
			if err != nil {
				return err
			}
			err = updateNode(cmd.Context(), api, args[0], func(spec *swarm.NodeSpec) error {
				if flags.Changed("availability") {
					spec.Availability = swarm.NodeAvailability(strings.ToLower(o.Availability))
				}
				if flags.Changed("role") {
					spec.Role = swarm.NodeRole(strings.ToLower(o.Role))
				}
				if spec.Labels == nil {
					spec.Labels = map[string]string{}
				}
				for k, v := range add {
					spec.Labels[k] = v
				}
				for _, k := range o.LabelRm {
					if _, ok := spec.Labels[k]; !ok {
						return fmt.Errorf("key %s doesn't exist in node's labels", k)
					}
					delete(spec.Labels, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Availability, "availability", "", `Availability of the node ("active", "pause", "drain")`)
	f.StringVar(&o.Role, "role", "", `Role of the node ("worker", "manager")`)
	f.StringArrayVar(&o.LabelAdd, "label-add", nil, "Add or update a node label (key=value)")
	f.StringArrayVar(&o.LabelRm, "label-rm", nil, "Remove a node label if exists")
	return cmd
}

// newNodeRoleCommand is `node promote` (manager) or `node demote`.
func newNodeRoleCommand(c *CLI, promote bool) *cobra.Command {
	use, short, role := "demote NODE [NODE...]", "Demote one or more nodes from manager in the swarm", swarm.NodeRoleWorker
	if promote {
		use, short, role = "promote NODE [NODE...]", "Promote one or more nodes to manager in the swarm", swarm.NodeRoleManager
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			var errs []string
			for _, ref := range args {
				already := false
				err := updateNode(cmd.Context(), api, ref, func(spec *swarm.NodeSpec) error {
					already = spec.Role == role
					spec.Role = role
					return nil
				})
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case already && promote:
					fmt.Fprintf(c.Out, "Node %s is already a manager.\n", ref)
				case already:
					fmt.Fprintf(c.Out, "Node %s is already a worker.\n", ref)
				case promote:
					fmt.Fprintf(c.Out, "Node %s promoted to a manager in the swarm.\n", ref)
				default:
					fmt.Fprintf(c.Out, "Manager %s demoted in the swarm.\n", ref)
				}
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
}

func newNodeRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the swarm",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			return forEach(c, args, func(ref string) error {
				_, err := api.NodeRemove(cmd.Context(), ref, client.NodeRemoveOptions{Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force remove a node from the swarm")
	return cmd
}

const defaultTaskTable = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}"

var taskHeader = map[string]string{
	"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
	"CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS",
}

// taskRow is what a `node ps --format` template sees.
type taskRow struct {
	t        swarm.Task
	node     string
	noTrunc  bool
	services map[string]string
	history  bool // an older task of the same slot: docker prints it as " \_ name"
}

func (r taskRow) ID() string {
	if r.noTrunc {
		return r.t.ID
	}
	return format.TruncateID(r.t.ID)
}

func (r taskRow) Name() string {
	name := r.services[r.t.ServiceID]
	if name == "" {
		name = r.t.ServiceID
	}
	if r.history {
		return ` \_ ` + name + taskSuffix(r.t)
	}
	return name + taskSuffix(r.t)
}

func taskSuffix(t swarm.Task) string {
	if t.Slot != 0 {
		return fmt.Sprintf(".%d", t.Slot)
	}
	return "." + t.NodeID
}

func (r taskRow) Image() string {
	if r.t.Spec.ContainerSpec == nil {
		return ""
	}
	img, _, _ := strings.Cut(r.t.Spec.ContainerSpec.Image, "@")
	return img
}

func (r taskRow) Node() string         { return r.node }
func (r taskRow) DesiredState() string { return capitalize(string(r.t.DesiredState)) }
func (r taskRow) CurrentState() string {
	return fmt.Sprintf("%s %s ago", capitalize(string(r.t.Status.State)), units.HumanDuration(time.Since(r.t.Status.Timestamp)))
}
func (r taskRow) Error() string { return r.t.Status.Err }
func (r taskRow) Ports() string {
	var ps []string
	for _, p := range r.t.Status.PortStatus.Ports {
		ps = append(ps, fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(ps, ", ")
}

func newNodePsCommand(c *CLI) *cobra.Command {
	var o struct {
		Format  string
		Quiet   bool
		NoTrunc bool
		Filter  filterFlag
	}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [NODE...]",
		Short: "List tasks running on one or more nodes, defaults to current node",
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 0 {
				args = []string{"self"}
			}
			var rows []any
			for _, ref := range args {
				n, err := api.NodeInspect(ctx, ref, client.NodeInspectOptions{})
				if err != nil {
					return err
				}
				f := client.Filters{}
				for k, vs := range o.Filter.f {
					for v := range vs {
						f.Add(k, v)
					}
				}
				f.Add("node", n.Node.ID)
				res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
				if errdefs.IsNotImplemented(err) {
					// A daemon without services has no tasks to show.
					continue
				}
				if err != nil {
					return err
				}
				for _, t := range res.Items {
					rows = append(rows, taskRow{t: t, node: n.Node.Description.Hostname, noTrunc: o.NoTrunc})
				}
			}
			f := o.Format
			if o.Quiet {
				f = "{{.ID}}"
			}
			return format.Context{Output: c.Out, Format: f}.Write(defaultTaskTable, taskHeader, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "", "Pretty-print tasks using a Go template")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display task IDs")
	f.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}
