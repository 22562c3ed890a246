package compose

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
)

// projectName is the name compose-go gets; the stack's namespace is only
// known at Convert, which recognises the names compose-go derives from it.
const projectName = "stack"

// extIgnored is the project extension where Load leaves the attributes it
// found but Convert will not use, for Convert to report.
const extIgnored = "x-wharf-ignored"

// Load reads compose files. Relative file names are taken from workDir;
// the project directory, which relative paths inside the files and the
// .env file are read from, is the first file's, as with docker stack
// deploy and compose. env interpolates ${VARS} and wins over .env. Errors
// are invalid-argument and carry file:line and the key where a value is
// at fault.
func Load(ctx context.Context, files []string, workDir string, env []string) (*types.Project, error) {
	return LoadFrom(ctx, files, workDir, env, nil)
}

// LoadFrom is Load where a file named "-" is read from stdin (docker stack
// deploy -c -); the project directory is then workDir when "-" comes
// first.
func LoadFrom(ctx context.Context, files []string, workDir string, env []string, stdin io.Reader) (*types.Project, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no compose file given: %w", errdefs.ErrInvalidArgument)
	}
	files = slices.Clone(files)
	sources := make([]types.ConfigFile, len(files))
	fromStdin := false
	for i, f := range files {
		if f == "-" {
			if fromStdin {
				return nil, fmt.Errorf("stdin (-) can be given once only: %w", errdefs.ErrInvalidArgument)
			}
			if stdin == nil {
				return nil, fmt.Errorf("no stdin to read the compose file - from: %w", errdefs.ErrInvalidArgument)
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading the compose file from stdin: %w", err)
			}
			fromStdin = true
			sources[i] = types.ConfigFile{Filename: "-", Content: data}
			continue
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(workDir, f)
		}
		f = filepath.Clean(f)
		files[i] = f
		sources[i] = types.ConfigFile{Filename: f}
		if data, err := os.ReadFile(f); err == nil {
			sources[i].Content = data // for the error locator; compose-go reads it again
		}
	}
	projectDir := workDir
	if files[0] != "-" {
		projectDir = filepath.Dir(files[0])
	}
	var ignored []string
	report := func(found []loader.UnsupportedAttribute) {
		for _, f := range found {
			ignored = append(ignored, f.Path.String())
		}
	}
	supported := loader.WithSupportedAttributes(supportedAttributes(), report)
	opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory(projectDir),
		cli.WithEnv(env), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithName(projectName),
		cli.WithLoadOptions(supported))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	var p *types.Project
	if fromStdin {
		// compose-go's own options read "-" from os.Stdin; the loader takes
		// the contents (and the environment the options resolved) instead.
		for i := range sources {
			if sources[i].Content == nil {
				return nil, fmt.Errorf("open %s: no such file or directory: %w", sources[i].Filename, errdefs.ErrInvalidArgument)
			}
		}
		p, err = loadDetails(ctx, types.ConfigDetails{ConfigFiles: sources, WorkingDir: projectDir, Environment: opts.Environment},
			func(o *loader.Options) { o.SetProjectName(projectName, true) }, supported)
		if err == nil {
			p.ComposeFiles = files
		}
	} else {
		p, err = loadProject(ctx, opts)
	}
	if err != nil {
		if located := schemaError(sources); located != nil {
			return nil, located
		}
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(ignored) > 0 {
		if p.Extensions == nil {
			p.Extensions = types.Extensions{}
		}
		p.Extensions[extIgnored] = ignored
	}
	return p, nil
}

// loadDetails is loader.LoadWithContext with loadProject's recover.
func loadDetails(ctx context.Context, d types.ConfigDetails, opts ...func(*loader.Options)) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("invalid compose file (%v): %w", r, errdefs.ErrInvalidArgument)
		}
	}()
	return loader.LoadWithContext(ctx, d, opts...)
}

// loadProject is compose-go's LoadProject, with its panics on odd values
// (e.g. a ulimit written as 08, which YAML reads as a float) turned into
// an InvalidArgument: bad input gets an error, never a crash.
func loadProject(ctx context.Context, opts *cli.ProjectOptions) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("invalid compose file (%v): %w", r, errdefs.ErrInvalidArgument)
		}
	}()
	return opts.LoadProject(ctx)
}
