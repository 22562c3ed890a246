package builder

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// maxDockerfileSize bounds what Parse reads; Docker's own limit is similar.
const maxDockerfileSize = 4 << 20

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	Name     string // as given, for messages ("Dockerfile")
	MetaArgs []instructions.ArgCommand
	Stages   []Stage
	Escape   rune
}

// Stage is one FROM and the instructions under it.
type Stage struct {
	Index    int
	Name     string // lower-cased AS name, "" if none
	BaseName string // unexpanded FROM argument
	Platform string
	Source   string // the FROM line as written
	Line     int
	Commands []Command
}

// Command is one instruction of a stage with where it came from.
type Command struct {
	Cmd    instructions.Command
	Source string // the instruction as written (heredocs included)
	Line   int
}

// Parse reads a Dockerfile. Errors are InvalidArgument and name the file and
// line: "Dockerfile:3: unknown instruction: FOO".
func Parse(name string, data []byte) (*Dockerfile, error) {
	if len(data) > maxDockerfileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", name, maxDockerfileSize, errdefs.ErrInvalidArgument)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locErr(name, 0, err)
	}
	df := &Dockerfile{Name: name, Escape: res.EscapeToken}
	for _, n := range res.AST.Children {
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, locErr(name, n.StartLine, err)
		}
		switch c := cmd.(type) {
		case *instructions.Stage:
			df.Stages = append(df.Stages, Stage{Index: len(df.Stages), Name: strings.ToLower(c.Name), BaseName: c.BaseName,
				Platform: c.Platform, Source: c.SourceCode, Line: n.StartLine})
		case *instructions.ArgCommand:
			if len(df.Stages) == 0 {
				df.MetaArgs = append(df.MetaArgs, *c)
				continue
			}
			df.addCommand(c, n)
		case instructions.Command:
			if len(df.Stages) == 0 {
				return nil, locErr(name, n.StartLine, errors.New("no build stage in current context: a Dockerfile must begin with FROM (ARG may come before it)"))
			}
			if err := classicOnly(c); err != nil {
				return nil, locErr(name, n.StartLine, err)
			}
			df.addCommand(c, n)
		default:
			return nil, locErr(name, n.StartLine, fmt.Errorf("%T is not a command", cmd))
		}
	}
	if len(df.Stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM instruction: %w", name, errdefs.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, s := range df.Stages {
		if s.Name == "" {
			continue
		}
		if seen[s.Name] {
			return nil, locErr(name, s.Line, fmt.Errorf("duplicate stage name %q", s.Name))
		}
		if _, err := strconv.Atoi(s.Name); err == nil {
			return nil, locErr(name, s.Line, fmt.Errorf("invalid stage name %q: cannot be a number", s.Name))
		}
		seen[s.Name] = true
	}
	return df, nil
}

// classicOnly refuses the flags only BuildKit implements, in the classic
// builder's words, rather than build something other than what the
// Dockerfile asks for (a RUN without its cache mount, a COPY that ignores
// --exclude). Callers add the location and the InvalidArgument class.
func classicOnly(cmd instructions.Command) error {
	var flag string
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			flag = c.FlagsUsed[0] // --mount, --network, --security, --device
		}
	case *instructions.CopyCommand:
		switch {
		case c.Link:
			flag = "link"
		case c.Parents:
			flag = "parents"
		case len(c.ExcludePatterns) > 0:
			flag = "exclude"
		}
	case *instructions.AddCommand:
		switch {
		case c.Checksum != "":
			flag = "checksum"
		case c.KeepGitDir != nil:
			flag = "keep-git-dir"
		case c.Unpack != nil:
			flag = "unpack"
		case c.Link:
			flag = "link"
		case len(c.ExcludePatterns) > 0:
			flag = "exclude"
		}
	}
	if flag == "" {
		return nil
	}
	return fmt.Errorf("the --%s option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled", flag)
}

func (df *Dockerfile) addCommand(c instructions.Command, n *parser.Node) {
	st := &df.Stages[len(df.Stages)-1]
	src := n.Original
	for _, h := range n.Heredocs {
		src += "\n" + h.Content + h.Name
	}
	st.Commands = append(st.Commands, Command{Cmd: c, Source: src, Line: n.StartLine})
}

// locErr formats a Dockerfile error as file:line: message.
func locErr(name string, line int, err error) error {
	var le *parser.LocationError
	if line == 0 && errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	msg := err.Error()
	var unknown *instructions.UnknownInstructionError
	if errors.As(err, &unknown) {
		msg = unknown.Error()
	}
	if line > 0 {
		return fmt.Errorf("%s:%d: %s: %w", name, line, msg, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %s: %w", name, msg, errdefs.ErrInvalidArgument)
}

// stageByName finds a stage by AS name or index among the stages before
// (not including) limit.
func (df *Dockerfile) stageByName(name string, limit int) (int, bool) {
	name = strings.ToLower(name)
	for i := 0; i < limit && i < len(df.Stages); i++ {
		if df.Stages[i].Name == name {
			return i, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < limit {
		return n, true
	}
	return 0, false
}
