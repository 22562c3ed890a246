package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// buildClient is the part of the SDK `build` and `builder prune` use.
type buildClient interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
	BuildCachePrune(ctx context.Context, opts client.BuildCachePruneOptions) (client.BuildCachePruneResult, error)
}

type buildOptions struct {
	Tags      []string
	File      string
	BuildArgs []string
	Target    string
	NoCache   bool
	Pull      bool
	Labels    []string
	Quiet     bool
	Network   string
	IIDFile   string
	Rm        bool
	ForceRm   bool
}

func newBuildCommand(c *CLI) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), c, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	f.StringVarP(&o.File, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	f.StringArrayVar(&o.BuildArgs, "build-arg", nil, "Set build-time variables")
	f.StringVar(&o.Target, "target", "", "Set the target build stage to build")
	f.BoolVar(&o.NoCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.Pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.StringArrayVar(&o.Labels, "label", nil, "Set metadata for an image")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.StringVar(&o.Network, "network", "default", "Set the networking mode for the RUN instructions during build")
	f.StringVar(&o.IIDFile, "iidfile", "", "Write the image ID to the file")
	f.BoolVar(&o.Rm, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&o.ForceRm, "force-rm", false, "Always remove intermediate containers")
	return cmd
}

func runBuild(ctx context.Context, c *CLI, o buildOptions, src string) error {
	var body io.Reader
	dockerfile := o.File
	switch {
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "git@"):
		return StatusError{Status: "remote build contexts (URL, git) are not supported; clone or download first", StatusCode: 125}
	case src == "-":
		if o.File == "-" {
			return StatusError{Status: "invalid argument: can't use stdin for both build context and dockerfile", StatusCode: 125}
		}
		// A tar (maybe compressed) or a bare Dockerfile: the daemon tells them apart.
		body = c.In
	default:
		fi, err := os.Stat(src)
		if err != nil {
			return StatusError{Status: fmt.Sprintf("unable to prepare context: path %q not found", src), StatusCode: 1}
		}
		if !fi.IsDir() {
			return StatusError{Status: fmt.Sprintf("unable to prepare context: context must be a directory: %s", src), StatusCode: 1}
		}
		var extra []byte
		if dockerfile == "-" {
			b, err := io.ReadAll(io.LimitReader(c.In, 4<<20))
			if err != nil {
				return err
			}
			extra, dockerfile = b, ""
		}
		name, df, err := contextDockerfile(src, dockerfile, extra)
		if err != nil {
			return StatusError{Status: "unable to prepare context: " + err.Error(), StatusCode: 1}
		}
		dockerfile = name
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeContext(pw, src, name, df)) }()
		defer pr.Close()
		body = pr
	}

	bc, err := clientAs[buildClient](c, "this client cannot build images")
	if err != nil {
		return err
	}
	buildArgs := map[string]*string{}
	for _, a := range o.BuildArgs {
		k, v, hasValue := strings.Cut(a, "=")
		if !hasValue {
			// Like docker: take the value from the environment, or leave it unset.
			if ev, ok := os.LookupEnv(k); ok {
				buildArgs[k] = &ev
			} else {
				buildArgs[k] = nil
			}
			continue
		}
		buildArgs[k] = &v
	}
	labels := map[string]string{}
	for _, l := range o.Labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	res, err := bc.ImageBuild(ctx, body, client.ImageBuildOptions{
		Tags: o.Tags, Dockerfile: dockerfile, BuildArgs: buildArgs, Target: o.Target, NoCache: o.NoCache,
		PullParent: o.Pull, Labels: labels, SuppressOutput: o.Quiet, NetworkMode: o.Network,
		Remove: o.Rm, ForceRemove: o.ForceRm,
	})
	if err != nil {
		return err
	}
	defer res.Body.Close()

	var imageID string
	aux := func(m jsonstream.Message) {
		var r struct{ ID string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &r) == nil && r.ID != "" {
			imageID = r.ID
		}
	}
	out := c.Out
	var quietBuf bytes.Buffer
	if o.Quiet {
		// Shown only if the build fails, as docker does.
		out = &quietBuf
	}
	fd, isTerm := term.GetFdInfo(out)
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, out, fd, isTerm, aux); err != nil {
		if o.Quiet {
			c.Err.Write(quietBuf.Bytes())
		}
		var jerr *jsonstream.Error
		if errors.As(err, &jerr) {
			code := jerr.Code
			if code == 0 {
				code = 1
			}
			return StatusError{Status: jerr.Message, StatusCode: code}
		}
		return err
	}
	if o.Quiet {
		// The daemon sent just the image ID line.
		c.Out.Write(quietBuf.Bytes())
	}
	if o.IIDFile != "" && imageID != "" {
		if err := os.WriteFile(o.IIDFile, []byte(imageID), 0o666); err != nil {
			return err
		}
	}
	return nil
}

// contextDockerfile finds the Dockerfile: its name inside the context as
// sent, and its content when it has to be added to the context (it lives
// outside it, or came from stdin).
func contextDockerfile(dir, file string, stdin []byte) (name string, add []byte, err error) {
	if stdin != nil {
		return ".dockerfile." + randomHex(), stdin, nil
	}
	if file == "" {
		file = filepath.Join(dir, "Dockerfile")
	}
	// docker resolves -f against the current directory.
	if file, err = filepath.Abs(file); err != nil {
		return "", nil, err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(file); err != nil {
		return "", nil, fmt.Errorf("Cannot locate specified Dockerfile: %s", file)
	}
	rel, err := filepath.Rel(absDir, file)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return filepath.ToSlash(rel), nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	return ".dockerfile." + randomHex(), b, nil
}

func randomHex() string {
	b := make([]byte, 10)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeContext tars dir to w, leaving out what .dockerignore excludes but
// always sending the Dockerfile and .dockerignore (the daemon reads both),
// and, if add is set, the Dockerfile as dockerfile.
func writeContext(w io.Writer, dir, dockerfile string, add []byte) error {
	var pm *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
		if pm, err = patternmatcher.New(patterns); err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	keep := map[string]bool{".dockerignore": true, dockerfile: true}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pm != nil && !keep[rel] {
			if skip, _ := pm.MatchesOrParentMatches(rel); skip {
				// A directory may still hold re-included (!pattern) files.
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil // sockets, devices, pipes
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		// Like docker: no user names, and ownership is the daemon's business.
		hdr.Uname, hdr.Gname = "", ""
		hdr.Uid, hdr.Gid = 0, 0
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if add != nil {
		if err := tw.WriteHeader(&tar.Header{Name: dockerfile, Mode: 0o600, Size: int64(len(add)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(add); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func newBuilderCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage builds",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var o struct{ All, Force bool }
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !o.Force && !confirm(c, "WARNING! This will remove all dangling build cache. Are you sure you want to continue?") {
				return nil
			}
			bc, err := clientAs[buildClient](c, "this client cannot prune the build cache")
			if err != nil {
				return err
			}
			res, err := bc.BuildCachePrune(cmd.Context(), client.BuildCachePruneOptions{All: o.All})
			if err != nil {
				return err
			}
			if len(res.Report.CachesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted build cache objects:")
				for _, id := range res.Report.CachesDeleted {
					fmt.Fprintln(c.Out, id)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	prune.Flags().BoolVarP(&o.Force, "force", "f", false, "Do not prompt for confirmation")
	cmd.AddCommand(prune)
	return cmd
}
