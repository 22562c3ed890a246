package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"wharf.io/wharf/cli/format"
)

func newImageCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image COMMAND",
		Short: "Manage images",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list", "images"}
	rm := newRmiCommand(c)
	rm.Use, rm.Aliases = "rm [OPTIONS] IMAGE [IMAGE...]", []string{"remove", "rmi"}
	cmd.AddCommand(newHistoryCommand(c), newImportCommand(c), newImageInspectCommand(c), newLoadCommand(c),
		ls, newImagePruneCommand(c), newPullCommand(c), newPushCommand(c), rm, newSaveCommand(c), newTagCommand(c))
	return cmd
}

type imagesOptions struct {
	Quiet   bool
	All     bool
	NoTrunc bool
	Digests bool
	Format  string
	Filter  filterFlag
}

func newImagesCommand(c *CLI) *cobra.Command {
	var o imagesOptions
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), c, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Only show image IDs")
	f.BoolVarP(&o.All, "all", "a", false, "Show all images (default hides intermediate images)")
	f.BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVar(&o.Digests, "digests", false, "Show digests")
	f.StringVar(&o.Format, "format", "", "Format output using a custom template")
	f.VarP(&o.Filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func runImages(ctx context.Context, c *CLI, o imagesOptions, args []string) error {
	api, err := c.Client()
	if err != nil {
		return err
	}
	filters := o.Filter.f
	if len(args) == 1 {
		if filters == nil {
			filters = client.Filters{}
		}
		filters.Add("reference", args[0])
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: o.All, Filters: filters})
	if err != nil {
		return err
	}
	fmtStr := o.Format
	if o.Quiet {
		fmtStr = format.QuietImageFormat
	}
	def := format.DefaultImageTable
	if o.Digests {
		def = format.DefaultImageTableDigests
	}
	rows := format.ImageRows(res.Items, o.Digests || strings.Contains(fmtStr, ".Digest"), !o.NoTrunc, time.Now())
	return format.Context{Output: c.Out, Format: fmtStr, Trunc: !o.NoTrunc}.Write(def, format.ImageHeader, rows)
}

func newRmiCommand(c *CLI) *cobra.Command {
	var o struct{ Force, NoPrune bool }
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			var errs []string
			for _, ref := range args {
				res, err := api.ImageRemove(cmd.Context(), ref, client.ImageRemoveOptions{Force: o.Force, PruneChildren: !o.NoPrune})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				printDeleted(c.Out, res.Items)
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&o.NoPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func printDeleted(w io.Writer, items []image.DeleteResponse) {
	for _, d := range items {
		if d.Untagged != "" {
			fmt.Fprintln(w, "Untagged:", d.Untagged)
		}
		if d.Deleted != "" {
			fmt.Fprintln(w, "Deleted:", d.Deleted)
		}
	}
}

func newTagCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, err = api.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}

func newHistoryCommand(c *CLI) *cobra.Command {
	var o struct {
		NoTrunc bool
		Quiet   bool
		Format  string
	}
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmtStr := o.Format
			if o.Quiet {
				fmtStr = format.QuietHistoryFormat
			}
			rows := format.HistoryRows(res.Items, !o.NoTrunc, time.Now())
			return format.Context{Output: c.Out, Format: fmtStr, Trunc: !o.NoTrunc}.Write(format.DefaultHistoryTable, format.HistoryHeader, rows)
		},
	}
	cmd.Flags().BoolVar(&o.NoTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().StringVar(&o.Format, "format", "", "Format output using a custom template")
	return cmd
}

func newImageInspectCommand(c *CLI) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, args, tmpl, inspectImage)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newSaveCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := c.Out
			if output == "" {
				if _, isTerm := term.GetFdInfo(c.Out); isTerm {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			rc, err := api.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer rc.Close()
			if output != "" {
				// Write beside the target and rename, so a failed save leaves no partial file.
				f, err := os.CreateTemp(dirOf(output), ".wharf-save-*")
				if err != nil {
					return err
				}
				defer os.Remove(f.Name())
				if _, err := io.Copy(f, rc); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := os.Chmod(f.Name(), 0o644); err != nil {
					return err
				}
				return os.Rename(f.Name(), output)
			}
			_, err = io.Copy(out, rc)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		if i == 0 {
			return "/"
		}
		return p[:i]
	}
	return "."
}

func newLoadCommand(c *CLI) *cobra.Command {
	var o struct {
		Input string
		Quiet bool
	}
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := c.In
			if o.Input != "" {
				f, err := os.Open(o.Input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if _, isTerm := term.GetFdInfo(c.In); isTerm {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, outIsTerm := term.GetFdInfo(c.Out)
			rc, err := api.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(o.Quiet || !outIsTerm))
			if err != nil {
				return err
			}
			defer rc.Close()
			return displayJSON(c, rc, c.Out)
		},
	}
	cmd.Flags().StringVarP(&o.Input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// displayJSON renders a daemon JSON-message stream (progress bars on a terminal).
func displayJSON(c *CLI, r io.Reader, out io.Writer) error {
	fd, isTerm := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(r, out, fd, isTerm, nil)
}

func newImportCommand(c *CLI) *cobra.Command {
	var o struct {
		Changes  []string
		Message  string
		Platform string
	}
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := client.ImageImportSource{SourceName: args[0]}
			switch {
			case args[0] == "-":
				src.Source = c.In
			case strings.HasPrefix(args[0], "http://"), strings.HasPrefix(args[0], "https://"):
				// the daemon fetches URLs itself
			default:
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				src = client.ImageImportSource{SourceName: "-", Source: f}
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ImageImportOptions{Message: o.Message, Changes: o.Changes}
			if o.Platform != "" {
				p, err := parsePlatform(o.Platform)
				if err != nil {
					return err
				}
				opts.Platform = p
			}
			rc, err := api.ImageImport(cmd.Context(), src, ref, opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			return displayJSON(c, rc, c.Out)
		},
	}
	cmd.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "Set commit message for imported image")
	cmd.Flags().StringVar(&o.Platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

func newImagePruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove unused images",
		filterHint: `Provide filter values (e.g. "until=<timestamp>")`,
		allUsage:   "Remove all unused images, not just dangling ones",
		warning: func(all bool) string {
			if all {
				return "WARNING! This will remove all images without at least one container associated to them."
			}
			return "WARNING! This will remove all dangling images."
		},
		run: func(ctx context.Context, api APIClient, all bool, f client.Filters) error {
			filters := f.Clone()
			if filters == nil {
				filters = client.Filters{}
			}
			filters.Add("dangling", fmt.Sprint(!all))
			res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
			if err != nil {
				return err
			}
			if len(res.Report.ImagesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Images:")
				printDeleted(c.Out, res.Report.ImagesDeleted)
				fmt.Fprintln(c.Out)
			}
			printPruned(c, "", nil, res.Report.SpaceReclaimed)
			return nil
		},
	})
}
