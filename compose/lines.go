package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// compose-go reports schema violations as "validating FILE: PATH MESSAGE"
// without a line, and its error type is private. When loading fails we
// validate each file's own YAML against the same schema to find the
// offending node, and so the line. Values are not interpolated first: the
// schema accepts strings wherever ${VARS} may stand.

// composeSchema is compose-go's JSON schema, compiled on first use.
var composeSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("compose-spec.json")
})

// schemaError returns the first schema violation in files as
// "file:line: key: message", or nil when none of them breaks the schema on
// its own (the failure is then elsewhere: interpolation, merging…).
func schemaError(files []types.ConfigFile) error {
	sch, err := composeSchema()
	if err != nil {
		return nil
	}
	for _, cf := range files {
		f, data := cf.Filename, cf.Content
		if data == nil {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if !errors.Is(err, io.EOF) {
					// compose-go's message has the line already.
					return fmt.Errorf("%s: %v: %w", f, err, errdefs.ErrInvalidArgument)
				}
				break
			}
			inst, err := instance(&doc)
			if err != nil {
				continue
			}
			var verr *jsonschema.ValidationError
			if !errors.As(sch.Validate(inst), &verr) {
				continue
			}
			leaf := mostSpecific(verr)
			path := leaf.InstanceLocation
			msg := leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English))
			switch k := leaf.ErrorKind.(type) {
			case *kind.AdditionalProperties:
				// Point at the stray key itself rather than its parent.
				if len(k.Properties) > 0 {
					path = append(append([]string(nil), path...), k.Properties[0])
					msg = "additional property " + strconv.Quote(k.Properties[0]) + " is not allowed"
				}
			case *kind.FalseSchema:
				// additionalProperties: false, reported at the key.
				msg = "unknown key"
			case *kind.Type:
				msg = "must be a " + strings.Join(k.Want, " or ")
			}
			line := lineOf(&doc, path)
			key := strings.Join(path, ".")
			if key == "" {
				key = "(top level)"
			}
			return fmt.Errorf("%s:%d: %s: %s: %w", f, line, key, msg, errdefs.ErrInvalidArgument)
		}
	}
	return valueError(files)
}

// mostSpecific follows the deepest cause, which names the precise node.
func mostSpecific(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		best := e.Causes[0]
		for _, c := range e.Causes[1:] {
			if len(c.InstanceLocation) > len(best.InstanceLocation) {
				best = c
			}
		}
		e = best
	}
	return e
}

// instance turns a YAML document into the JSON value the validator wants.
func instance(doc *yaml.Node) (any, error) {
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(stringKeys(v))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// stringKeys makes every mapping key a string, as JSON needs.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = stringKeys(e)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = stringKeys(e)
		}
		return out
	case []any:
		for i, e := range t {
			t[i] = stringKeys(e)
		}
	}
	return v
}

// lineOf finds the line of the node at path (keys and list indexes),
// stopping at the deepest node that exists.
func lineOf(doc *yaml.Node, path []string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line // the key's line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// position is "file:line" of a key path in the project's files, the last
// file first since overrides win; "" when no file has it.
func position(files []string, path ...string) string {
	for i := len(files) - 1; i >= 0; i-- {
		data, err := os.ReadFile(files[i])
		if err != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		if has(&doc, path) {
			return fmt.Sprintf("%s:%d", files[i], lineOf(&doc, path))
		}
	}
	return ""
}

// has reports whether the mapping path exists in doc.
func has(doc *yaml.Node, path []string) bool {
	n := doc.Content[0]
	for _, part := range path {
		found := false
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					n, found = n.Content[i+1], true
					break
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}
