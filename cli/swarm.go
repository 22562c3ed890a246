package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// swarmAPI is the part of the moby SDK the swarm and node commands use.
// It is asserted from the client (rather than added to APIClient) so fakes
// without swarm support keep compiling.
type swarmAPI interface {
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	SwarmInit(ctx context.Context, options client.SwarmInitOptions) (client.SwarmInitResult, error)
	SwarmJoin(ctx context.Context, options client.SwarmJoinOptions) (client.SwarmJoinResult, error)
	SwarmInspect(ctx context.Context, options client.SwarmInspectOptions) (client.SwarmInspectResult, error)
	SwarmUpdate(ctx context.Context, options client.SwarmUpdateOptions) (client.SwarmUpdateResult, error)
	SwarmLeave(ctx context.Context, options client.SwarmLeaveOptions) (client.SwarmLeaveResult, error)
	SwarmGetUnlockKey(ctx context.Context) (client.SwarmGetUnlockKeyResult, error)
	SwarmUnlock(ctx context.Context, options client.SwarmUnlockOptions) (client.SwarmUnlockResult, error)
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
	NodeInspect(ctx context.Context, nodeID string, options client.NodeInspectOptions) (client.NodeInspectResult, error)
	NodeUpdate(ctx context.Context, nodeID string, options client.NodeUpdateOptions) (client.NodeUpdateResult, error)
	NodeRemove(ctx context.Context, nodeID string, options client.NodeRemoveOptions) (client.NodeRemoveResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
}

func (c *CLI) swarmClient() (swarmAPI, error) {
	return clientAs[swarmAPI](c, "this client does not support swarm mode")
}

func newSwarmCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "swarm",
		Short: "Manage Swarm",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSwarmInitCommand(c), newSwarmJoinCommand(c), newSwarmJoinTokenCommand(c),
		newSwarmLeaveCommand(c), newSwarmUpdateCommand(c), newSwarmUnlockKeyCommand(c), newSwarmUnlockCommand(c))
	return cmd
}

// swarmSpecFlags are the cluster settings init and update share.
type swarmSpecFlags struct {
	TaskHistoryLimit    int64
	DispatcherHeartbeat time.Duration
	CertExpiry          time.Duration
	SnapshotInterval    uint64
	MaxSnapshots        uint64
	Autolock            bool
}

func (o *swarmSpecFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int64Var(&o.TaskHistoryLimit, "task-history-limit", 5, "Task history retention limit")
	f.DurationVar(&o.DispatcherHeartbeat, "dispatcher-heartbeat", 5*time.Second, "Dispatcher heartbeat period (ns|us|ms|s|m|h)")
	f.DurationVar(&o.CertExpiry, "cert-expiry", 90*24*time.Hour, "Validity period for node certificates (ns|us|ms|s|m|h)")
	f.Uint64Var(&o.SnapshotInterval, "snapshot-interval", 10000, "Number of log entries between Raft snapshots")
	f.Uint64Var(&o.MaxSnapshots, "max-snapshots", 0, "Number of additional Raft snapshots to retain")
	f.BoolVar(&o.Autolock, "autolock", false, "Enable manager autolocking (requiring an unlock key to start a stopped manager)")
}

// apply copies the flags the user set (all of them for init) into spec.
func (o *swarmSpecFlags) apply(cmd *cobra.Command, spec *swarm.Spec, all bool) {
	f := cmd.Flags()
	set := func(name string) bool { return all || f.Changed(name) }
	if set("task-history-limit") {
		v := o.TaskHistoryLimit
		spec.Orchestration.TaskHistoryRetentionLimit = &v
	}
	if set("dispatcher-heartbeat") {
		spec.Dispatcher.HeartbeatPeriod = o.DispatcherHeartbeat
	}
	if set("cert-expiry") {
		spec.CAConfig.NodeCertExpiry = o.CertExpiry
	}
	if set("snapshot-interval") {
		spec.Raft.SnapshotInterval = o.SnapshotInterval
	}
	if set("max-snapshots") {
		v := o.MaxSnapshots
		spec.Raft.KeepOldSnapshots = &v
	}
	if set("autolock") {
		spec.EncryptionConfig.AutoLockManagers = o.Autolock
	}
}

