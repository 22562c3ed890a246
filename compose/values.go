package compose

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Past the schema, compose-go rejects values it cannot decode (a memory
// size, a duration, a port) or references to undeclared networks with the
// key in the message but no line. valueError re-checks those values on
// each file's YAML to point at the line. Values holding ${VARS} are left
// alone: only the loader knows what they expand to.

// valueChecks maps key patterns to the check of a scalar there.
var valueChecks = []struct {
	path  tree.Path
	check func(string) error
}{
	{"services.*.deploy.replicas", checkInt},
	{"services.*.deploy.resources.*.memory", checkBytes},
	{"services.*.deploy.resources.*.cpus", checkFloat},
	{"services.*.deploy.restart_policy.delay", checkDuration},
	{"services.*.deploy.restart_policy.window", checkDuration},
	{"services.*.deploy.restart_policy.max_attempts", checkInt},
	{"services.*.deploy.update_config.delay", checkDuration},
	{"services.*.deploy.update_config.monitor", checkDuration},
	{"services.*.deploy.update_config.parallelism", checkInt},
	{"services.*.deploy.rollback_config.delay", checkDuration},
	{"services.*.deploy.rollback_config.monitor", checkDuration},
	{"services.*.deploy.rollback_config.parallelism", checkInt},
	{"services.*.healthcheck.interval", checkDuration},
	{"services.*.healthcheck.timeout", checkDuration},
	{"services.*.healthcheck.start_period", checkDuration},
	{"services.*.healthcheck.start_interval", checkDuration},
	{"services.*.stop_grace_period", checkDuration},
	{"services.*.ports.[]", checkPort},
	{"services.*.volumes.[].tmpfs.size", checkBytes},
}

func checkInt(s string) error {
	_, err := strconv.Atoi(s)
	return err
}

func checkFloat(s string) error {
	_, err := strconv.ParseFloat(s, 64)
	return err
}

func checkBytes(s string) error {
	_, err := units.RAMInBytes(s)
	return err
}

func checkDuration(s string) error {
	_, err := time.ParseDuration(s)
	return err
}

func checkPort(s string) error {
	_, err := types.ParsePortConfig(s)
	return err
}

// valueError returns the first bad value in files as "file:line: key:
// message", or nil. With a single file it also finds what only the whole
// project can tell (undeclared networks, services without an image), as
// nothing can come from an override.
func valueError(files []types.ConfigFile) error {
	for _, cf := range files {
		f, data := cf.Filename, cf.Content
		if data == nil {
			continue
		}
		var doc yaml.Node
		if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if err := walkValues(f, root, tree.NewPath()); err != nil {
			return err
		}
		if len(files) == 1 {
			if err := undeclaredNetwork(f, root); err != nil {
				return err
			}
			if err := noImage(f, root); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkValues checks every scalar under n. Aliases are not followed: the
// anchored node is checked where it stands, and following them would let
// a "billion laughs" file take exponential time.
func walkValues(file string, n *yaml.Node, p tree.Path) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "$") {
			return nil
		}
		for _, vc := range valueChecks {
			if p.Matches(vc.path) {
				if err := vc.check(n.Value); err != nil {
					return fmt.Errorf("%s:%d: %s: invalid value %q: %v: %w", file, n.Line, p, n.Value, err, errdefs.ErrInvalidArgument)
				}
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walkValues(file, n.Content[i+1], p.Next(n.Content[i].Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if err := walkValues(file, e, p.Next(tree.PathMatchList)); err != nil {
				return err
			}
		}
	}
	return nil
}

// undeclaredNetwork finds a service network missing from the file's
// top-level networks (with one file only: overrides may declare it).
func undeclaredNetwork(file string, root *yaml.Node) error {
	declared := map[string]bool{"default": true}
	if nets := child(root, "networks"); nets != nil && nets.Kind == yaml.MappingNode {
		for i := 0; i < len(nets.Content); i += 2 {
			declared[nets.Content[i].Value] = true
		}
	}
	services := child(root, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		name := services.Content[i].Value
		nets := child(services.Content[i+1], "networks")
		if nets == nil {
			continue
		}
		var refs []*yaml.Node
		switch nets.Kind {
		case yaml.SequenceNode:
			refs = nets.Content
		case yaml.MappingNode:
			for j := 0; j < len(nets.Content); j += 2 {
				refs = append(refs, nets.Content[j])
			}
		}
		for _, r := range refs {
			if !declared[r.Value] && !strings.Contains(r.Value, "$") {
				return fmt.Errorf("%s:%d: services.%s.networks: network %q is not declared: %w", file, r.Line, name, r.Value, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// noImage finds a service with neither image nor build.
func noImage(file string, root *yaml.Node) error {
	services := child(root, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		s := services.Content[i+1]
		if s.Kind == yaml.MappingNode && child(s, "image") == nil && child(s, "build") == nil && child(s, "extends") == nil {
			return fmt.Errorf("%s:%d: services.%s: no image given (a swarm does not build images): %w",
				file, services.Content[i].Line, services.Content[i].Value, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
