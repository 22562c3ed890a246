package compose

import (
	"context"
	"fmt"
	"path/filepath"

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
	if len(files) == 0 {
		return nil, fmt.Errorf("no compose file given: %w", errdefs.ErrInvalidArgument)
	}
	abs := make([]string, len(files))
	for i, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(workDir, f)
		}
		abs[i] = filepath.Clean(f)
	}
	files = abs
	var ignored []string
	report := func(found []loader.UnsupportedAttribute) {
		for _, f := range found {
			ignored = append(ignored, f.Path.String())
		}
	}
	opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(env), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithName(projectName),
		cli.WithLoadOptions(loader.WithSupportedAttributes(supportedAttributes(), report)))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	p, err := loadProject(ctx, opts)
	if err != nil {
		if located := schemaError(files); located != nil {
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
