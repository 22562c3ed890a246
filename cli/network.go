package cli

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
	"wharf.io/wharf/cli/opts"
)

func newNetworkCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network COMMAND",
		Short: "Manage networks",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newNetworkCreateCommand(c), newNetworkLsCommand(c), newNetworkInspectCommand(c),
		newNetworkRmCommand(c), newNetworkPruneCommand(c), newNetworkConnectCommand(c), newNetworkDisconnectCommand(c))
	return cmd
}

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	var o struct {
		Driver   string
		Subnet   string
		Gateway  string
		IPRange  string
		Internal bool
		Labels   []string
		Opts     []string
		// Attachable and Scope matter for overlay networks (swarm mode).
		Attachable bool
		Scope      string
	}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labels, err := opts.ParseLabels(o.Labels)
			if err != nil {
				return err
			}
			driverOpts, err := opts.ParseKeyValues(o.Opts)
			if err != nil {
				return err
			}
			ipam, err := networkIPAM(o.Subnet, o.Gateway, o.IPRange)
			if err != nil {
				return err
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.NetworkCreate(cmd.Context(), args[0], client.NetworkCreateOptions{
				Driver: o.Driver, IPAM: ipam, Internal: o.Internal, Options: driverOpts, Labels: labels,
				Attachable: o.Attachable, Scope: o.Scope,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringVar(&o.Subnet, "subnet", "", "Subnet in CIDR format that represents a network segment")
	f.StringVar(&o.Gateway, "gateway", "", "IPv4 Gateway for the master subnet")
	f.StringVar(&o.IPRange, "ip-range", "", "Allocate container ip from a sub-range")
	f.BoolVar(&o.Internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&o.Attachable, "attachable", false, "Enable manual container attachment")
	f.StringVar(&o.Scope, "scope", "", "Control the network's scope")
	f.StringArrayVar(&o.Labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&o.Opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

// networkIPAM turns --subnet/--gateway/--ip-range into an IPAM request;
// nil when none is given (the daemon picks a subnet).
func networkIPAM(subnet, gateway, ipRange string) (*network.IPAM, error) {
	if subnet == "" {
		if gateway != "" || ipRange != "" {
			return nil, fmt.Errorf("every ip-range or gateway must have a corresponding subnet")
		}
		return nil, nil
	}
	var cfg network.IPAMConfig
	var err error
	if cfg.Subnet, err = netip.ParsePrefix(subnet); err != nil {
		return nil, fmt.Errorf("invalid subnet %s: %w", subnet, err)
	}
	if gateway != "" {
		if cfg.Gateway, err = netip.ParseAddr(gateway); err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", gateway, err)
		}
	}
	if ipRange != "" {
		if cfg.IPRange, err = netip.ParsePrefix(ipRange); err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: %w", ipRange, err)
		}
	}
	return &network.IPAM{Driver: "default", Config: []network.IPAMConfig{cfg}}, nil
}

func newNetworkLsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet   bool
		NoTrunc bool
		Format  string
		Filter  filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: o.Filter.f})
			if err != nil {
				return err
			}
			sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Name < res.Items[j].Name })
			fmtStr := o.Format
			if o.Quiet {
				fmtStr = format.QuietNetworkFormat
			}
			return format.Context{Output: c.Out, Format: fmtStr}.Write(format.DefaultNetworkTable, format.NetworkHeader, format.NetworkRows(res.Items, !o.NoTrunc))
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, args, tmpl, inspectNetwork)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func inspectNetwork(ctx context.Context, api APIClient, name string) (inspected, error) {
	r, err := api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return inspected{}, err
	}
	return inspected{value: r.Network, raw: r.Raw}, nil
}

func newNetworkRmCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(n string) error {
				_, err := api.NetworkRemove(cmd.Context(), n, client.NetworkRemoveOptions{})
				return err
			})
		},
	}
}

func newNetworkPruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove all unused networks",
		filterHint: `Provide filter values (e.g. "until=<timestamp>")`,
		warning: func(bool) string {
			return "WARNING! This will remove all custom networks not used by at least one container."
		},
		run: func(ctx context.Context, api APIClient, _ bool, f client.Filters) error {
			res, err := api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
				// docker ends the list with an empty line (and, unlike the
				// other prunes, prints no reclaimed space).
				fmt.Fprintln(c.Out)
			}
			return nil
		},
	})
}

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var o struct {
		Aliases []string
		IP      string
	}
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es := &network.EndpointSettings{Aliases: o.Aliases}
			if o.IP != "" {
				ip, err := netip.ParseAddr(o.IP)
				if err != nil {
					return fmt.Errorf("invalid IPv4 address: %s", o.IP)
				}
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, err = api.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: es})
			return err
		},
	}
	cmd.Flags().StringSliceVar(&o.Aliases, "alias", nil, "Add network-scoped alias for the container")
	cmd.Flags().StringVar(&o.IP, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	return cmd
}

func newNetworkDisconnectCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, err = api.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// newPortCommand is `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
func newPortCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			r, err := api.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			lines, err := portLines(args[0], r.Container.NetworkSettings, args[1:])
			if err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(c.Out, l)
			}
			return nil
		},
	}
}

// portLines renders docker port's output: "80/tcp -> 0.0.0.0:4000" for every
// binding, or just "0.0.0.0:4000" when one private port is asked for. Lines
// are in port order (docker sorts naturally, so 80 comes before 443).
func portLines(ctr string, ns *container.NetworkSettings, want []string) ([]string, error) {
	if len(want) == 1 {
		spec := want[0]
		if !strings.Contains(spec, "/") {
			spec += "/tcp"
		}
		p, err := network.ParsePort(spec)
		if err != nil {
			// docker's exact wording; no class suffix, since the CLI prints it as is.
			return nil, fmt.Errorf("Error: invalid port (%s)", want[0])
		}
		var out []string
		if ns != nil {
			for _, b := range ns.Ports[p] {
				out = append(out, hostAddr(b))
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("Error: No public port '%s' published for %s", want[0], ctr)
		}
		return out, nil
	}
	if ns == nil {
		return nil, nil
	}
	type line struct {
		port network.Port
		text string
	}
	var lines []line
	for p, bs := range ns.Ports {
		for _, b := range bs {
			lines = append(lines, line{p, fmt.Sprintf("%s -> %s", p, hostAddr(b))})
		}
	}
	slices.SortFunc(lines, func(a, b line) int {
		return cmp.Or(cmp.Compare(a.port.Num(), b.port.Num()), cmp.Compare(a.port.Proto(), b.port.Proto()), strings.Compare(a.text, b.text))
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out, nil
}

// hostAddr is a binding's host side; an unset HostIP means every address.
func hostAddr(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}