func newSwarmInitCommand(c *CLI) *cobra.Command {
	var o struct {
		swarmSpecFlags
		AdvertiseAddr   string
		ListenAddr      string
		DataPathAddr    string
		DataPathPort    uint32
		ForceNewCluster bool
		Availability    string
		AddrPool        []string
		AddrPoolMask    uint32
	}
	cmd := &cobra.Command{
		Use:   "init [OPTIONS]",
		Short: "Initialize a swarm",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			req := client.SwarmInitOptions{
				ListenAddr: o.ListenAddr, AdvertiseAddr: o.AdvertiseAddr, DataPathAddr: o.DataPathAddr,
				DataPathPort: o.DataPathPort, ForceNewCluster: o.ForceNewCluster, AutoLockManagers: o.Autolock,
				Availability: swarm.NodeAvailability(strings.ToLower(o.Availability)), SubnetSize: o.AddrPoolMask,
			}
			for _, p := range o.AddrPool {
				pfx, err := netip.ParsePrefix(p)
				if err != nil {
					return fmt.Errorf("invalid default address pool %q: %v", p, err)
				}
				req.DefaultAddrPool = append(req.DefaultAddrPool, pfx)
			}
			o.apply(cmd, &req.Spec, true)
			ctx := cmd.Context()
			res, err := api.SwarmInit(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "Swarm initialized: current node (%s) is now a manager.\n\n", res.NodeID)
			if err := printJoinCommand(ctx, c, api, res.NodeID, true, false); err != nil {
				return err
			}
			fmt.Fprint(c.Out, "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.AdvertiseAddr, "advertise-addr", "", "Advertised address (format: \"<ip|interface>[:port]\")")
	f.StringVar(&o.ListenAddr, "listen-addr", "0.0.0.0:2377", "Listen address (format: \"<ip|interface>[:port]\")")
	f.StringVar(&o.DataPathAddr, "data-path-addr", "", "Address or interface to use for data path traffic (format: \"<ip|interface>\")")
	f.Uint32Var(&o.DataPathPort, "data-path-port", 0, "Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.")
	f.BoolVar(&o.ForceNewCluster, "force-new-cluster", false, "Force create a new cluster from current state")
	f.StringVar(&o.Availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	f.StringSliceVar(&o.AddrPool, "default-addr-pool", nil, "default address pool in CIDR format")
	f.Uint32Var(&o.AddrPoolMask, "default-addr-pool-mask-length", 24, "default address pool subnet mask length")
	o.swarmSpecFlags.add(cmd)
	return cmd
}

// printJoinCommand prints how to join as a worker and/or a manager, with
// the manager's advertised address, as `docker swarm join-token` does.
func printJoinCommand(ctx context.Context, c *CLI, api swarmAPI, nodeID string, worker, manager bool) error {
	sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return err
	}
	node, err := api.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
	if err != nil {
		return err
	}
	if node.Node.ManagerStatus == nil {
		return nil
	}
	addr := node.Node.ManagerStatus.Addr
	if worker {
		fmt.Fprintf(c.Out, "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token %s %s\n\n", sw.Swarm.JoinTokens.Worker, addr)
	}
	if manager {
		fmt.Fprintf(c.Out, "To add a manager to this swarm, run the following command:\n\n    docker swarm join --token %s %s\n\n", sw.Swarm.JoinTokens.Manager, addr)
	}
	return nil
}

func newSwarmJoinCommand(c *CLI) *cobra.Command {
	var o struct {
		Token, AdvertiseAddr, ListenAddr, DataPathAddr, Availability string
	}
	cmd := &cobra.Command{
		Use:   "join [OPTIONS] HOST:PORT",
		Short: "Join a swarm as a node and/or manager",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			_, err = api.SwarmJoin(cmd.Context(), client.SwarmJoinOptions{
				ListenAddr: o.ListenAddr, AdvertiseAddr: o.AdvertiseAddr, DataPathAddr: o.DataPathAddr,
				RemoteAddrs: []string{args[0]}, JoinToken: o.Token, Availability: swarm.NodeAvailability(strings.ToLower(o.Availability)),
			})
			if err != nil {
				return err
			}
			res, err := api.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				return err
			}
			if res.Info.Swarm.ControlAvailable {
				fmt.Fprintln(c.Out, "This node joined a swarm as a manager.")
			} else {
				fmt.Fprintln(c.Out, "This node joined a swarm as a worker.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Token, "token", "", "Token for entry into the swarm")
	f.StringVar(&o.AdvertiseAddr, "advertise-addr", "", "Advertised address (format: \"<ip|interface>[:port]\")")
	f.StringVar(&o.ListenAddr, "listen-addr", "0.0.0.0:2377", "Listen address (format: \"<ip|interface>[:port]\")")
	f.StringVar(&o.DataPathAddr, "data-path-addr", "", "Address or interface to use for data path traffic (format: \"<ip|interface>\")")
	f.StringVar(&o.Availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	return cmd
}

func newSwarmJoinTokenCommand(c *CLI) *cobra.Command {
	var o struct{ Quiet, Rotate bool }
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] (worker|manager)",
		Short: "Manage join tokens",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role := args[0]
			if role != "worker" && role != "manager" {
				return fmt.Errorf("unknown role %s", role)
			}
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.Rotate {
				sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
				if err != nil {
					return err
				}
				_, err = api.SwarmUpdate(ctx, client.SwarmUpdateOptions{Version: sw.Swarm.Version, Spec: sw.Swarm.Spec,
					RotateWorkerToken: role == "worker", RotateManagerToken: role == "manager"})
				if err != nil {
					return err
				}
				if !o.Quiet {
					fmt.Fprintf(c.Out, "Successfully rotated %s join token.\n\n", role)
				}
			}
			if o.Quiet {
				sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
				if err != nil {
					return err
				}
				if role == "worker" {
					fmt.Fprintln(c.Out, sw.Swarm.JoinTokens.Worker)
				} else {
					fmt.Fprintln(c.Out, sw.Swarm.JoinTokens.Manager)
				}
				return nil
			}
			info, err := api.Info(ctx, client.InfoOptions{})
			if err != nil {
				return err
			}
			return printJoinCommand(ctx, c, api, info.Info.Swarm.NodeID, role == "worker", role == "manager")
		},
	}
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Only display token")
	cmd.Flags().BoolVar(&o.Rotate, "rotate", false, "Rotate join token")
	return cmd
}

func newSwarmLeaveCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "leave [OPTIONS]",
		Short: "Leave the swarm",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			if _, err := api.SwarmLeave(cmd.Context(), client.SwarmLeaveOptions{Force: force}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Node left the swarm.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force this node to leave the swarm, ignoring warnings")
	return cmd
}

func newSwarmUpdateCommand(c *CLI) *cobra.Command {
	var o swarmSpecFlags
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the swarm",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return argsError(cmd, "requires at least one flag")
			}
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
			if err != nil {
				return err
			}
			spec := sw.Swarm.Spec
			o.apply(cmd, &spec, false)
			if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{Version: sw.Swarm.Version, Spec: spec}); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, "Swarm updated.")
			return nil
		},
	}
	o.add(cmd)
	return cmd
}

