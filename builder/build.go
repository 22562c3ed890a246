package builder

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/build"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Options are one build's parameters (POST /build's query).
type Options struct {
	ContextDir  string             // the extracted context
	Dockerfile  string             // relative to ContextDir; default "Dockerfile"
	Tags        []string           // references to tag the result with
	BuildArgs   map[string]*string // --build-arg; nil value = declared, no value
	Target      string             // stage to stop at; "" = the last
	NoCache     bool
	Pull        bool // pull base images even if present
	Labels      map[string]string
	Quiet       bool   // only errors and the image ID
	NetworkMode string // RUN containers' network; "" = default bridge
}

// ExitError is a RUN step whose command failed.
type ExitError struct {
	Cmd  []string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.Cmd, " "), e.Code)
}

// Builder runs builds against a Backend.
type Builder struct {
	be    Backend
	cache *Cache
	log   *slog.Logger
}

// New returns a builder; cache may be nil (no caching).
func New(be Backend, cache *Cache, log *slog.Logger) *Builder {
	if log == nil {
		log = slog.Default()
	}
	return &Builder{be: be, cache: cache, log: log.With("component", "builder")}
}

// stageResult is a finished stage.
type stageResult struct {
	done    chan struct{}
	imageID string
	cfg     dockerspec.DockerOCIImage
}

// run is one build in progress.
type run struct {
	b       *Builder
	opts    Options
	df      *Dockerfile
	ctxRoot *os.Root
	ignored func(string) bool
	hash    hasher
	meta    envMap // ARGs before the first FROM
	results []*stageResult
	total   int
	first   []int // first step number per stage

	usedMu sync.Mutex
	used   map[string]bool
}

// Build runs the build and writes docker JSON messages to out. It returns
// the image ID ("sha256:…"); the caller reports err to the client.
func (b *Builder) Build(ctx context.Context, opts Options, out io.Writer) (string, error) {
	if opts.Dockerfile == "" {
		opts.Dockerfile = "Dockerfile"
	}
	if opts.Quiet {
		// As moby: the progress is kept back and shown only if the build
		// fails; on success the client gets just the image ID.
		var held bytes.Buffer
		id, err := b.build(ctx, opts, &held)
		if err != nil {
			out.Write(held.Bytes())
			return "", err
		}
		p := &progress{w: out}
		p.aux(build.Result{ID: id})
		p.printf("%s\n", id)
		return id, nil
	}
	return b.build(ctx, opts, out)
}

