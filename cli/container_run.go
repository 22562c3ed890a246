package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"wharf.io/wharf/cli/opts"
)

// createOptions are the flags of create (and run) that are not part of the container config.
type createOptions struct {
	Name     string
	Platform string
	Pull     string
	Quiet    bool
	c        opts.ContainerOptions
}

type runOptions struct {
	createOptions
	SigProxy   bool
	DetachKeys string
}

// addContainerFlags binds docker's run/create flags straight into o.
func addContainerFlags(f *pflag.FlagSet, o *createOptions) {
	c := &o.c
	f.SetInterspersed(false)             // flags after the image belong to the container's command
	f.Bool("help", false, "Print usage") // -h is --hostname, as in docker
	f.StringVar(&o.Name, "name", "", "Assign a name to the container")
	f.StringVar(&o.Platform, "platform", "", "Set platform if server is multi-platform capable")
	f.StringVar(&o.Pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress the pull output")

	f.StringSliceVarP(&c.Attach, "attach", "a", nil, "Attach to STDIN, STDOUT or STDERR")
	f.BoolVarP(&c.Interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&c.TTY, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringArrayVarP(&c.Env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&c.EnvFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&c.Workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&c.User, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&c.Hostname, "hostname", "h", "", "Container host name")
	f.Var(&c.Entrypoint, "entrypoint", "Overwrite the default ENTRYPOINT of the image")
	f.StringArrayVarP(&c.Volumes, "volume", "v", nil, "Bind mount a volume")
	f.StringArrayVar(&c.Mounts, "mount", nil, "Attach a filesystem mount to the container")
	f.StringArrayVar(&c.Tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	f.BoolVar(&c.ReadOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.StringVarP(&c.Memory, "memory", "m", "", "Memory limit")
	f.StringVar(&c.MemorySwap, "memory-swap", "", `Swap limit equal to memory plus swap: '-1' to enable unlimited swap`)
	f.StringVar(&c.CPUs, "cpus", "", "Number of CPUs")
	f.Int64VarP(&c.CPUShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&c.CPUQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&c.CPUPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&c.PidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringArrayVar(&c.Ulimits, "ulimit", nil, "Ulimit options")
	f.StringVar(&c.Restart, "restart", "no", "Restart policy to apply when a container exits")
	f.BoolVar(&c.AutoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.StringVar(&c.StopSignal, "stop-signal", "", "Signal to stop the container")
	f.Var(&c.StopTimeout, "stop-timeout", "Timeout (in seconds) to stop a container")
	f.StringVar(&c.HealthCmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&c.HealthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.DurationVar(&c.HealthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.DurationVar(&c.HealthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.DurationVar(&c.HealthStartInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	f.IntVar(&c.HealthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.BoolVar(&c.NoHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	f.StringArrayVarP(&c.Labels, "label", "l", nil, "Set meta data on a container")
	f.StringArrayVar(&c.LabelFiles, "label-file", nil, "Read in a line delimited file of labels")
	f.StringVar(&c.Runtime, "runtime", "", "Runtime to use for this container")
	f.StringVar(&c.Network, "network", "bridge", "Connect a container to a network")
	f.StringVar(&c.Network, "net", "bridge", "Connect a container to a network")
	_ = f.MarkHidden("net")
	f.StringSliceVar(&c.Aliases, "network-alias", nil, "Add network-scoped alias for the container")
	f.StringVar(&c.IPv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&c.MAC, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.StringArrayVarP(&c.Publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	f.BoolVarP(&c.PublishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.StringArrayVar(&c.Expose, "expose", nil, "Expose a port or a range of ports")
	f.StringArrayVar(&c.DNS, "dns", nil, "Set custom DNS servers")
	f.StringArrayVar(&c.DNSSearch, "dns-search", nil, "Set custom DNS search domains")
	f.StringArrayVar(&c.DNSOptions, "dns-option", nil, "Set DNS options")
	f.StringArrayVar(&c.AddHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	f.StringArrayVar(&c.CapAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringArrayVar(&c.CapDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.BoolVar(&c.Privileged, "privileged", false, "Give extended privileges to this container")
	f.StringArrayVar(&c.SecurityOpt, "security-opt", nil, "Security Options")
	f.Var(&c.Init, "init", "Run an init inside the container that forwards signals and reaps processes")
	f.Lookup("init").NoOptDefVal = "true"
}

func newCreateCommand(c *CLI) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			spec, err := o.c.Parse(args[0], args[1:], hostEnvironment())
			if err != nil {
				return StatusError{Status: err.Error(), StatusCode: 125}
			}
			id, err := createContainer(cmd.Context(), c, api, &o, spec)
			if err != nil {
				return runError(cmd, err, 125)
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	addContainerFlags(cmd.Flags(), &o)
	return cmd
}

func newRunCommand(c *CLI) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, c, &o, args)
		},
	}
	f := cmd.Flags()
	addContainerFlags(f, &o.createOptions)
	f.BoolVarP(&o.c.Detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&o.SigProxy, "sig-proxy", true, "Proxy received signals to the process")
	f.StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// hostEnvironment lets option parsing read the client's variables and files.
func hostEnvironment() opts.Environment {
	return opts.Environment{LookupEnv: os.LookupEnv, ReadFile: os.ReadFile}
}

// runError formats a run/create failure like docker ("wharf: <msg>" plus a help hint).
func runError(cmd *cobra.Command, err error, code int) error {
	root := cmd.Root().Name()
	return StatusError{
		Status:     fmt.Sprintf("%s: %s\nSee '%s --help'.", root, err, cmd.CommandPath()),
		StatusCode: code,
	}
}

func runRun(cmd *cobra.Command, c *CLI, o *runOptions, args []string) error {
	ctx := cmd.Context()
	spec, err := o.c.Parse(args[0], args[1:], hostEnvironment())
	if err != nil {
		return runError(cmd, err, 125)
	}
	cfg := spec.Config
	_, inIsTerm := term.GetFdInfo(c.In)
	if cfg.Tty && cfg.AttachStdin && !inIsTerm {
		return runError(cmd, fmt.Errorf("the input device is not a TTY"), 125)
	}
	if cfg.Tty {
		if h, w, ok := c.terminalSize(); ok {
			spec.HostConfig.ConsoleSize = [2]uint{h, w}
		}
	}
	api, err := c.Client()
	if err != nil {
		return runError(cmd, err, 125)
	}
	id, err := createContainer(ctx, c, api, &o.createOptions, spec)
	if err != nil {
		return runError(cmd, err, 125)
	}

	s := &session{c: c, api: api, id: id, tty: cfg.Tty, stdin: cfg.AttachStdin,
		noStdout: !cfg.AttachStdout, noStderr: !cfg.AttachStderr,
		sigProxy: o.SigProxy && !cfg.Tty, detachKeys: o.DetachKeys}
	// Attach, and register the wait so a fast exit is not missed (with --rm,
	// wait for the removal so the container is gone when we return), both
	// before start; the two requests go out together.
	var waitC client.ContainerWaitResult
	if !o.c.Detach {
		attached := make(chan error, 1)
		go func() { attached <- s.attach(ctx) }()
		cond := container.WaitConditionNextExit
		if spec.HostConfig.AutoRemove {
			cond = container.WaitConditionRemoved
		}
		waitC = api.ContainerWait(context.WithoutCancel(ctx), id, client.ContainerWaitOptions{Condition: cond})
		if err := <-attached; err != nil {
			return runError(cmd, err, 125)
		}
		defer s.close()
	}
	if !o.c.Detach {
		s.relaySignals(ctx)
	}
	if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if !o.c.Detach {
			s.close()
			if spec.HostConfig.AutoRemove {
				_ = waitExit(ctx, waitC) // the daemon removes it; don't leave before it did
			}
		}
		return runError(cmd, err, runErrExitCode(err))
	}
	if o.c.Detach {
		fmt.Fprintln(c.Out, id)
		return nil
	}
	return s.run(ctx, waitC)
}

// createContainer creates the container, pulling the image first when --pull says so
// (docker's "Unable to find image … locally" path).
func createContainer(ctx context.Context, c *CLI, api APIClient, o *createOptions, spec *opts.Container) (string, error) {
	var platform *ocispec.Platform
	if o.Platform != "" {
		p, err := parsePlatform(o.Platform)
		if err != nil {
			return "", err
		}
		platform = &p
	}
	switch o.Pull {
	case "always", "missing", "never":
	default:
		return "", fmt.Errorf("invalid pull option: %q: must be one of \"always\", \"missing\" or \"never\"", o.Pull)
	}
	req := client.ContainerCreateOptions{
		Config: spec.Config, HostConfig: spec.HostConfig, NetworkingConfig: spec.NetworkingConfig,
		Platform: platform, Name: o.Name,
	}
	if o.Pull == "always" {
		if err := pullImage(ctx, c, api, spec.Config.Image, platform, o.Quiet); err != nil {
			return "", err
		}
	}
	res, err := api.ContainerCreate(ctx, req)
	if err != nil && errdefs.IsNotFound(err) && o.Pull == "missing" {
		fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", familiarRef(spec.Config.Image))
		if perr := pullImage(ctx, c, api, spec.Config.Image, platform, o.Quiet); perr != nil {
			return "", perr
		}
		res, err = api.ContainerCreate(ctx, req)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.Err, "WARNING: %s\n", w)
	}
	return res.ID, nil
}

// familiarRef prints a reference as docker does in messages ("busybox:latest").
func familiarRef(s string) string {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarString(reference.TagNameOnly(ref))
}

// pullImage pulls ref, showing docker's progress output on stderr (stdout stays clean
// for the container's output).
func pullImage(ctx context.Context, c *CLI, api APIClient, ref string, platform *ocispec.Platform, quiet bool) error {
	auth, err := c.credentials(ref)
	if err != nil {
		return err
	}
	opts := client.ImagePullOptions{RegistryAuth: auth}
	if platform != nil {
		opts.Platforms = []ocispec.Platform{*platform}
	}
	resp, err := api.ImagePull(ctx, ref, opts)
	if err != nil {
		return err
	}
	defer resp.Close()
	out := c.Err
	if quiet {
		out = io.Discard
	}
	fd, isTerm := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm, nil)
}

type execOptions struct {
	Interactive bool
	TTY         bool
	Detach      bool
	Env         []string
	EnvFiles    []string
	Workdir     string
	User        string
	Privileged  bool
	DetachKeys  string
}

func newExecCommand(c *CLI) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), c, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.TTY, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: run command in the background")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.EnvFiles, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.User, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	f.BoolVar(&o.Privileged, "privileged", false, "Give extended privileges to the command")
	f.StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func runExec(ctx context.Context, c *CLI, o execOptions, name string, command []string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	// docker inspects first so a stopped container fails with a clear message.
	info, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	if info.Container.State == nil || !info.Container.State.Running {
		return fmt.Errorf("container %s is not running", name)
	}
	env, err := (&opts.ContainerOptions{Env: o.Env, EnvFiles: o.EnvFiles}).Parse("x", nil, hostEnvironment())
	if err != nil {
		return err
	}
	req := client.ExecCreateOptions{
		User: o.User, Privileged: o.Privileged, TTY: o.TTY, AttachStdin: o.Interactive && !o.Detach,
		AttachStdout: !o.Detach, AttachStderr: !o.Detach, DetachKeys: o.DetachKeys,
		Env: env.Config.Env, WorkingDir: o.Workdir, Cmd: command,
	}
	if o.TTY {
		if h, w, ok := c.terminalSize(); ok {
			req.ConsoleSize = client.ConsoleSize{Height: h, Width: w}
		}
	}
	_, inIsTerm := term.GetFdInfo(c.In)
	if o.TTY && req.AttachStdin && !inIsTerm {
		return fmt.Errorf("the input device is not a TTY")
	}
	created, err := api.ExecCreate(ctx, info.Container.ID, req)
	if err != nil {
		return err
	}
	if o.Detach {
		_, err := api.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: o.TTY})
		return err
	}
	att, err := api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: o.TTY, ConsoleSize: req.ConsoleSize})
	if err != nil {
		return err
	}
	s := &session{c: c, api: api, id: info.Container.ID, tty: o.TTY, stdin: req.AttachStdin,
		detachKeys: o.DetachKeys, resp: att.HijackedResponse, open: true,
		resize: func(ctx context.Context, h, w uint) error {
			_, err := api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: h, Width: w})
			return err
		}}
	defer s.close()
	if o.TTY {
		restore := s.setRawTerminal()
		defer restore()
		stop := s.monitorSize(ctx)
		defer stop()
	}
	if err := s.stream(ctx); err != nil && err != errDetached {
		return err
	}
	res, err := api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return StatusError{StatusCode: res.ExitCode}
	}
	return nil
}
