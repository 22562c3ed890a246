package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
	"wharf.io/wharf/cli/opts"
)

// secretAPI is the part of the SDK the secret and config commands use,
// asserted from the client like serviceAPI.
type secretAPI interface {
	SecretList(ctx context.Context, options client.SecretListOptions) (client.SecretListResult, error)
	SecretCreate(ctx context.Context, options client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretInspect(ctx context.Context, id string, options client.SecretInspectOptions) (client.SecretInspectResult, error)
	SecretRemove(ctx context.Context, id string, options client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ConfigList(ctx context.Context, options client.ConfigListOptions) (client.ConfigListResult, error)
	ConfigCreate(ctx context.Context, options client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigInspect(ctx context.Context, id string, options client.ConfigInspectOptions) (client.ConfigInspectResult, error)
	ConfigRemove(ctx context.Context, id string, options client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
}

func (c *CLI) secretClient() (secretAPI, error) {
	return clientAs[secretAPI](c, "this client does not support swarm secrets and configs")
}

// readSecretData reads a secret's or config's content from a file, or from
// stdin for "-", as docker does.
func readSecretData(in io.Reader, file string) ([]byte, error) {
	if file == "-" {
		data, err := io.ReadAll(in)
		if err != nil {
			return nil, fmt.Errorf("error reading content from STDIN: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("error reading content from %q: %w", file, err)
	}
	return data, nil
}

// fileObject is what `secret ls` and `config ls` show of either kind.
type fileObject struct {
	id, name, driver string
	created, updated time.Time
}

func (r fileObject) ID() string     { return r.id }
func (r fileObject) Name() string   { return r.name }
func (r fileObject) Driver() string { return r.driver }
func (r fileObject) CreatedAt() string {
	return units.HumanDuration(time.Since(r.created)) + " ago"
}
func (r fileObject) UpdatedAt() string {
	return units.HumanDuration(time.Since(r.updated)) + " ago"
}

var fileObjectHeader = map[string]string{"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED"}

func secretObject(s swarm.Secret) fileObject {
	o := fileObject{id: s.ID, name: s.Spec.Name, created: s.CreatedAt, updated: s.UpdatedAt}
	if s.Spec.Driver != nil {
		o.driver = s.Spec.Driver.Name
	}
	return o
}

func configObject(s swarm.Config) fileObject {
	return fileObject{id: s.ID, name: s.Spec.Name, created: s.CreatedAt, updated: s.UpdatedAt}
}

func writeFileObjects(c *CLI, objs []fileObject, defaultTable, tmpl string, quiet bool) error {
	sort.Slice(objs, func(i, j int) bool { return objs[i].name < objs[j].name })
	rows := make([]any, 0, len(objs))
	for _, o := range objs {
		rows = append(rows, o)
	}
	if quiet {
		tmpl = "{{.ID}}"
	}
	return format.Context{Output: c.Out, Format: tmpl}.Write(defaultTable, fileObjectHeader, rows)
}

// prettyFileObject is `secret inspect --pretty` and `config inspect --pretty`.
func prettyFileObject(w io.Writer, o fileObject, labels map[string]string, data []byte, showData bool) {
	fmt.Fprintf(w, "ID:              %s\n", o.id)
	fmt.Fprintf(w, "Name:            %s\n", o.name)
	if len(labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " - %s=%s\n", k, labels[k])
		}
	}
	if !showData {
		fmt.Fprintf(w, "Driver:          %s\n", o.driver)
	}
	fmt.Fprintf(w, "Created at:      %s\n", o.created)
	fmt.Fprintf(w, "Updated at:      %s\n", o.updated)
	if showData {
		fmt.Fprintf(w, "Data:\n%s\n", data)
	}
}

func newSecretCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage Swarm secrets",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSecretCreateCommand(c), newFileLsCommand(c, secretKind), newFileInspectCommand(c, secretKind), newFileRmCommand(c, secretKind))
	return cmd
}

func newSecretCreateCommand(c *CLI) *cobra.Command {
	var o struct {
		Labels         []string
		Driver         string
		TemplateDriver string
	}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] SECRET [file|-]",
		Short: "Create a secret from a file or STDIN as content",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: args[0]}}
			if spec.Labels, err = opts.ParseLabels(o.Labels); err != nil {
				return err
			}
			if o.Driver != "" {
				spec.Driver = &swarm.Driver{Name: o.Driver}
			}
			if o.TemplateDriver != "" {
				spec.Templating = &swarm.Driver{Name: o.TemplateDriver}
			}
			if o.Driver == "" {
				if len(args) < 2 {
					return argsError(cmd, "requires exactly 2 arguments")
				}
				if spec.Data, err = readSecretData(c.In, args[1]); err != nil {
					return err
				}
			}
			res, err := api.SecretCreate(cmd.Context(), client.SecretCreateOptions{Spec: spec})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Labels, "label", "l", nil, "Secret labels")
	f.StringVarP(&o.Driver, "driver", "d", "", "Secret driver")
	f.StringVar(&o.TemplateDriver, "template-driver", "", "Template driver")
	return cmd
}