func (b *Builder) build(ctx context.Context, opts Options, out io.Writer) (string, error) {
	root, err := os.OpenRoot(opts.ContextDir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	r := &run{b: b, opts: opts, ctxRoot: root, used: map[string]bool{}}
	if r.ignored, err = ignoreMatcher(root); err != nil {
		return "", err
	}
	dfPath, err := contextPath(opts.Dockerfile)
	if err != nil {
		return "", err
	}
	dfName := path.Base(dfPath)
	if strings.HasPrefix(dfPath, ".dockerfile.") {
		// A Dockerfile the client added from outside the context (or from
		// stdin) is not part of what COPY sees (docker's CLI lists it in
		// .dockerignore), and messages call it what the user knows it as.
		ign := r.ignored
		r.ignored = func(rel string) bool { return rel == dfPath || (ign != nil && ign(rel)) }
		dfName = "Dockerfile"
	}
	data, err := readFile(root, dfPath)
	if err != nil {
		return "", fmt.Errorf("Cannot locate specified Dockerfile: %s: %w", opts.Dockerfile, errdefs.ErrInvalidArgument)
	}
	if r.df, err = Parse(dfName, data); err != nil {
		return "", err
	}
	if r.meta, err = r.metaArgs(); err != nil {
		return "", err
	}
	target := len(r.df.Stages) - 1
	if opts.Target != "" {
		i, ok := r.df.stageByName(opts.Target, len(r.df.Stages))
		if !ok || r.df.Stages[i].Name != strings.ToLower(opts.Target) {
			return "", fmt.Errorf("failed to reach build target %s in Dockerfile: %w", opts.Target, errdefs.ErrInvalidArgument)
		}
		target = i
	}
	needed, deps, err := r.plan(target)
	if err != nil {
		return "", err
	}
	r.first = make([]int, len(r.df.Stages))
	for i, s := range r.df.Stages {
		if needed[i] {
			r.first[i] = r.total + 1
			r.total += 1 + len(s.Commands)
		}
	}

	seq := newSequencer(out, len(r.df.Stages))
	r.results = make([]*stageResult, len(r.df.Stages))
	for i := range r.results {
		r.results[i] = &stageResult{done: make(chan struct{})}
		if !needed[i] {
			seq.finish(i)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range r.df.Stages {
		if !needed[i] {
			continue
		}
		g.Go(func() error {
			defer seq.finish(i)
			for _, d := range deps[i] {
				select {
				case <-r.results[d].done:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			p := &progress{w: seq.writer(i)}
			if err := r.runStage(gctx, i, p); err != nil {
				return err
			}
			close(r.results[i].done)
			return nil
		})
	}
	err = g.Wait()
	seq.flushAll()
	if err != nil {
		return "", err
	}
	p := &progress{w: out}
	final := r.results[target]
	if len(opts.Labels) > 0 {
		st := &state{imageID: final.imageID, cfg: final.cfg}
		keys := make([]string, 0, len(opts.Labels))
		for k := range opts.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		cmd := &instructions.LabelCommand{}
		for _, k := range keys {
			cmd.Labels = append(cmd.Labels, instructions.KeyValuePair{Key: k, Value: opts.Labels[k]})
		}
		if err := r.configStep(ctx, st, cmd, p); err != nil {
			return "", err
		}
		final = &stageResult{imageID: st.imageID, cfg: st.cfg}
	}
	if final.imageID == "" {
		// FROM scratch and nothing else: an image without layers.
		cfg := final.cfg
		now := time.Now().UTC()
		cfg.Created = &now
		if final.imageID, err = b.be.CreateImage(ctx, "", cfg); err != nil {
			return "", err
		}
	}
	var unused []string
	for k := range opts.BuildArgs {
		if !r.used[k] && !proxyArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		p.printf("[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " "))
	}
	p.aux(build.Result{ID: final.imageID})
	p.printf("Successfully built %s\n", short(final.imageID))
	for _, t := range opts.Tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return "", fmt.Errorf("invalid tag %q: %v: %w", t, err, errdefs.ErrInvalidArgument)
		}
		t = reference.FamiliarString(reference.TagNameOnly(named))
		if err := b.be.Tag(ctx, final.imageID, t); err != nil {
			return "", err
		}
		p.printf("Successfully tagged %s\n", t)
	}
	return final.imageID, nil
}

func readFile(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxDockerfileSize+1))
}

// short is the 12-hex form of an image or container ID.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// metaArgs evaluates the ARGs before the first FROM with the build args.
func (r *run) metaArgs() (envMap, error) {
	env := envMap{m: map[string]string{}}
	lex := shell.NewLex(r.df.Escape)
	for _, a := range r.df.MetaArgs {
		for _, kv := range a.Args {
			v, given := r.opts.BuildArgs[kv.Key]
			val := ""
			switch {
			case given && v != nil:
				val = *v
				r.used[kv.Key] = true
			case kv.Value != nil:
				var err error
				if val, _, err = lex.ProcessWord(*kv.Value, env); err != nil {
					return envMap{}, fmt.Errorf("ARG %s: %v: %w", kv.Key, err, errdefs.ErrInvalidArgument)
				}
				if given {
					r.used[kv.Key] = true
				}
			default:
				continue
			}
			if _, ok := env.m[kv.Key]; !ok {
				env.keys = append(env.keys, kv.Key)
			}
			env.m[kv.Key] = val
		}
	}
	return env, nil
}

func (r *run) expandMeta(s string) (string, error) {
	out, _, err := shell.NewLex(r.df.Escape).ProcessWord(s, r.meta)
	return out, err
}

// plan finds the stages the target needs and what each waits for.
func (r *run) plan(target int) (needed map[int]bool, deps map[int][]int, err error) {
	deps = map[int][]int{}
	for i, s := range r.df.Stages {
		base, err := r.expandMeta(s.BaseName)
		if err != nil {
			return nil, nil, locErr(r.df.Name, s.Line, err)
		}
		if j, ok := r.df.stageByName(base, i); ok {
			deps[i] = append(deps[i], j)
		}
		for _, c := range s.Commands {
			if cp, ok := c.Cmd.(*instructions.CopyCommand); ok && cp.From != "" {
				from, err := r.expandMeta(cp.From)
				if err != nil {
					return nil, nil, locErr(r.df.Name, c.Line, err)
				}
				if j, ok := r.df.stageByName(from, i); ok {
					deps[i] = append(deps[i], j)
				} else if _, later := r.df.stageByName(from, len(r.df.Stages)); later && !strings.Contains(from, "/") && !strings.Contains(from, ":") {
					return nil, nil, locErr(r.df.Name, c.Line, fmt.Errorf("COPY --from=%s refers to a later or the current stage", from))
				}
			}
		}
	}
	needed = map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if needed[i] {
			return
		}
		needed[i] = true
		for _, d := range deps[i] {
			visit(d)
		}
	}
	visit(target)
	return needed, deps, nil
}

// cloneConfig deep-copies an image config so that a stage can change it
// without touching the Backend's copy.
func cloneConfig(c dockerspec.DockerOCIImage) dockerspec.DockerOCIImage {
	b, err := json.Marshal(c)
	if err != nil {
		return c
	}
	var out dockerspec.DockerOCIImage
	if json.Unmarshal(b, &out) != nil {
		return c
	}
	return out
}

// resolveImage finds a base image, pulling it when asked or missing.
func (r *run) resolveImage(ctx context.Context, ref string, p *progress) (string, dockerspec.DockerOCIImage, error) {
	be := r.b.be
	if r.opts.Pull {
		if err := be.PullImage(ctx, ref, p.w); err != nil {
			return "", dockerspec.DockerOCIImage{}, fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	id, cfg, err := be.ImageConfig(ctx, ref)
	if errdefs.IsNotFound(err) && !r.opts.Pull {
		if perr := be.PullImage(ctx, ref, p.w); perr != nil {
			return "", cfg, fmt.Errorf("unable to find image '%s' locally, and pulling it failed (%v): %w", ref, perr, errdefs.ErrNotFound)
		}
		id, cfg, err = be.ImageConfig(ctx, ref)
	}
	if err != nil {
		return "", cfg, err
	}
	return id, cloneConfig(cfg), nil
}

// runStage builds stage i.
func (r *run) runStage(ctx context.Context, i int, p *progress) error {
	s := r.df.Stages[i]
	res := r.results[i]
	st := &state{argVals: map[string]string{}, escape: r.df.Escape, buildArgs: r.opts.BuildArgs, used: map[string]bool{}}
	defer func() {
		r.usedMu.Lock()
		for k := range st.used {
			r.used[k] = true
		}
		r.usedMu.Unlock()
	}()
	step := r.first[i]
	p.printf("Step %d/%d : %s\n", step, r.total, firstLine(s.Source))
	base, err := r.expandMeta(s.BaseName)
	if err != nil {
		return locErr(r.df.Name, s.Line, err)
	}
	if s.Platform != "" {
		p.printf(" ---> [Warning] --platform=%s is ignored: wharf builds for linux/%s\n", s.Platform, runtime.GOARCH)
	}
	if j, ok := r.df.stageByName(base, i); ok {
		st.imageID, st.cfg = r.results[j].imageID, cloneConfig(r.results[j].cfg)
	} else if strings.EqualFold(base, "scratch") {
		st.cfg = dockerspec.DockerOCIImage{Image: ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}}}
	} else {
		if st.imageID, st.cfg, err = r.resolveImage(ctx, base, p); err != nil {
			return err
		}
	}
	if st.imageID != "" {
		p.printf(" ---> %s\n", short(st.imageID))
	}
	// ARGs declared before FROM are visible in the stage once redeclared;
	// their meta values are the defaults.
	for k, v := range r.meta.m {
		if _, given := r.opts.BuildArgs[k]; !given {
			st.buildArgs = mergeArg(st.buildArgs, k, &v)
		}
	}
	if triggers := st.cfg.Config.OnBuild; len(triggers) > 0 {
		p.printf("# Executing %d build trigger", len(triggers))
		if len(triggers) > 1 {
			p.printf("s")
		}
		p.printf("\n")
		st.cfg.Config.OnBuild = nil
		for _, t := range triggers {
			cmd, err := parseTrigger(t)
			if err != nil {
				return err
			}
			if err := r.step(ctx, i, st, Command{Cmd: cmd, Source: t}, p); err != nil {
				return err
			}
		}
	}
	for _, c := range s.Commands {
		step++
		p.printf("Step %d/%d : %s\n", step, r.total, firstLine(c.Source))
		if err := r.step(ctx, i, st, c, p); err != nil {
			return err
		}
	}
	res.imageID, res.cfg = st.imageID, st.cfg
	return nil
}

// mergeArg returns a copy of m with k set: build args are shared by stages.
func mergeArg(m map[string]*string, k string, v *string) map[string]*string {
	out := make(map[string]*string, len(m)+1)
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// parseTrigger parses an ONBUILD trigger of the base image.
func parseTrigger(expr string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil || len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("invalid ONBUILD trigger %q: %w", expr, errdefs.ErrInvalidArgument)
	}
	v, err := instructions.ParseInstruction(res.AST.Children[0])
	if err != nil {
		return nil, fmt.Errorf("ONBUILD trigger %q: %v: %w", expr, err, errdefs.ErrInvalidArgument)
	}
	cmd, ok := v.(instructions.Command)
	if !ok {
		return nil, fmt.Errorf("%q isn't allowed as an ONBUILD trigger: %w", expr, errdefs.ErrInvalidArgument)
	}
	if err := classicOnly(cmd); err != nil {
		return nil, fmt.Errorf("ONBUILD trigger %q: %v: %w", expr, err, errdefs.ErrInvalidArgument)
	}
	return cmd, nil
}

// step runs one instruction on st.
func (r *run) step(ctx context.Context, stage int, st *state, c Command, p *progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch cmd := c.Cmd.(type) {
	case *instructions.RunCommand:
		return r.runStep(ctx, st, cmd, p)
	case *instructions.CopyCommand:
		return r.copyStep(ctx, stage, st, copyArgs{name: "COPY", sd: cmd.SourcesAndDest, from: cmd.From, chown: cmd.Chown, chmod: cmd.Chmod}, cmd, p)
	case *instructions.AddCommand:
		return r.copyStep(ctx, stage, st, copyArgs{name: "ADD", sd: cmd.SourcesAndDest, chown: cmd.Chown, chmod: cmd.Chmod, add: true}, cmd, p)
	case *instructions.WorkdirCommand:
		return r.workdirStep(ctx, st, cmd, p)
	}
	return r.configStep(ctx, st, c.Cmd, p)
}

// useCache looks key up; on a hit st moves to the cached image.
func (r *run) useCache(ctx context.Context, st *state, key string, p *progress) bool {
	if r.opts.NoCache {
		return false
	}
	id, ok := r.b.cache.get(key)
	if !ok {
		return false
	}
	_, cfg, err := r.b.be.ImageConfig(ctx, id)
	if err != nil {
		return false // the image was removed since: build the step again
	}
	p.printf(" ---> Using cache\n")
	p.printf(" ---> %s\n", short(id))
	st.imageID, st.cfg = id, cloneConfig(cfg)
	return true
}

// record makes st's new image the step's result.
func (r *run) record(st *state, key, id string, p *progress) {
	if err := r.b.cache.put(key, st.imageID, id); err != nil {
		r.b.log.Warn("record build cache", "err", err)
	}
	st.imageID = id
	p.printf(" ---> %s\n", short(id))
}

// withHistory returns a copy of st's config with a history entry appended.
func withHistory(st *state, createdBy string, empty bool) dockerspec.DockerOCIImage {
	cfg := cloneConfig(st.cfg)
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.History = append(cfg.History, ocispec.History{Created: &now, CreatedBy: createdBy, EmptyLayer: empty})
	return cfg
}

func (r *run) configStep(ctx context.Context, st *state, cmd instructions.Command, p *progress) error {
	createdBy, ok, err := st.applyConfig(cmd)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unsupported instruction %s: %w", strings.ToUpper(cmd.Name()), errdefs.ErrInvalidArgument)
	}
	key := cacheKey(st.imageID, createdBy, "")
	if r.useCache(ctx, st, key, p) {
		return nil
	}
	cfg := withHistory(st, createdBy, true)
	id, err := r.b.be.CreateImage(ctx, st.imageID, cfg)
	if err != nil {
		return err
	}
	st.cfg = cfg
	r.record(st, key, id, p)
	return nil
}

