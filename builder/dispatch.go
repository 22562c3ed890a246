package builder

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// defaultShell is what shell-form RUN, CMD and ENTRYPOINT run under
// unless SHELL says otherwise.
var defaultShell = []string{"/bin/sh", "-c"}

// proxyArgs may be passed with --build-arg without an ARG: RUN sees them,
// but they stay out of the cache key and the image's history.
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// state is a stage's build state between instructions.
type state struct {
	imageID string // "" while on scratch with nothing committed
	cfg     dockerspec.DockerOCIImage
	args    []string          // ARGs declared in this stage, in order
	argVals map[string]string // their values (declared ARGs without one are absent)
	cmdSet  bool              // CMD given in this stage (ENTRYPOINT then keeps it)
	escape  rune
	// buildArgs are the --build-arg values; used marks those consumed.
	buildArgs map[string]*string
	used      map[string]bool
}

func (s *state) shell() []string {
	if len(s.cfg.Config.Shell) > 0 {
		return s.cfg.Config.Shell
	}
	return defaultShell
}

// envMap is a shell.EnvGetter: build args overridden by ENV, as Docker expands.
type envMap struct {
	m    map[string]string
	keys []string
}

func (e envMap) Get(k string) (string, bool) { v, ok := e.m[k]; return v, ok }
func (e envMap) Keys() []string              { return e.keys }

func (s *state) expandEnv() envMap {
	e := envMap{m: map[string]string{}}
	set := func(k, v string) {
		if _, ok := e.m[k]; !ok {
			e.keys = append(e.keys, k)
		}
		e.m[k] = v
	}
	for _, k := range s.args {
		if v, ok := s.argVals[k]; ok {
			set(k, v)
		}
	}
	for _, kv := range s.cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	return e
}

// expander expands $VAR words the way Docker does for the instruction's arguments.
func (s *state) expander() instructions.SingleWordExpander {
	lex := shell.NewLex(s.escape)
	env := s.expandEnv()
	return func(word string) (string, error) {
		out, _, err := lex.ProcessWord(word, env)
		return out, err
	}
}

// runArgs are the declared build args with values, as RUN sees them
// ("K=V", sorted), plus proxy args given on the command line (not in the key).
func (s *state) runArgs() (keyed []string, proxies []string) {
	for _, k := range s.args {
		if proxyArgs[k] {
			continue
		}
		if v, ok := s.argVals[k]; ok && !hasEnvKey(s.cfg.Config.Env, k) {
			keyed = append(keyed, k+"="+v)
		}
	}
	sort.Strings(keyed)
	for k, v := range s.buildArgs {
		if proxyArgs[k] && v != nil {
			s.used[k] = true
			proxies = append(proxies, k+"="+*v)
		}
	}
	sort.Strings(proxies)
	return keyed, proxies
}

func hasEnvKey(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// setEnv replaces or appends key in env.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// nop is how the classic builder records a config-only step in history.
func nop(text string) string { return "/bin/sh -c #(nop)  " + text }

// commandLine turns a CMD/ENTRYPOINT/RUN argument into argv.
func (s *state) commandLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell && len(c.Files) == 1 && len(c.CmdLine) == 1 &&
		strings.HasPrefix(c.CmdLine[0], "<<") && !strings.ContainsAny(strings.TrimSpace(c.CmdLine[0]), " \t") {
		// RUN <<EOF: the heredoc is the script, as BuildKit runs it.
		return append(slices.Clone(s.shell()), c.Files[0].Data)
	}
	if c.PrependShell {
		script := strings.Join(c.CmdLine, " ")
		for _, f := range c.Files {
			// The shell handles the heredoc itself: hand it the whole text.
			script += "\n" + f.Data + f.Name
		}
		return append(slices.Clone(s.shell()), script)
	}
	return slices.Clone(c.CmdLine)
}

