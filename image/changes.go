package image

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ApplyChanges applies `docker import --change` / `docker commit --change`
// instructions (Dockerfile syntax, one instruction per string; CMD, ENTRYPOINT,
// ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) to cfg.
// Anything else is InvalidArgument with docker's wording. Variables ($X) are
// not expanded.
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, change := range changes {
		for _, line := range strings.Split(change, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := applyChange(cfg, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func invalidChange(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, line string) error {
	instr, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		instr, rest = line[:i], line[i+1:]
	}
	rest = strings.TrimSpace(rest)
	cmd := strings.ToUpper(instr)
	switch cmd {
	case "CMD", "ENTRYPOINT":
		args, err := commandArgs(cfg, cmd, rest)
		if err != nil {
			return err
		}
		if cmd == "CMD" {
			cfg.Cmd = args
		} else {
			cfg.Entrypoint = args
			// As in a Dockerfile, a new ENTRYPOINT drops an inherited CMD.
			cfg.Cmd = nil
		}
	case "ENV":
		pairs, err := keyValues(cmd, rest)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
		}
	case "LABEL":
		pairs, err := keyValues(cmd, rest)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range pairs {
			cfg.Labels[kv[0]] = kv[1]
		}
	case "WORKDIR":
		if rest == "" {
			return invalidChange("WORKDIR requires exactly one argument")
		}
		dir := unquote(rest)
		if !path.IsAbs(dir) {
			dir = path.Join("/", cfg.WorkingDir, dir)
		}
		cfg.WorkingDir = path.Clean(dir)
	case "EXPOSE":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return invalidChange("EXPOSE requires at least one argument")
		}
		for _, w := range words {
			ports, err := parseExpose(w)
			if err != nil {
				return err
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case "USER":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if len(words) != 1 || words[0] == "" {
			return invalidChange("USER requires exactly one argument")
		}
		cfg.User = words[0]
	case "VOLUME":
		vols, ok := jsonArray(rest)
		if !ok {
			var err error
			if vols, err = splitWords(rest); err != nil {
				return err
			}
		}
		if len(vols) == 0 {
			return invalidChange("VOLUME requires at least one argument")
		}
		for _, v := range vols {
			if strings.TrimSpace(v) == "" {
				return invalidChange("VOLUME specified can not be an empty string")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "STOPSIGNAL":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if len(words) != 1 || !validSignal(words[0]) {
			return invalidChange("invalid signal: %s", rest)
		}
		cfg.StopSignal = words[0]
	case "ONBUILD":
		next, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(next) {
		case "":
			return invalidChange("ONBUILD requires at least one argument")
		case "ONBUILD", "FROM", "MAINTAINER":
			return invalidChange("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(next))
		}
		cfg.OnBuild = append(cfg.OnBuild, rest)
	default:
		return invalidChange("%s is not a valid change command", instr)
	}
	return nil
}

// commandArgs parses the exec form (a JSON array) or the shell form, which
// runs through the image's shell (default /bin/sh -c).
func commandArgs(cfg *dockerspec.DockerOCIImageConfig, cmd, rest string) ([]string, error) {
	if args, ok := jsonArray(rest); ok {
		return args, nil
	}
	if rest == "" {
		return nil, invalidChange("%s requires at least one argument", cmd)
	}
	shell := []string{"/bin/sh", "-c"}
	if len(cfg.Shell) > 0 {
		shell = append([]string{}, cfg.Shell...)
	}
	return append(shell, rest), nil
}

// jsonArray parses s as a JSON array of strings (the exec form).
func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false
	}
	if out == nil {
		out = []string{}
	}
	return out, true
}

// keyValues parses "k=v k2='v 2'" or the legacy "k value with spaces".
func keyValues(cmd, rest string) ([][2]string, error) {
	words, err := splitWords(rest)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, invalidChange("%s requires at least one argument", cmd)
	}
	first := firstWordRaw(rest)
	if !strings.Contains(first, "=") {
		// Legacy form: the first word is the key, the rest of the line the value.
		if len(words) < 2 {
			return nil, invalidChange("%s must have two arguments", cmd)
		}
		value := strings.TrimSpace(rest[len(first):])
		return [][2]string{{words[0], unquote(value)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, invalidChange("Syntax error - can't find = in %q. Must be of the form: name=value", w)
		}
		if k == "" {
			return nil, invalidChange("%s names can not be blank", cmd)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func firstWordRaw(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// unquote strips one pair of matching surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if w, err := splitWords(s); err == nil && len(w) == 1 {
			return w[0]
		}
	}
	return s
}

// splitWords splits on unquoted blanks, removing quotes; backslash escapes
// the next character outside single quotes, as in a Dockerfile.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
			inWord = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote = r
			inWord = true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, invalidChange("unexpected end of statement while looking for matching %c", quote)
	}
	if escaped {
		cur.WriteRune('\\')
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func setEnv(env []string, key, value string) []string {
	kv := key + "=" + value
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out := append([]string{}, env...)
			out[i] = kv
			return out
		}
	}
	return append(env, kv)
}

// parseExpose turns "80", "80/udp" or "8000-8002/tcp" into "port/proto" keys.
func parseExpose(s string) ([]string, error) {
	portPart, proto, hasProto := strings.Cut(s, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, invalidChange("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(portPart, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || start == 0 {
		return nil, invalidChange("invalid containerPort: %s", portPart)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, invalidChange("invalid containerPort: %s", portPart)
		}
	}
	if end-start > 10000 {
		return nil, invalidChange("port range too large: %s", portPart)
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX") {
		return true
	}
	return unix.SignalNum(name) != 0
}
