package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-connections/tlsconfig"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// Version is the client version printed by `wharf --version` and `wharf version`;
// the build may override it with -ldflags "-X wharf.io/wharf/cli.Version=…".
var Version = "0.1.0-dev"

// DefaultHost is where the daemon listens unless -H, WHARF_HOST or DOCKER_HOST say otherwise.
const DefaultHost = "unix:///run/wharf/wharf.sock"

// Streams are the client's standard streams; commands never touch os.Std* directly.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// APIClient is the part of the moby SDK's *client.Client that wharf uses.
type APIClient interface {
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerPause(ctx context.Context, container string, options client.ContainerPauseOptions) (client.ContainerPauseResult, error)
	ContainerPrune(ctx context.Context, opts client.ContainerPruneOptions) (client.ContainerPruneResult, error)
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerRename(ctx context.Context, container string, options client.ContainerRenameOptions) (client.ContainerRenameResult, error)
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
	ContainerRestart(ctx context.Context, container string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStats(ctx context.Context, container string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	ContainerStop(ctx context.Context, container string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerTop(ctx context.Context, container string, options client.ContainerTopOptions) (client.ContainerTopResult, error)
	ContainerUnpause(ctx context.Context, container string, options client.ContainerUnpauseOptions) (client.ContainerUnpauseResult, error)
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult

	ExecCreate(ctx context.Context, container string, options client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecAttach(ctx context.Context, execID string, options client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecStart(ctx context.Context, execID string, options client.ExecStartOptions) (client.ExecStartResult, error)
	ExecInspect(ctx context.Context, execID string, options client.ExecInspectOptions) (client.ExecInspectResult, error)
	ExecResize(ctx context.Context, execID string, options client.ExecResizeOptions) (client.ExecResizeResult, error)

	ImageHistory(ctx context.Context, image string, opts ...client.ImageHistoryOption) (client.ImageHistoryResult, error)
	ImageImport(ctx context.Context, source client.ImageImportSource, ref string, options client.ImageImportOptions) (client.ImageImportResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageList(ctx context.Context, options client.ImageListOptions) (client.ImageListResult, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (client.ImageLoadResult, error)
	ImagePrune(ctx context.Context, opts client.ImagePruneOptions) (client.ImagePruneResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
	ImagePush(ctx context.Context, image string, options client.ImagePushOptions) (client.ImagePushResponse, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
	ImageTag(ctx context.Context, options client.ImageTagOptions) (client.ImageTagResult, error)

	VolumeCreate(ctx context.Context, options client.VolumeCreateOptions) (client.VolumeCreateResult, error)
	VolumeInspect(ctx context.Context, volumeID string, options client.VolumeInspectOptions) (client.VolumeInspectResult, error)
	VolumeList(ctx context.Context, options client.VolumeListOptions) (client.VolumeListResult, error)
	VolumeRemove(ctx context.Context, volumeID string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	VolumePrune(ctx context.Context, options client.VolumePruneOptions) (client.VolumePruneResult, error)
	NetworkCreate(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkInspect(ctx context.Context, networkID string, options client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	NetworkRemove(ctx context.Context, networkID string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	NetworkPrune(ctx context.Context, options client.NetworkPruneOptions) (client.NetworkPruneResult, error)
	NetworkConnect(ctx context.Context, networkID string, options client.NetworkConnectOptions) (client.NetworkConnectResult, error)
	NetworkDisconnect(ctx context.Context, networkID string, options client.NetworkDisconnectOptions) (client.NetworkDisconnectResult, error)

	RegistryLogin(ctx context.Context, options client.RegistryLoginOptions) (client.RegistryLoginResult, error)

	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	DiskUsage(ctx context.Context, options client.DiskUsageOptions) (client.DiskUsageResult, error)
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
	ClientVersion() string
	DaemonHost() string
	Close() error
}

var _ APIClient = (*client.Client)(nil)

// globalOptions are the flags every command accepts (docker's top-level flags).
type globalOptions struct {
	Host      string
	TLS       bool
	TLSVerify bool
	TLSCACert string
	TLSCert   string
	TLSKey    string
	Debug     bool
	LogLevel  string
}

// CLI carries the streams and the lazily made daemon connection to every command.
type CLI struct {
	Streams
	opts   globalOptions
	client APIClient
	// newClient is replaceable so tests can run commands against a fake.
	newClient func(globalOptions) (APIClient, error)
}

// Client connects to the daemon on first use, so --help and flag errors need no daemon.
func (c *CLI) Client() (APIClient, error) {
	if c.client != nil {
		return c.client, nil
	}
	cl, err := c.newClient(c.opts)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// clientAs is the daemon connection as the wider SDK interface T a command
// needs beyond APIClient; unsupported names what the client lacks when the
// connection (a test fake, say) does not implement T.
func clientAs[T any](c *CLI, unsupported string) (T, error) {
	var zero T
	api, err := c.Client()
	if err != nil {
		return zero, err
	}
	t, ok := api.(T)
	if !ok {
		return zero, errors.New(unsupported)
	}
	return t, nil
}

// hostFromEnv picks the daemon address: -H, then WHARF_HOST, then DOCKER_HOST, then the default.
func hostFromEnv(flag string, getenv func(string) string) string {
	for _, h := range []string{flag, getenv("WHARF_HOST"), getenv("DOCKER_HOST")} {
		if h != "" {
			return h
		}
	}
	return DefaultHost
}

// newSDKClient builds the moby SDK client with docker's TLS rules: --tlsverify (or
// DOCKER_TLS_VERIFY) verifies the daemon against the CA; --tls alone encrypts without
// verifying; certificates default to DOCKER_CERT_PATH or ~/.docker.
func newSDKClient(o globalOptions) (APIClient, error) {
	host := hostFromEnv(o.Host, os.Getenv)
	if _, err := client.ParseHostURL(host); err != nil {
		return nil, fmt.Errorf("invalid host %q: %w", host, err)
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation(), client.WithUserAgent("wharf/" + Version)}
	if o.TLSVerify || o.TLS {
		certDir := os.Getenv("DOCKER_CERT_PATH")
		if certDir == "" {
			home, _ := os.UserHomeDir()
			certDir = filepath.Join(home, ".docker")
		}
		orDefault := func(v, name string) string {
			if v != "" {
				return v
			}
			if p := filepath.Join(certDir, name); fileExists(p) {
				return p
			}
			return ""
		}
		ca, cert, key := orDefault(o.TLSCACert, "ca.pem"), orDefault(o.TLSCert, "cert.pem"), orDefault(o.TLSKey, "key.pem")
		tlsOpts := tlsconfig.Options{CAFile: ca, CertFile: cert, KeyFile: key, ExclusiveRootPools: true,
			MinVersion: tls.VersionTLS12, InsecureSkipVerify: !o.TLSVerify}
		if !o.TLSVerify {
			tlsOpts.CAFile = ""
		}
		cfg, err := tlsconfig.Client(tlsOpts)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, CheckRedirect: client.CheckRedirect}))
	}
	opts = append(opts, client.WithHost(host))
	return client.New(opts...)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// NewRootCommand builds the whole `wharf` command tree.
func NewRootCommand(streams Streams) *cobra.Command {
	c := &CLI{Streams: streams, newClient: newSDKClient}
	return newRootCommand(c)
}

// NewRootCommandFor builds the tree for running args: only the top-level
// command they name, when they name one. Building all ~50 commands with
// their flags costs ~1.5 ms, a fifth of the client's start-up.
func NewRootCommandFor(streams Streams, args []string) *cobra.Command {
	c := &CLI{Streams: streams, newClient: newSDKClient}
	root := newRootTree(c, commandName(args))
	root.SetArgs(args)
	return root
}

func newRootCommand(c *CLI) *cobra.Command { return newRootTree(c, "") }

func newRootTree(c *CLI, only string) *cobra.Command {
	root := &cobra.Command{
		Use:              "wharf [OPTIONS] COMMAND [ARG...]",
		Short:            "A self-sufficient runtime for containers",
		Version:          Version,
		SilenceErrors:    true,
		SilenceUsage:     true,
		TraverseChildren: true,
		Args:             noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("tlsverify") && os.Getenv("DOCKER_TLS_VERIFY") != "" {
				c.opts.TLSVerify = true
			}
			return nil
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(c.In)
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	root.SetVersionTemplate("wharf version {{.Version}}\n")
	root.SetFlagErrorFunc(flagErrorFunc)
	root.SetHelpCommand(&cobra.Command{Hidden: true})
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate("\n{{.UsageString}}")

	f := root.PersistentFlags()
	f.StringVarP(&c.opts.Host, "host", "H", "", "Daemon socket to connect to")
	f.BoolVar(&c.opts.TLS, "tls", false, "Use TLS; implied by --tlsverify")
	f.BoolVar(&c.opts.TLSVerify, "tlsverify", false, "Use TLS and verify the remote")
	f.StringVar(&c.opts.TLSCACert, "tlscacert", "", "Trust certs signed only by this CA")
	f.StringVar(&c.opts.TLSCert, "tlscert", "", "Path to TLS certificate file")
	f.StringVar(&c.opts.TLSKey, "tlskey", "", "Path to TLS key file")
	f.BoolVarP(&c.opts.Debug, "debug", "D", false, "Enable debug mode")
	f.StringVar(&c.opts.LogLevel, "log-level", "info", `Set the logging level ("debug", "info", "warn", "error", "fatal")`)
	root.Flags().BoolP("version", "v", false, "Print version information and quit")

	addCommands(root, c, only)
	polish(root)
	return root
}

// polish applies docker's help conventions to the whole tree: no "[flags]" suffix on
// usage lines and "Print usage" as the help flag text. Commands that use -h for
// something else (run/create --hostname) define their own --help first.
func polish(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	cmd.InitDefaultHelpFlag()
	if h := cmd.Flags().Lookup("help"); h != nil {
		h.Usage = "Print usage"
	}
	for _, sub := range cmd.Commands() {
		polish(sub)
	}
}

// topLevel lists the top-level commands by name, so that a run of the
// client can build just the one it was asked for (see NewRootCommandFor).
var topLevel = []struct {
	name, group string
	build       func(*CLI) *cobra.Command
}{
	{"run", "common", newRunCommand}, {"exec", "common", newExecCommand}, {"ps", "common", newPsCommand},
	{"images", "common", newImagesCommand}, {"pull", "common", newPullCommand}, {"push", "common", newPushCommand},
	{"login", "common", newLoginCommand}, {"logout", "common", newLogoutCommand},
	{"version", "common", newVersionCommand}, {"info", "common", newInfoCommand},

	{"container", "management", newContainerCommand}, {"image", "management", newImageCommand},
	{"network", "management", newNetworkCommand}, {"volume", "management", newVolumeCommand},
	{"system", "management", newSystemCommand}, {"builder", "management", newBuilderCommand},
	{"swarm", "management", newSwarmCommand}, {"node", "management", newNodeCommand},
	{"service", "management", newServiceCommand}, {"stack", "management", newStackCommand},
	{"secret", "management", newSecretCommand}, {"config", "management", newConfigCommand},

	{"attach", "commands", newAttachCommand}, {"build", "commands", newBuildCommand},
	{"create", "commands", newCreateCommand}, {"events", "commands", newEventsCommand},
	{"history", "commands", newHistoryCommand}, {"import", "commands", newImportCommand},
	{"inspect", "commands", newInspectCommand}, {"kill", "commands", newKillCommand},
	{"load", "commands", newLoadCommand}, {"logs", "commands", newLogsCommand},
	{"pause", "commands", newPauseCommand}, {"port", "commands", newPortCommand},
	{"rename", "commands", newRenameCommand}, {"restart", "commands", newRestartCommand},
	{"rm", "commands", newRmCommand}, {"rmi", "commands", newRmiCommand},
	{"save", "commands", newSaveCommand}, {"start", "commands", newStartCommand},
	{"stats", "commands", newStatsCommand}, {"stop", "commands", newStopCommand},
	{"tag", "commands", newTagCommand}, {"top", "commands", newTopCommand},
	{"unpause", "commands", newUnpauseCommand}, {"wait", "commands", newWaitCommand},
	{"daemon", "commands", newDaemonCommand}, {"registry", "commands", newRegistryCommand},
}

// addCommands adds the top-level command named only, or all of them when
// only is "" (help, completion, an unknown command).
func addCommands(root *cobra.Command, c *CLI, only string) {
	root.AddGroup(
		&cobra.Group{ID: "common", Title: "Common Commands:"},
		&cobra.Group{ID: "management", Title: "Management Commands:"},
		&cobra.Group{ID: "commands", Title: "Commands:"},
	)
	for _, tc := range topLevel {
		if only != "" && tc.name != only {
			continue
		}
		cmd := tc.build(c)
		cmd.GroupID = tc.group
		root.AddCommand(cmd)
	}
}

// commandName is the top-level command args ask for, if it is one of
// topLevel, else "". Global options before it are skipped, with the values
// of those that take one.
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case a == "-H" || a == "--host" || a == "--tlscacert" || a == "--tlscert" || a == "--tlskey" || a == "--log-level":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			for _, tc := range topLevel {
				if tc.name == a {
					return a
				}
			}
			return ""
		}
	}
	return ""
}

// usageTemplate is cobra's default with docker's "Run '… --help'" footer and wording.
const usageTemplate = `Usage:{{if .Runnable}}  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}{{if not .Runnable}}  {{.CommandPath}} [OPTIONS] COMMAND{{end}}{{end}}

{{.Short}}
{{if gt (len .Aliases) 0}}
Aliases:
  {{.NameAndAliases}}
{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}
Commands:{{range $cmds}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{else}}{{range $group := .Groups}}
{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) .IsAvailableCommand)}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}
{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}
{{if .HasParent}}Options{{else}}Global Options{{end}}:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}{{if .HasAvailableSubCommands}}
Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{end}}`

// StatusError carries a message already formatted for the user and the process exit code.
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("exit status %d", e.StatusCode)
	}
	return e.Status
}

// flagErrorFunc makes bad flags exit 125 with docker's hint line.
func flagErrorFunc(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return StatusError{
		Status:     fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath()),
		StatusCode: 125,
	}
}

// PrintError writes err the way the docker CLI does (StatusErrors are preformatted).
func PrintError(w io.Writer, err error) {
	if err == nil {
		return
	}
	var se StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(w, se.Status)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// ExitCode maps a command's error to docker's exit codes: 0 on success, the StatusError's
// code (125 daemon/flag error, 126/127 for a container command that cannot be invoked
// or found, the container's own code from run/start/wait), 130 when interrupted,
// and 1 for other failures.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) {
		if se.StatusCode == 0 {
			return 1
		}
		return se.StatusCode
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

// runErrExitCode classifies a failure to start a container's process. The daemon's HTTP
// error carries no class finer than "internal", so — like the docker CLI — the message
// is the only signal: this is the single place wharf matches error text.
func runErrExitCode(err error) int {
	msg := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

// noArgs and the helpers below validate positional arguments with docker's messages.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return fmt.Errorf("%s: unknown command: %s %s\n\nRun '%s --help' for more information", cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.CommandPath())
	}
	return argsError(cmd, "accepts no arguments")
}

func argsError(cmd *cobra.Command, what string) error {
	return StatusError{
		Status:     fmt.Sprintf("%q %s.\n\nUsage:  %s\n\n%s", cmd.CommandPath(), what, cmd.UseLine(), cmd.Short),
		StatusCode: 1,
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires exactly %d %s", n, plural(n, "argument")))
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n, "argument")))
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %d arguments", lo, hi))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// forEach runs fn for every name, printing each success like docker (`wharf stop a b`
// prints a and b) and joining failures into one error.
func forEach(c *CLI, names []string, fn func(name string) error) error {
	var errs []string
	for _, n := range names {
		if err := fn(n); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		fmt.Fprintln(c.Out, n)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}