// applyConfig applies a config-only instruction to s.cfg and returns its
// history text. ok is false for instructions that change the filesystem.
func (s *state) applyConfig(cmd instructions.Command) (createdBy string, ok bool, err error) {
	expand := s.expander()
	if ex, can := cmd.(instructions.SupportsSingleWordExpansion); can {
		if _, isRun := cmd.(*instructions.RunCommand); !isRun {
			if err := ex.Expand(expand); err != nil {
				return "", true, fmt.Errorf("%s: %v: %w", strings.ToUpper(cmd.Name()), err, errdefs.ErrInvalidArgument)
			}
		}
	}
	c := &s.cfg.Config
	switch cmd := cmd.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		return nop("ENV " + strings.Join(parts, " ")), true, nil
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
			parts = append(parts, strconv.Quote(kv.Key)+"="+strconv.Quote(kv.Value))
		}
		return nop("LABEL " + strings.Join(parts, " ")), true, nil
	case *instructions.MaintainerCommand:
		s.cfg.Author = cmd.Maintainer
		return nop("MAINTAINER " + cmd.Maintainer), true, nil
	case *instructions.CmdCommand:
		c.Cmd = s.commandLine(cmd.ShellDependantCmdLine)
		s.cmdSet = true
		return nop("CMD " + jsonArgs(c.Cmd)), true, nil
	case *instructions.EntrypointCommand:
		c.Entrypoint = s.commandLine(cmd.ShellDependantCmdLine)
		if !s.cmdSet {
			c.Cmd = nil
		}
		return nop("ENTRYPOINT " + jsonArgs(c.Entrypoint)), true, nil
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range cmd.Ports {
			p, err := expand(p)
			if err != nil {
				return "", true, fmt.Errorf("EXPOSE: %v: %w", err, errdefs.ErrInvalidArgument)
			}
			exp, err := expandPorts(p)
			if err != nil {
				return "", true, err
			}
			ports = append(ports, exp...)
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			c.ExposedPorts[p] = struct{}{}
		}
		sort.Strings(ports)
		return nop("EXPOSE " + strings.Join(ports, " ")), true, nil
	case *instructions.UserCommand:
		c.User = cmd.User
		return nop("USER " + cmd.User), true, nil
	case *instructions.VolumeCommand:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range cmd.Volumes {
			if strings.TrimSpace(v) == "" {
				return "", true, fmt.Errorf("VOLUME specified can not be an empty string: %w", errdefs.ErrInvalidArgument)
			}
			c.Volumes[v] = struct{}{}
		}
		return nop("VOLUME " + jsonArgs(cmd.Volumes)), true, nil
	case *instructions.StopSignalCommand:
		if err := validSignal(cmd.Signal); err != nil {
			return "", true, err
		}
		c.StopSignal = cmd.Signal
		return nop("STOPSIGNAL " + cmd.Signal), true, nil
	case *instructions.HealthCheckCommand:
		hc := *cmd.Health
		c.Healthcheck = &hc
		// As Docker's classic builder records it: every option is in the
		// text, so a changed interval or retry count is a cache miss.
		// Docker formats it with %q: durations quoted, retries as a rune.
		return nop(fmt.Sprintf("HEALTHCHECK &{%q %q %q %q %q %q}", hc.Test, hc.Interval, hc.Timeout,
			hc.StartPeriod, hc.StartInterval, rune(hc.Retries))), true, nil
	case *instructions.ArgCommand:
		var parts []string
		for _, a := range cmd.Args {
			if !slices.Contains(s.args, a.Key) {
				s.args = append(s.args, a.Key)
			}
			if v, given := s.buildArgs[a.Key]; given && v != nil {
				s.argVals[a.Key] = *v
				s.used[a.Key] = true
			} else if given {
				s.used[a.Key] = true
				if a.Value != nil {
					s.argVals[a.Key] = *a.Value
				}
			} else if a.Value != nil {
				s.argVals[a.Key] = *a.Value
			}
			parts = append(parts, a.String())
		}
		return nop("ARG " + strings.Join(parts, " ")), true, nil
	case *instructions.ShellCommand:
		c.Shell = slices.Clone(cmd.Shell)
		return nop("SHELL " + jsonArgs(cmd.Shell)), true, nil
	case *instructions.OnbuildCommand:
		c.OnBuild = append(c.OnBuild, cmd.Expression)
		return nop("ONBUILD " + cmd.Expression), true, nil
	case *instructions.WorkdirCommand:
		c.WorkingDir = workdir(c.WorkingDir, cmd.Path)
		return nop("WORKDIR " + c.WorkingDir), true, nil
	}
	return "", false, nil
}

// workdir resolves WORKDIR p against the current directory.
func workdir(cur, p string) string {
	if !path.IsAbs(p) {
		if cur == "" {
			cur = "/"
		}
		p = path.Join(cur, p)
	}
	return path.Clean(p)
}

func jsonArgs(a []string) string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// expandPorts turns "80", "53/udp" or "8000-8002/tcp" into "port/proto" keys.
func expandPorts(spec string) ([]string, error) {
	bad := func() error {
		return fmt.Errorf("invalid containerPort: %s: %w", spec, errdefs.ErrInvalidArgument)
	}
	ports, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s: %w", proto, errdefs.ErrInvalidArgument)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || start == 0 {
		return nil, bad()
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, bad()
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

// validSignal accepts what Docker accepts for STOPSIGNAL: a number or a
// signal name with or without SIG.
func validSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n > 0 && n < 65 {
			return nil
		}
	} else {
		name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
		if signalNames[name] || strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
			return nil
		}
	}
	return fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
}

var signalNames = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true, "HUP": true,
	"ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true, "POLL": true, "PROF": true,
	"PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true, "STOP": true, "SYS": true, "TERM": true, "TRAP": true,
	"TSTP": true, "TTIN": true, "TTOU": true, "URG": true, "USR1": true, "USR2": true, "VTALRM": true,
	"WINCH": true, "XCPU": true, "XFSZ": true,
}