func (r *run) workdirStep(ctx context.Context, st *state, cmd *instructions.WorkdirCommand, p *progress) error {
	createdBy, _, err := st.applyConfig(cmd)
	if err != nil {
		return err
	}
	key := cacheKey(st.imageID, createdBy, "")
	if r.useCache(ctx, st, key, p) {
		return nil
	}
	// Docker creates the directory; a layer is made only when it is new.
	rfs, err := r.b.be.PrepareRootfs(ctx, st.imageID)
	if err != nil {
		return err
	}
	defer rfs.Release()
	root, err := os.OpenRoot(rfs.Path())
	if err != nil {
		return err
	}
	defer root.Close()
	dir, err := resolveInRoot(root, st.cfg.Config.WorkingDir, true)
	if err != nil {
		return err
	}
	var id string
	if fi, err := root.Stat(dir); err == nil && fi.IsDir() {
		cfg := withHistory(st, createdBy, true)
		if id, err = r.b.be.CreateImage(ctx, st.imageID, cfg); err != nil {
			return err
		}
		st.cfg = cfg
	} else {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("WORKDIR %s: %w", st.cfg.Config.WorkingDir, err)
		}
		cfg := withHistory(st, createdBy, false)
		if id, err = rfs.Commit(ctx, cfg); err != nil {
			return err
		}
		st.cfg = cfg
	}
	r.record(st, key, id, p)
	return nil
}

