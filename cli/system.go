package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
)

func newSystemCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system COMMAND",
		Short: "Manage Docker",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDfCommand(c), newEventsCommand(c), newInfoCommand(c), newSystemPruneCommand(c))
	return cmd
}

// clientVersion is the "Client:" half of `version`, named as docker's template fields are.
type clientVersion struct {
	Platform   struct{ Name string }
	Version    string
	APIVersion string `json:"ApiVersion"`
	GoVersion  string
	Os         string
	Arch       string
	Context    string
}

type versionInfo struct {
	Client clientVersion
	Server *client.ServerVersionResult
}

const versionTemplate = `Client:{{if .Client.Platform.Name}} {{.Client.Platform.Name}}{{end}}
 Version:           {{.Client.Version}}
 API version:       {{.Client.APIVersion}}
 Go version:        {{.Client.GoVersion}}
 OS/Arch:           {{.Client.Os}}/{{.Client.Arch}}
 Context:           {{.Client.Context}}
{{- if .Server}}{{with .Server}}

Server:{{if .Platform.Name}} {{.Platform.Name}}{{end}}
 Engine:
  Version:          {{.Version}}
  API version:      {{.APIVersion}} (minimum version {{.MinAPIVersion}})
  OS/Arch:          {{.Os}}/{{.Arch}}
  Experimental:     {{.Experimental}}
{{- range .Components}}{{if ne .Name "Engine"}}
 {{.Name}}:
  Version:          {{.Version}}{{end}}{{end}}{{end}}{{end}}`

func newVersionCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), c, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func runVersion(ctx context.Context, c *CLI, tmplStr string) error {
	v := versionInfo{Client: clientVersion{
		Version: Version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, Context: "default",
	}}
	v.Client.Platform.Name = "wharf"
	api, err := c.Client()
	var serverErr error
	if err != nil {
		serverErr = err
	} else {
		sv, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
		v.Client.APIVersion = api.ClientVersion()
		if err != nil {
			serverErr = err
		} else {
			v.Server = &sv
		}
	}
	if tmplStr == "" {
		tmplStr = versionTemplate
	} else if tmplStr == "json" {
		tmplStr = "{{json .}}"
	}
	tmpl, err := format.Parse(tmplStr)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(c.Out, v); err != nil {
		return fmt.Errorf("template: %v", err)
	}
	fmt.Fprintln(c.Out)
	return serverErr
}

type infoView struct {
	*system.Info
	ClientInfo   clientVersion
	ServerErrors []string
}

func newInfoCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			view := infoView{ClientInfo: clientVersion{Version: Version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, Context: "default"}}
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				if tmpl == "" {
					printClientInfo(c.Out, view.ClientInfo)
					fmt.Fprintln(c.Out, "\nServer:")
				}
				return err
			}
			view.Info = &res.Info
			if tmpl != "" {
				if tmpl == "json" {
					tmpl = "{{json .}}"
				}
				t, err := format.Parse(tmpl)
				if err != nil {
					return err
				}
				if err := t.Execute(c.Out, view); err != nil {
					return fmt.Errorf("template: %v", err)
				}
				fmt.Fprintln(c.Out)
				return nil
			}
			printClientInfo(c.Out, view.ClientInfo)
			printServerInfo(c.Out, &res.Info)
			return nil
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func printClientInfo(w io.Writer, v clientVersion) {
	fmt.Fprintf(w, "Client:\n Version:    %s\n Context:    %s\n Debug Mode: false\n", v.Version, v.Context)
}

func printServerInfo(w io.Writer, i *system.Info) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("\nServer:")
	p(" Containers: %d", i.Containers)
	p("  Running: %d", i.ContainersRunning)
	p("  Paused: %d", i.ContainersPaused)
	p("  Stopped: %d", i.ContainersStopped)
	p(" Images: %d", i.Images)
	p(" Server Version: %s", i.ServerVersion)
	p(" Storage Driver: %s", i.Driver)
	for _, kv := range i.DriverStatus {
		p("  %s: %s", kv[0], kv[1])
	}
	p(" Logging Driver: %s", i.LoggingDriver)
	p(" Cgroup Driver: %s", i.CgroupDriver)
	if i.CgroupVersion != "" {
		p(" Cgroup Version: %s", i.CgroupVersion)
	}
	printSwarmInfo(w, i)
	if len(i.Runtimes) > 0 {
		names := make([]string, 0, len(i.Runtimes))
		for n := range i.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		p(" Runtimes: %s", strings.Join(names, " "))
	}
	p(" Default Runtime: %s", i.DefaultRuntime)
	if len(i.SecurityOptions) > 0 {
		p(" Security Options:")
		for _, o := range i.SecurityOptions {
			p("  %s", o)
		}
	}
	p(" Kernel Version: %s", i.KernelVersion)
	p(" Operating System: %s", i.OperatingSystem)
	p(" OSType: %s", i.OSType)
	p(" Architecture: %s", i.Architecture)
	p(" CPUs: %d", i.NCPU)
	p(" Total Memory: %s", units.BytesSize(float64(i.MemTotal)))
	p(" Name: %s", i.Name)
	p(" ID: %s", i.ID)
	p(" Docker Root Dir: %s", i.DockerRootDir)
	p(" Debug Mode: %v", i.Debug)
	p(" Experimental: %v", i.ExperimentalBuild)
	p(" Live Restore Enabled: %v", i.LiveRestoreEnabled)
	for _, warn := range i.Warnings {
		p("%s", warn)
	}
}

