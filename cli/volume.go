package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
	"wharf.io/wharf/cli/opts"
)

func newVolumeCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume COMMAND",
		Short: "Manage volumes",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeLsCommand(c), newVolumeInspectCommand(c),
		newVolumeRmCommand(c), newVolumePruneCommand(c))
	return cmd
}

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	var o struct {
		Name   string
		Driver string
		Labels []string
		Opts   []string
	}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.Name != "" {
					return fmt.Errorf("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				o.Name = args[0]
			}
			labels, err := opts.ParseLabels(o.Labels)
			if err != nil {
				return err
			}
			driverOpts, err := opts.ParseKeyValues(o.Opts)
			if err != nil {
				return err
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{Name: o.Name, Driver: o.Driver, DriverOpts: driverOpts, Labels: labels})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.Volume.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "Specify volume name")
	_ = f.MarkHidden("name")
	f.StringVarP(&o.Driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVar(&o.Labels, "label", nil, "Set metadata for a volume")
	f.StringArrayVarP(&o.Opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

func newVolumeLsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: o.Filter.f})
			if err != nil {
				return err
			}
			fmtStr := o.Format
			if o.Quiet {
				fmtStr = format.QuietVolumeFormat
			}
			return format.Context{Output: c.Out, Format: fmtStr}.Write(format.DefaultVolumeTable, format.VolumeHeader, format.VolumeRows(res.Items))
		},
	}
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	cmd.Flags().VarP(&o.Filter, "filter", "f", "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

func newVolumeInspectCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, args, tmpl, inspectVolume)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			return forEach(c, args, func(n string) error {
				_, err := api.VolumeRemove(cmd.Context(), n, client.VolumeRemoveOptions{Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newVolumePruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove unused local volumes",
		filterHint: `Provide filter values (e.g. "label=<label>")`,
		allUsage:   "Remove all unused volumes, not just anonymous ones",
		warning: func(all bool) string {
			if all {
				return "WARNING! This will remove all local volumes not used by at least one container."
			}
			return "WARNING! This will remove anonymous local volumes not used by at least one container."
		},
		run: func(ctx context.Context, api APIClient, all bool, f client.Filters) error {
			res, err := api.VolumePrune(ctx, client.VolumePruneOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			printPruned(c, "Deleted Volumes:", res.Report.VolumesDeleted, res.Report.SpaceReclaimed)
			return nil
		},
	})
}