func (r *run) runStep(ctx context.Context, st *state, cmd *instructions.RunCommand, p *progress) error {
	argv := st.commandLine(cmd.ShellDependantCmdLine)
	if len(argv) == 0 {
		return fmt.Errorf("RUN: no command given: %w", errdefs.ErrInvalidArgument)
	}
	keyed, proxies := st.runArgs()
	createdBy := strings.Join(argv, " ")
	if len(keyed) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(keyed), strings.Join(keyed, " "), createdBy)
	}
	key := cacheKey(st.imageID, "RUN "+createdBy, jsonArgs(argv))
	if r.useCache(ctx, st, key, p) {
		return nil
	}
	if st.imageID == "" {
		return fmt.Errorf("RUN on an empty (scratch) image: there is nothing to run: %w", errdefs.ErrFailedPrecondition)
	}
	env := append(append(append([]string{}, st.cfg.Config.Env...), keyed...), proxies...)
	id, err := r.b.be.CreateContainer(ctx, ContainerSpec{Image: st.imageID, Cmd: argv, Env: env,
		WorkingDir: st.cfg.Config.WorkingDir, User: st.cfg.Config.User, NetworkMode: r.opts.NetworkMode})
	if err != nil {
		return err
	}
	p.printf(" ---> Running in %s\n", short(id))
	removed := false
	remove := func() {
		if removed {
			return
		}
		removed = true
		if err := r.b.be.RemoveContainer(context.WithoutCancel(ctx), id); err != nil {
			r.b.log.Warn("remove build container", "id", id, "err", err)
		}
	}
	// A failed step leaves no container behind either.
	defer remove()
	code, err := r.b.be.StartAndWait(ctx, id, output{p}, output{p})
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Cmd: argv, Code: code}
	}
	cfg := withHistory(st, createdBy, false)
	newID, err := r.b.be.CommitContainer(ctx, id, cfg)
	if err != nil {
		return err
	}
	remove()
	p.printf("Removing intermediate container %s\n", short(id))
	st.cfg = cfg
	r.record(st, key, newID, p)
	return nil
}

// Prune removes build cache records and the images only they kept: an
// image still tagged or used by a container stays. With all, records of
// such images go too.
func (b *Builder) Prune(ctx context.Context, all bool) (build.CachePruneReport, error) {
	report := build.CachePruneReport{CachesDeleted: []string{}}
	recs, err := b.cache.records()
	if err != nil {
		return report, err
	}
	var drop []string
	for key, rec := range recs {
		n, err := b.be.RemoveImage(ctx, rec.Image)
		switch {
		case err == nil:
			report.SpaceReclaimed += uint64(n)
			report.CachesDeleted = append(report.CachesDeleted, rec.Image)
			drop = append(drop, key)
		case errdefs.IsNotFound(err):
			drop = append(drop, key)
		case all:
			drop = append(drop, key)
		case errdefs.IsConflict(err):
		default:
			return report, err
		}
	}
	sort.Strings(report.CachesDeleted)
	if err := b.cache.remove(drop); err != nil {
		return report, err
	}
	return report, nil
}
