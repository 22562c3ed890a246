package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"

	"github.com/containerd/errdefs"
)

// Well-known format names, as in the docker CLI.
const (
	TableFormatKey = "table"
	JSONFormatKey  = "json"
)

// Funcs are the template helpers docker offers in every --format.
var Funcs = template.FuncMap{
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": title,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, left, right int) string {
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", right)
	},
	"truncate": truncateWithLength,
	"println":  fmt.Sprintln,
}

func title(s string) string {
	r := []rune(s)
	for i := range r {
		if i == 0 || unicode.IsSpace(r[i-1]) {
			r[i] = unicode.ToUpper(r[i])
		}
	}
	return string(r)
}

func truncateWithLength(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Parse compiles a --format template with docker's helpers; `\t` and `\n` written
// literally on the command line become real tabs and newlines, as docker does.
func Parse(format string) (*template.Template, error) {
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := template.New("").Funcs(Funcs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return tmpl, nil
}

// Context describes one rendering: where to, the user's format, and docker's truncation switch.
type Context struct {
	Output io.Writer
	// Format is "table", "table TEMPLATE", "json" or a bare template.
	Format string
	// Trunc shortens IDs and commands like docker does unless --no-trunc.
	Trunc bool
}

// IsTable reports whether the format asks for a table with a header row.
func (c Context) IsTable() bool { return strings.HasPrefix(c.Format, TableFormatKey) }

// Write renders rows (one template execution each) under header, which maps each
// placeholder name to its column title. The default table template applies when the
// format is just "table".
func (c Context) Write(defaultTable string, header map[string]string, rows []any) error {
	format := c.Format
	switch {
	case format == TableFormatKey || format == "":
		format = defaultTable
	case format == JSONFormatKey:
		format = "{{json .}}"
	}
	table := strings.HasPrefix(format, TableFormatKey)
	if table {
		format = strings.TrimLeft(strings.TrimPrefix(format, TableFormatKey), " ")
	}
	tmpl, err := Parse(format)
	if err != nil {
		return err
	}
	var out io.Writer = c.Output
	var tw *tabwriter.Writer
	if table {
		// docker's table writer settings: minwidth 10, padding 3.
		tw = tabwriter.NewWriter(c.Output, 10, 1, 3, ' ', 0)
		out = tw
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, headerContext(header)); err == nil {
			buf.WriteByte('\n')
			_, _ = out.Write(buf.Bytes())
		}
	}
	for _, r := range rows {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		buf.WriteByte('\n')
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerContext is what a table template sees for its header row: the
// column titles by placeholder, plus Label so that `{{.Label "a.b-c"}}`
// yields docker's title "b c" instead of failing and losing the whole header.
type headerContext map[string]string

// Label is the header of a label column: the key's last dotted part with
// '-' and '_' as spaces, as the docker CLI prints it.
func (headerContext) Label(name string) string {
	parts := strings.Split(name, ".")
	return strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
}

// marshalMethods renders a formatting context as JSON the way docker's `{{json .}}`
// does: every exported, argument-less, string-returning method becomes a field.
func marshalMethods(v any) ([]byte, error) {
	m := map[string]any{}
	val := reflect.ValueOf(v)
	typ := val.Type()
	for i := 0; i < typ.NumMethod(); i++ {
		meth := typ.Method(i)
		if meth.Type.NumIn() != 1 || meth.Type.NumOut() != 1 || meth.Type.Out(0).Kind() != reflect.String {
			continue
		}
		if meth.Name == "String" || meth.Name == "FullHeader" {
			continue
		}
		m[meth.Name] = val.Method(i).Call(nil)[0].String()
	}
	return json.Marshal(m)
}

// Ellipsis shortens s to at most n runes, ending with "…" when it cut something.
func Ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