func newDfCommand(c *CLI) *cobra.Command {
	var o struct {
		Verbose bool
		Format  string
	}
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show docker disk usage",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			du, err := api.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: o.Verbose})
			if err != nil {
				return err
			}
			return writeDiskUsage(c.Out, du, o.Verbose, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

// writeDiskUsage prints docker's `system df` summary table, and with -v the per-object tables.
func writeDiskUsage(out io.Writer, du client.DiskUsageResult, verbose bool, now time.Time) error {
	w := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	fmt.Fprintln(w, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	row := func(name string, total, active, size, reclaim int64) {
		pct := 0
		if size > 0 {
			pct = int(reclaim * 100 / size)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s (%d%%)\n", name, total, active,
			units.HumanSize(float64(size)), units.HumanSize(float64(reclaim)), pct)
	}
	row("Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, du.Images.Reclaimable)
	row("Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable)
	row("Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable)
	row("Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable)
	if err := w.Flush(); err != nil {
		return err
	}
	if !verbose {
		return nil
	}
	fmt.Fprint(out, "\nImages space usage:\n\n")
	if err := (format.Context{Output: out}).Write("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		format.ImageHeader, format.ImageRows(du.Images.Items, false, true, now)); err != nil {
		return err
	}
	fmt.Fprint(out, "\nContainers space usage:\n\n")
	var crow []any
	for _, s := range du.Containers.Items {
		crow = append(crow, format.NewContainer(s, true, now))
	}
	if err := (format.Context{Output: out}).Write("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
		format.ContainerHeader, crow); err != nil {
		return err
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	return (format.Context{Output: out}).Write("table {{.Name}}\t{{.Links}}\t{{.Size}}", format.VolumeHeader, format.VolumeRows(du.Volumes.Items))
}

func newSystemPruneCommand(c *CLI) *cobra.Command {
	var o struct {
		All     bool
		Force   bool
		Volumes bool
		Filter  filterFlag
	}
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
			if o.Volumes {
				warning += "  - all anonymous volumes not used by at least one container\n"
			}
			if o.All {
				warning += "  - all images without at least one container associated to them\n"
			} else {
				warning += "  - all dangling images\n"
			}
			if !o.Force && !confirm(c, strings.TrimSuffix(warning, "\n")) {
				return nil
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var total uint64
			cr, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: o.Filter.f})
			if err != nil {
				return err
			}
			total += cr.Report.SpaceReclaimed
			if len(cr.Report.ContainersDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Containers:")
				for _, id := range cr.Report.ContainersDeleted {
					fmt.Fprintln(c.Out, id)
				}
				fmt.Fprintln(c.Out)
			}
			if o.Volumes {
				vr, err := api.VolumePrune(ctx, client.VolumePruneOptions{Filters: o.Filter.f})
				if err != nil {
					return err
				}
				total += vr.Report.SpaceReclaimed
				if len(vr.Report.VolumesDeleted) > 0 {
					fmt.Fprintln(c.Out, "Deleted Volumes:")
					for _, n := range vr.Report.VolumesDeleted {
						fmt.Fprintln(c.Out, n)
					}
					fmt.Fprintln(c.Out)
				}
			}
			filters := o.Filter.f.Clone()
			if filters == nil {
				filters = client.Filters{}
			}
			filters.Add("dangling", fmt.Sprint(!o.All))
			ir, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
			if err != nil {
				return err
			}
			total += ir.Report.SpaceReclaimed
			if len(ir.Report.ImagesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Images:")
				printDeleted(c.Out, ir.Report.ImagesDeleted)
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(total)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused images not just dangling ones")
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVar(&o.Volumes, "volumes", false, "Prune anonymous volumes")
	cmd.Flags().Var(&o.Filter, "filter", `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}

func newEventsCommand(c *CLI) *cobra.Command {
	var o struct {
		Since  string
		Until  string
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res := api.Events(ctx, client.EventsListOptions{Since: o.Since, Until: o.Until, Filters: o.Filter.f})
			var tmplFn func(events.Message) error
			if o.Format != "" {
				f := o.Format
				if f == "json" {
					f = "{{json .}}"
				}
				t, err := format.Parse(f)
				if err != nil {
					return err
				}
				tmplFn = func(m events.Message) error {
					if err := t.Execute(c.Out, m); err != nil {
						return err
					}
					_, err := fmt.Fprintln(c.Out)
					return err
				}
			}
			for {
				select {
				case m := <-res.Messages:
					if tmplFn != nil {
						if err := tmplFn(m); err != nil {
							return err
						}
						continue
					}
					writeEvent(c.Out, m)
				case err := <-res.Err:
					if err == nil || err == io.EOF || ctx.Err() != nil {
						return nil // --until reached or interrupted
					}
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Since, "since", "", "Show all events created since timestamp")
	f.StringVar(&o.Until, "until", "", "Stream events until this timestamp")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

// writeEvent prints docker's event line:
// 2026-01-02T15:04:05.000000000Z container start <id> (image=busybox, name=web)
func writeEvent(w io.Writer, m events.Message) {
	if m.TimeNano != 0 {
		fmt.Fprintf(w, "%s ", time.Unix(0, m.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00"))
	} else if m.Time != 0 {
		fmt.Fprintf(w, "%s ", time.Unix(m.Time, 0).Format("2006-01-02T15:04:05.000000000Z07:00"))
	}
	fmt.Fprintf(w, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, k+"="+m.Actor.Attributes[k])
		}
		fmt.Fprintf(w, " (%s)", strings.Join(attrs, ", "))
	}
	fmt.Fprintln(w)
}
