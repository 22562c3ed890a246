package cli

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/opts"
)

func newConfigCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage Swarm configs",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigCreateCommand(c), newConfigLsCommand(c), newConfigInspectCommand(c), newConfigRmCommand(c))
	return cmd
}

func newConfigCreateCommand(c *CLI) *cobra.Command {
	var o struct {
		Labels         []string
		TemplateDriver string
	}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONFIG file|-",
		Short: "Create a config from a file or STDIN",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			spec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: args[0]}}
			if spec.Labels, err = opts.ParseLabels(o.Labels); err != nil {
				return err
			}
			if o.TemplateDriver != "" {
				spec.Templating = &swarm.Driver{Name: o.TemplateDriver}
			}
			if spec.Data, err = readSecretData(c.In, args[1]); err != nil {
				return err
			}
			res, err := api.ConfigCreate(cmd.Context(), client.ConfigCreateOptions{Spec: spec})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Labels, "label", "l", nil, "Config labels")
	f.StringVar(&o.TemplateDriver, "template-driver", "", "Template driver")
	return cmd
}

func newConfigLsCommand(c *CLI) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List configs",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			res, err := api.ConfigList(cmd.Context(), client.ConfigListOptions{Filters: o.Filter.f})
			if err != nil {
				return err
			}
			objs := make([]fileObject, 0, len(res.Items))
			for _, s := range res.Items {
				objs = append(objs, configObject(s))
			}
			return writeFileObjects(c, objs, "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}", o.Format, o.Quiet)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func newConfigInspectCommand(c *CLI) *cobra.Command {
	var o struct {
		Format string
		Pretty bool
	}
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONFIG [CONFIG...]",
		Short: "Display detailed information on one or more configs",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			if o.Pretty {
				return forEachQuiet(args, func(ref string) error {
					s, err := api.ConfigInspect(cmd.Context(), ref, client.ConfigInspectOptions{})
					if err != nil {
						return err
					}
					prettyFileObject(c.Out, configObject(s.Config), s.Config.Spec.Labels, s.Config.Spec.Data, true)
					return nil
				})
			}
			return runInspect(cmd.Context(), c, args, o.Format, func(ctx context.Context, _ APIClient, ref string) (inspected, error) {
				s, err := api.ConfigInspect(ctx, ref, client.ConfigInspectOptions{})
				if err != nil {
					return inspected{}, err
				}
				return inspected{value: s.Config, raw: s.Raw}, nil
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVar(&o.Pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func newConfigRmCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "rm CONFIG [CONFIG...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more configs",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			return forEach(c, args, func(ref string) error {
				_, err := api.ConfigRemove(cmd.Context(), ref, client.ConfigRemoveOptions{})
				return err
			})
		},
	}
}
