package cli

import (
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
	cmd.AddCommand(newConfigCreateCommand(c), newFileLsCommand(c, configKind), newFileInspectCommand(c, configKind), newFileRmCommand(c, configKind))
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
