package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
)

// newContainerCommand is the `container` management group; every verb is also reachable
// at top level under docker's aliases (ps, rm, logs, …).
func newContainerCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container COMMAND",
		Short: "Manage containers",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	ls := newPsCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
	rm := newRmCommand(c)
	rm.Use, rm.Aliases = "rm [OPTIONS] CONTAINER [CONTAINER...]", []string{"remove"}
	cmd.AddCommand(
		newAttachCommand(c), newCreateCommand(c), newExecCommand(c), newContainerInspectCommand(c),
		newKillCommand(c), newLogsCommand(c), ls, newPauseCommand(c), newPortCommand(c), newContainerPruneCommand(c),
		newRenameCommand(c), newRestartCommand(c), rm, newRunCommand(c), newStartCommand(c),
		newStatsCommand(c), newStopCommand(c), newTopCommand(c), newUnpauseCommand(c), newWaitCommand(c),
	)
	return cmd
}

// filterFlag collects --filter key=value pairs into the SDK's Filters.
type filterFlag struct{ f client.Filters }

func (ff *filterFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("bad format of filter (expected name=value)")
	}
	if ff.f == nil {
		ff.f = client.Filters{}
	}
	ff.f.Add(strings.ToLower(strings.TrimSpace(k)), v)
	return nil
}

func (ff *filterFlag) String() string { return "" }
func (ff *filterFlag) Type() string   { return "filter" }

type psOptions struct {
	Quiet   bool
	All     bool
	Last    int
	Latest  bool
	NoTrunc bool
	Size    bool
	Format  string
	Filter  filterFlag
}

func newPsCommand(c *CLI) *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVarP(&o.All, "all", "a", false, "Show all containers (default shows just running)")
	f.IntVarP(&o.Last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.BoolVarP(&o.Latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&o.Size, "size", "s", false, "Display total file sizes")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func runPs(ctx context.Context, c *CLI, o psOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	limit := o.Last
	if o.Latest {
		limit = 1
	}
	opts := client.ContainerListOptions{All: o.All || limit > 0, Limit: max(limit, 0), Filters: o.Filter.f}
	fmtStr := o.Format
	if o.Quiet {
		fmtStr = format.QuietContainerFormat
	}
	// docker computes sizes only when they are shown, because it is expensive.
	opts.Size = o.Size || strings.Contains(fmtStr, ".Size")
	res, err := api.ContainerList(ctx, opts)
	if err != nil {
		return err
	}
	now := time.Now()
	rows := make([]any, 0, len(res.Items))
	for _, s := range res.Items {
		rows = append(rows, format.NewContainer(s, !o.NoTrunc, now))
	}
	def := format.DefaultContainerTable
	if o.Size {
		def = format.DefaultContainerTableSize
	}
	return format.Context{Output: c.Out, Format: fmtStr, Trunc: !o.NoTrunc}.Write(def, format.ContainerHeader, rows)
}

type logsOptions struct {
	Follow     bool
	Since      string
	Until      string
	Timestamps bool
	Details    bool
	Tail       string
}

func newLogsCommand(c *CLI) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), c, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	f.StringVar(&o.Since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVar(&o.Until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&o.Details, "details", false, "Show extra details provided to logs")
	f.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

func runLogs(ctx context.Context, c *CLI, name string, o logsOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	// The stream is multiplexed unless the container has a TTY, which only inspect tells.
	info, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	rc, err := api.ContainerLogs(ctx, info.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Since: o.Since, Until: o.Until,
		Timestamps: o.Timestamps, Follow: o.Follow, Tail: o.Tail, Details: o.Details,
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	tty := info.Container.Config != nil && info.Container.Config.Tty
	err = copyOutput(rc, tty, c.Out, c.Err)
	if ctx.Err() != nil {
		return nil // interrupted `logs -f` ends quietly, as in docker
	}
	return err
}

type stopOptions struct {
	Signal  string
	Timeout OptionalTimeout
}

// OptionalTimeout is -t/--time: unset means "use the container's StopTimeout".
type OptionalTimeout struct {
	v   int
	set bool
}

func (t *OptionalTimeout) Set(s string) error {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return fmt.Errorf("invalid timeout %q", s)
	}
	t.v, t.set = n, true
	return nil
}
func (t *OptionalTimeout) String() string {
	if !t.set {
		return ""
	}
	return fmt.Sprint(t.v)
}
func (t *OptionalTimeout) Type() string { return "int" }
func (t *OptionalTimeout) ptr() *int {
	if !t.set {
		return nil
	}
	v := t.v
	return &v
}

func newStopCommand(c *CLI) *cobra.Command {
	var o stopOptions
	cmd := newEachContainerCommand(c, "stop [OPTIONS]", "Stop one or more running containers",
		func(ctx context.Context, api APIClient, name string) error {
			_, err := api.ContainerStop(ctx, name, client.ContainerStopOptions{Signal: o.Signal, Timeout: o.Timeout.ptr()})
			return err
		})
	cmd.Flags().StringVarP(&o.Signal, "signal", "s", "", "Signal to send to the container")
	cmd.Flags().VarP(&o.Timeout, "time", "t", "Seconds to wait before killing the container")
	cmd.Flags().Var(&o.Timeout, "timeout", "Seconds to wait before killing the container")
	_ = cmd.Flags().MarkHidden("timeout")
	return cmd
}

func newRestartCommand(c *CLI) *cobra.Command {
	var o stopOptions
	cmd := newEachContainerCommand(c, "restart [OPTIONS]", "Restart one or more containers",
		func(ctx context.Context, api APIClient, name string) error {
			_, err := api.ContainerRestart(ctx, name, client.ContainerRestartOptions{Signal: o.Signal, Timeout: o.Timeout.ptr()})
			return err
		})
	cmd.Flags().StringVarP(&o.Signal, "signal", "s", "", "Signal to send to the container")
	cmd.Flags().VarP(&o.Timeout, "time", "t", "Seconds to wait before killing the container")
	return cmd
}

func newKillCommand(c *CLI) *cobra.Command {
	var o client.ContainerKillOptions
	cmd := newEachContainerCommand(c, "kill [OPTIONS]", "Kill one or more running containers",
		func(ctx context.Context, api APIClient, name string) error {
			_, err := api.ContainerKill(ctx, name, o)
			return err
		})
	cmd.Flags().StringVarP(&o.Signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(c *CLI) *cobra.Command {
	var o client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(n string) error {
				n = strings.Trim(n, "/")
				if n == "" {
					return errors.New("container name cannot be empty")
				}
				_, err := api.ContainerRemove(cmd.Context(), n, o)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&o.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	cmd.Flags().BoolVarP(&o.RemoveLinks, "link", "l", false, "Remove the specified link")
	return cmd
}

func newRenameCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			if strings.TrimSpace(args[1]) == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			_, err = api.ContainerRename(cmd.Context(), args[0], client.ContainerRenameOptions{NewName: args[1]})
			return err
		},
	}
}

func newPauseCommand(c *CLI) *cobra.Command {
	return newEachContainerCommand(c, "pause", "Pause all processes within one or more containers",
		func(ctx context.Context, api APIClient, name string) error {
			_, err := api.ContainerPause(ctx, name, client.ContainerPauseOptions{})
			return err
		})
}

func newUnpauseCommand(c *CLI) *cobra.Command {
	return newEachContainerCommand(c, "unpause", "Unpause all processes within one or more containers",
		func(ctx context.Context, api APIClient, name string) error {
			_, err := api.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
			return err
		})
}

// newEachContainerCommand makes a `VERB CONTAINER...` command that applies do
// to each container, reporting each failure as docker does; callers add flags
// that do reads. verb may carry "[OPTIONS]".
func newEachContainerCommand(c *CLI, verb, short string, do func(ctx context.Context, api APIClient, name string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " CONTAINER [CONTAINER...]",
		Short: short,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(n string) error { return do(cmd.Context(), api, n) })
		},
	}
}

func newWaitCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			var errs []string
			for _, n := range args {
				w := api.ContainerWait(cmd.Context(), n, client.ContainerWaitOptions{})
				select {
				case r := <-w.Result:
					fmt.Fprintln(c.Out, r.StatusCode)
				case err := <-w.Error:
					errs = append(errs, err.Error())
				}
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
}

func newTopCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.ContainerTop(cmd.Context(), args[0], client.ContainerTopOptions{Arguments: args[1:]})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.Out, 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
			for _, p := range res.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
}

type statsOptions struct {
	All      bool
	NoStream bool
	NoTrunc  bool
	Format   string
}

func newStatsCommand(c *CLI) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), c, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.All, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVar(&o.NoStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&o.NoTrunc, "no-trunc", false, "Do not truncate output")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

// runStats keeps one streaming request per container and redraws the table every
// second (or prints it once with --no-stream).
func runStats(ctx context.Context, c *CLI, names []string, o statsOptions) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: o.All})
		if err != nil {
			return err
		}
		for _, s := range res.Items {
			names = append(names, s.ID)
		}
	}
	var mu sync.Mutex
	latest := make(map[string]format.Stats, len(names))
	var wg sync.WaitGroup
	var firstErr error
	for _, n := range names {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			res, err := api.ContainerStats(ctx, n, client.ContainerStatsOptions{Stream: !o.NoStream, IncludePreviousSample: o.NoStream})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			defer res.Body.Close()
			dec := json.NewDecoder(res.Body)
			for {
				var v container.StatsResponse
				if err := dec.Decode(&v); err != nil {
					return
				}
				mu.Lock()
				latest[n] = format.ComputeStats(n, v)
				mu.Unlock()
				if o.NoStream {
					return
				}
			}
		}(n)
	}
	render := func() error {
		mu.Lock()
		defer mu.Unlock()
		rows := make([]any, 0, len(names))
		for _, n := range names {
			if s, ok := latest[n]; ok {
				rows = append(rows, s)
			}
		}
		return format.Context{Output: c.Out, Format: o.Format, Trunc: !o.NoTrunc}.Write(format.DefaultStatsTable, format.StatsHeader, rows)
	}
	if o.NoStream {
		wg.Wait()
		if firstErr != nil && len(latest) == 0 {
			return firstErr
		}
		return render()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			fmt.Fprint(c.Out, "\033[2J\033[H") // clear screen, as docker does on a terminal
			if err := render(); err != nil {
				return err
			}
		}
	}
}

func newContainerPruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove all stopped containers",
		filterHint: `Provide filter values (e.g. "until=<timestamp>")`,
		warning:    func(bool) string { return "WARNING! This will remove all stopped containers." },
		run: func(ctx context.Context, api APIClient, _ bool, f client.Filters) error {
			res, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			printPruned(c, "Deleted Containers:", res.Report.ContainersDeleted, res.Report.SpaceReclaimed)
			return nil
		},
	})
}

// pruneSpec describes one noun's `prune`: what it warns about and does.
type pruneSpec struct {
	short      string
	filterHint string
	allUsage   string // usage of --all/-a; "" when the noun has no such flag
	warning    func(all bool) string
	run        func(ctx context.Context, api APIClient, all bool, f client.Filters) error
}

// newPruneCommand makes `prune [-f] [--filter …] [-a]` with docker's
// confirmation question.
func newPruneCommand(c *CLI, spec pruneSpec) *cobra.Command {
	var o struct {
		All    bool
		Force  bool
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: spec.short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !o.Force && !confirm(c, spec.warning(o.All)) {
				return nil
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			return spec.run(cmd.Context(), api, o.All, o.Filter.f)
		},
	}
	if spec.allUsage != "" {
		cmd.Flags().BoolVarP(&o.All, "all", "a", false, spec.allUsage)
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(&o.Filter, "filter", spec.filterHint)
	return cmd
}

func printPruned(c *CLI, title string, deleted []string, reclaimed uint64) {
	if len(deleted) > 0 {
		fmt.Fprintln(c.Out, title)
		for _, id := range deleted {
			fmt.Fprintln(c.Out, id)
		}
		fmt.Fprintln(c.Out)
	}
	fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
}

// confirm asks docker's "Are you sure" question on the client's streams.
func confirm(c *CLI, warning string) bool {
	fmt.Fprintf(c.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	var answer string
	_, _ = fmt.Fscanln(c.In, &answer)
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}

func newStartCommand(c *CLI) *cobra.Command {
	var o struct {
		Attach      bool
		Interactive bool
		DetachKeys  string
	}
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			if !o.Attach && !o.Interactive {
				return forEach(c, args, func(n string) error {
					_, err := api.ContainerStart(cmd.Context(), n, client.ContainerStartOptions{})
					return err
				})
			}
			if len(args) > 1 {
				return errors.New("you cannot start and attach multiple containers at once")
			}
			return runStartAttached(cmd.Context(), c, api, args[0], o.Interactive, o.DetachKeys)
		},
	}
	cmd.Flags().BoolVarP(&o.Attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&o.Interactive, "interactive", "i", false, "Attach container's STDIN")
	cmd.Flags().StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// runStartAttached is `start -a [-i]`: attach, register the wait, start, then relay
// streams and exit with the container's code.
func runStartAttached(ctx context.Context, c *CLI, api APIClient, name string, stdin bool, detachKeys string) error {
	info, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	cfg := info.Container.Config
	tty := cfg != nil && cfg.Tty
	stdin = stdin && cfg != nil && cfg.OpenStdin
	s := &session{c: c, api: api, id: info.Container.ID, tty: tty, stdin: stdin, detachKeys: detachKeys,
		sigProxy: !tty}
	if err := s.attach(ctx); err != nil {
		return err
	}
	defer s.close()
	waitC := api.ContainerWait(context.WithoutCancel(ctx), s.id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	s.relaySignals(ctx)
	if _, err := api.ContainerStart(ctx, s.id, client.ContainerStartOptions{}); err != nil {
		return err
	}
	return s.run(ctx, waitC)
}

func newAttachCommand(c *CLI) *cobra.Command {
	var o struct {
		NoStdin    bool
		SigProxy   bool
		DetachKeys string
	}
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := api.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			if info.Container.State == nil || !info.Container.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			if info.Container.State.Paused {
				return errors.New("You cannot attach to a paused container, unpause it first")
			}
			cfg := info.Container.Config
			tty := cfg != nil && cfg.Tty
			s := &session{c: c, api: api, id: info.Container.ID, tty: tty,
				stdin: !o.NoStdin && cfg != nil && cfg.OpenStdin, detachKeys: o.DetachKeys, sigProxy: o.SigProxy && !tty}
			if err := s.attach(ctx); err != nil {
				return err
			}
			defer s.close()
			waitC := api.ContainerWait(context.WithoutCancel(ctx), s.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			return s.run(ctx, waitC)
		},
	}
	cmd.Flags().BoolVar(&o.NoStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().BoolVar(&o.SigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	cmd.Flags().StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// copyOutput relays a container stream: raw with a TTY, demultiplexed otherwise.
func copyOutput(r io.Reader, tty bool, stdout, stderr io.Writer) error {
	var err error
	if tty {
		_, err = io.Copy(stdout, r)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, r)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