func newSwarmUnlockKeyCommand(c *CLI) *cobra.Command {
	var o struct{ Quiet, Rotate bool }
	cmd := &cobra.Command{
		Use:   "unlock-key [OPTIONS]",
		Short: "Manage the unlock key",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.Rotate {
				sw, err := api.SwarmInspect(ctx, client.SwarmInspectOptions{})
				if err != nil {
					return err
				}
				if !sw.Swarm.Spec.EncryptionConfig.AutoLockManagers {
					return fmt.Errorf("cannot rotate because autolock is not turned on")
				}
				if _, err := api.SwarmUpdate(ctx, client.SwarmUpdateOptions{Version: sw.Swarm.Version, Spec: sw.Swarm.Spec,
					RotateManagerUnlockKey: true}); err != nil {
					return err
				}
				if !o.Quiet {
					fmt.Fprint(c.Out, "Successfully rotated manager unlock key.\n\n")
				}
			}
			res, err := api.SwarmGetUnlockKey(ctx)
			if err != nil {
				return err
			}
			if res.Key == "" {
				return fmt.Errorf("no unlock key is set")
			}
			if o.Quiet {
				fmt.Fprintln(c.Out, res.Key)
				return nil
			}
			fmt.Fprintf(c.Out, "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\ncommand and provide the following key:\n\n    %s\n\n", res.Key)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Only display token")
	cmd.Flags().BoolVar(&o.Rotate, "rotate", false, "Rotate unlock key")
	return cmd
}

func newSwarmUnlockCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock swarm",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.swarmClient()
			if err != nil {
				return err
			}
			fmt.Fprint(c.Out, "Enter unlock key: ")
			line, err := bufio.NewReader(c.In).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) { // a key without a newline is still a key
				return fmt.Errorf("reading the unlock key: %w", err)
			}
			_, err = api.SwarmUnlock(cmd.Context(), client.SwarmUnlockOptions{Key: strings.TrimSpace(line)})
			return err
		},
	}
}

