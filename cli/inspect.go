package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
)

// inspected is one object for `inspect`: its typed value and the daemon's raw JSON.
type inspected struct {
	value any
	raw   []byte
}

type inspectOptions struct {
	Format string
	Type   string
	Size   bool
}

func newInspectCommand(c *CLI) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Docker objects",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.Type {
			case "", "container", "image", "volume":
			default:
				return fmt.Errorf("%q is not a valid value for --type", o.Type)
			}
			return runInspect(cmd.Context(), c, args, o.Format, func(ctx context.Context, api APIClient, name string) (inspected, error) {
				return inspectAny(ctx, api, name, o)
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&o.Type, "type", "", "Only inspect objects of the given type")
	cmd.Flags().BoolVarP(&o.Size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// inspectAny tries the object kinds in docker's order: container, then image, then volume.
func inspectAny(ctx context.Context, api APIClient, name string, o inspectOptions) (inspected, error) {
	kinds := []string{"container", "image", "volume", "network"}
	if o.Type != "" {
		kinds = []string{o.Type}
	}
	var last error
	for _, k := range kinds {
		var it inspected
		var err error
		switch k {
		case "container":
			it, err = inspectContainer(ctx, api, name, o.Size)
		case "image":
			it, err = inspectImage(ctx, api, name)
		case "volume":
			it, err = inspectVolume(ctx, api, name)
		case "network":
			it, err = inspectNetwork(ctx, api, name)
		}
		if err == nil {
			return it, nil
		}
		if !errdefs.IsNotFound(err) {
			return inspected{}, err
		}
		last = err
	}
	if o.Type == "" {
		return inspected{}, fmt.Errorf("Error: No such object: %s", name)
	}
	return inspected{}, last
}

func inspectContainer(ctx context.Context, api APIClient, name string, size bool) (inspected, error) {
	r, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{Size: size})
	if err != nil {
		return inspected{}, err
	}
	return inspected{value: r.Container, raw: r.Raw}, nil
}

func inspectImage(ctx context.Context, api APIClient, name string) (inspected, error) {
	var raw bytes.Buffer
	r, err := api.ImageInspect(ctx, name, client.ImageInspectWithRawResponse(&raw))
	if err != nil {
		return inspected{}, err
	}
	return inspected{value: r.InspectResponse, raw: raw.Bytes()}, nil
}

func inspectVolume(ctx context.Context, api APIClient, name string) (inspected, error) {
	r, err := api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return inspected{}, err
	}
	return inspected{value: r.Volume, raw: r.Raw}, nil
}

type inspectFunc func(ctx context.Context, api APIClient, name string) (inspected, error)

// runInspect prints objects as docker does: an indented JSON array, or the template
// once per object. Missing objects are reported after the others are printed.
func runInspect(ctx context.Context, c *CLI, names []string, tmpl string, get inspectFunc) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	var items []inspected
	var errs []string
	for _, n := range names {
		it, err := get(ctx, api, n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		items = append(items, it)
	}
	if err := writeInspect(c.Out, tmpl, items); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func writeInspect(out io.Writer, tmplStr string, items []inspected) error {
	if tmplStr == "" {
		raws := make([]json.RawMessage, 0, len(items))
		for _, it := range items {
			raw := it.raw
			if len(raw) == 0 {
				raw, _ = json.Marshal(it.value)
			}
			raws = append(raws, raw)
		}
		b, err := json.MarshalIndent(raws, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	}
	if tmplStr == "json" {
		tmplStr = "{{json .}}"
	}
	tmpl, err := format.Parse(tmplStr)
	if err != nil {
		return err
	}
	for _, it := range items {
		var buf bytes.Buffer
		// Try the typed value first; fall back to the raw JSON so API field names
		// ({{.Id}}) work as in docker.
		if err := tmpl.Execute(&buf, it.value); err != nil {
			buf.Reset()
			var m any
			if jerr := json.Unmarshal(it.raw, &m); jerr != nil {
				return fmt.Errorf("template: %v", err)
			}
			if err := tmpl.Execute(&buf, m); err != nil {
				return fmt.Errorf("template: %v", err)
			}
		}
		buf.WriteByte('\n')
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func newContainerInspectCommand(c *CLI) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, args, o.Format, func(ctx context.Context, api APIClient, n string) (inspected, error) {
				return inspectContainer(ctx, api, n, o.Size)
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&o.Size, "size", "s", false, "Display total file sizes")
	return cmd
}