// forEachQuiet runs fn for every name and joins the errors, printing
// nothing itself (inspect --pretty prints its own output).
func forEachQuiet(names []string, fn func(string) error) error {
	var errs []error
	for _, n := range names {
		if err := fn(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fileKind is what the secret and config commands differ in: both are named
// files the swarm keeps, listed, inspected and removed alike.
type fileKind struct {
	noun, nouns string // "secret", "secrets"
	lsTable     string // `ls` default table
	showData    bool   // inspect --pretty prints the content (configs) or the driver (secrets)
	list        func(ctx context.Context, api secretAPI, f client.Filters) ([]fileObject, error)
	inspect     func(ctx context.Context, api secretAPI, ref string) (inspectedFile, error)
	remove      func(ctx context.Context, api secretAPI, ref string) error
}

type inspectedFile struct {
	obj    fileObject
	labels map[string]string
	data   []byte
	value  any // the API object, for --format
	raw    []byte
}

var secretKind = fileKind{
	noun: "secret", nouns: "secrets",
	lsTable: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
	list: func(ctx context.Context, api secretAPI, f client.Filters) ([]fileObject, error) {
		res, err := api.SecretList(ctx, client.SecretListOptions{Filters: f})
		if err != nil {
			return nil, err
		}
		objs := make([]fileObject, 0, len(res.Items))
		for _, s := range res.Items {
			objs = append(objs, secretObject(s))
		}
		return objs, nil
	},
	inspect: func(ctx context.Context, api secretAPI, ref string) (inspectedFile, error) {
		s, err := api.SecretInspect(ctx, ref, client.SecretInspectOptions{})
		if err != nil {
			return inspectedFile{}, err
		}
		return inspectedFile{obj: secretObject(s.Secret), labels: s.Secret.Spec.Labels, value: s.Secret, raw: s.Raw}, nil
	},
	remove: func(ctx context.Context, api secretAPI, ref string) error {
		_, err := api.SecretRemove(ctx, ref, client.SecretRemoveOptions{})
		return err
	},
}

var configKind = fileKind{
	noun: "config", nouns: "configs", showData: true,
	lsTable: "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
	list: func(ctx context.Context, api secretAPI, f client.Filters) ([]fileObject, error) {
		res, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		if err != nil {
			return nil, err
		}
		objs := make([]fileObject, 0, len(res.Items))
		for _, s := range res.Items {
			objs = append(objs, configObject(s))
		}
		return objs, nil
	},
	inspect: func(ctx context.Context, api secretAPI, ref string) (inspectedFile, error) {
		s, err := api.ConfigInspect(ctx, ref, client.ConfigInspectOptions{})
		if err != nil {
			return inspectedFile{}, err
		}
		return inspectedFile{obj: configObject(s.Config), labels: s.Config.Spec.Labels, data: s.Config.Spec.Data, value: s.Config, raw: s.Raw}, nil
	},
	remove: func(ctx context.Context, api secretAPI, ref string) error {
		_, err := api.ConfigRemove(ctx, ref, client.ConfigRemoveOptions{})
		return err
	},
}

func newFileLsCommand(c *CLI, k fileKind) *cobra.Command {
	var o struct {
		Quiet  bool
		Format string
		Filter filterFlag
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List " + k.nouns,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			objs, err := k.list(cmd.Context(), api, o.Filter.f)
			if err != nil {
				return err
			}
			return writeFileObjects(c, objs, k.lsTable, o.Format, o.Quiet)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func newFileInspectCommand(c *CLI, k fileKind) *cobra.Command {
	var o struct {
		Format string
		Pretty bool
	}
	upper := strings.ToUpper(k.noun)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] " + upper + " [" + upper + "...]",
		Short: "Display detailed information on one or more " + k.nouns,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			if o.Pretty {
				return forEachQuiet(args, func(ref string) error {
					in, err := k.inspect(cmd.Context(), api, ref)
					if err != nil {
						return err
					}
					prettyFileObject(c.Out, in.obj, in.labels, in.data, k.showData)
					return nil
				})
			}
			return runInspect(cmd.Context(), c, args, o.Format, func(ctx context.Context, _ APIClient, ref string) (inspected, error) {
				in, err := k.inspect(ctx, api, ref)
				if err != nil {
					return inspected{}, err
				}
				return inspected{value: in.value, raw: in.raw}, nil
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVar(&o.Pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func newFileRmCommand(c *CLI, k fileKind) *cobra.Command {
	upper := strings.ToUpper(k.noun)
	return &cobra.Command{
		Use:     "rm " + upper + " [" + upper + "...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more " + k.nouns,
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.secretClient()
			if err != nil {
				return err
			}
			return forEach(c, args, func(ref string) error { return k.remove(cmd.Context(), api, ref) })
		},
	}
}
