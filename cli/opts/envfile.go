package opts

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/containerd/errdefs"
)

// LookupFunc resolves a variable from the caller's environment (os.LookupEnv in production).
type LookupFunc func(name string) (string, bool)

// ParseEnvFile reads docker's env-file format: one VAR=value per line, blank lines and
// lines starting with '#' ignored, no quoting or expansion. A bare VAR takes its value
// from lookup and is dropped when lookup does not know it (or lookup is nil).
func ParseEnvFile(r io.Reader, lookup LookupFunc) ([]string, error) {
	return parseKeyValueFile(r, lookup, "variable")
}

// ParseLabelFile reads a --label-file: the env-file format without environment lookup.
func ParseLabelFile(r io.Reader) ([]string, error) {
	return parseKeyValueFile(r, nil, "label")
}

func parseKeyValueFile(r io.Reader, lookup LookupFunc, what string) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Bytes()
		if n == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF")) // UTF-8 BOM written by some editors
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("line %d: invalid utf8 bytes: %w", n, errdefs.ErrInvalidArgument)
		}
		line := strings.TrimLeftFunc(string(raw), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, hasValue := strings.Cut(line, "=")
		if name == "" {
			return nil, fmt.Errorf("line %d: %s name is empty: %w", n, what, errdefs.ErrInvalidArgument)
		}
		if strings.ContainsFunc(name, unicode.IsSpace) {
			return nil, fmt.Errorf("line %d: %s %q contains whitespaces: %w", n, what, name, errdefs.ErrInvalidArgument)
		}
		switch {
		case hasValue:
			lines = append(lines, name+"="+value)
		case lookup != nil:
			if v, ok := lookup(name); ok {
				lines = append(lines, name+"="+v)
			}
		default:
			lines = append(lines, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s file: %w", what, err)
	}
	return lines, nil
}