// printSwarmInfo is the Swarm part of `info`, as the docker CLI prints it.
func printSwarmInfo(w io.Writer, i *system.Info) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	s := i.Swarm
	if s.LocalNodeState == "" {
		s.LocalNodeState = swarm.LocalNodeStateInactive
	}
	p(" Swarm: %s", s.LocalNodeState)
	if s.LocalNodeState == swarm.LocalNodeStateInactive || s.LocalNodeState == swarm.LocalNodeStateLocked {
		return
	}
	p("  NodeID: %s", s.NodeID)
	if s.Error != "" {
		p("  Error: %s", s.Error)
	}
	p("  Is Manager: %v", s.ControlAvailable)
	if s.Cluster != nil && s.ControlAvailable {
		cl := s.Cluster
		p("  ClusterID: %s", cl.ID)
		p("  Managers: %d", s.Managers)
		p("  Nodes: %d", s.Nodes)
		var pools []string
		for _, pfx := range cl.DefaultAddrPool {
			pools = append(pools, pfx.String())
		}
		p("  Default Address Pool: %s", strings.Join(pools, " "))
		p("  SubnetSize: %d", cl.SubnetSize)
		p("  Data Path Port: %d", cl.DataPathPort)
		p("  Orchestration:")
		limit := "Default"
		if cl.Spec.Orchestration.TaskHistoryRetentionLimit != nil {
			limit = fmt.Sprint(*cl.Spec.Orchestration.TaskHistoryRetentionLimit)
		}
		p("   Task History Retention Limit: %s", limit)
		p("  Raft:")
		p("   Snapshot Interval: %d", cl.Spec.Raft.SnapshotInterval)
		if cl.Spec.Raft.KeepOldSnapshots != nil {
			p("   Number of Old Snapshots to Retain: %d", *cl.Spec.Raft.KeepOldSnapshots)
		}
		p("   Heartbeat Tick: %d", cl.Spec.Raft.HeartbeatTick)
		p("   Election Tick: %d", cl.Spec.Raft.ElectionTick)
		p("  Dispatcher:")
		p("   Heartbeat Period: %s", units.HumanDuration(cl.Spec.Dispatcher.HeartbeatPeriod))
		p("  CA Configuration:")
		p("   Expiry Duration: %s", units.HumanDuration(cl.Spec.CAConfig.NodeCertExpiry))
		p("   Force Rotate: %d", cl.Spec.CAConfig.ForceRotate)
		p("  Autolock Managers: %v", cl.Spec.EncryptionConfig.AutoLockManagers)
		p("  Root Rotation In Progress: %v", cl.RootRotationInProgress)
	}
	p("  Node Address: %s", s.NodeAddr)
	if len(s.RemoteManagers) > 0 {
		p("  Manager Addresses:")
		addrs := make([]string, 0, len(s.RemoteManagers))
		for _, m := range s.RemoteManagers {
			addrs = append(addrs, m.Addr)
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			p("   %s", a)
		}
	}
}
