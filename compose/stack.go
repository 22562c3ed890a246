package compose

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// Labels docker stack deploy puts on what it creates.
const (
	LabelNamespace = "com.docker.stack.namespace"
	LabelImage     = "com.docker.stack.image"
)

// Network is a network the stack needs.
type Network struct {
	Name     string                `json:"name"`
	External bool                  `json:"external,omitempty"` // must exist already; not created
	Create   network.CreateRequest `json:"create"`
}

// Stack is a converted project: what deploy creates, in dependency order.
type Stack struct {
	Namespace string              `json:"namespace"`
	Networks  []Network           `json:"networks"`
	Secrets   []swarm.SecretSpec  `json:"secrets"`
	Configs   []swarm.ConfigSpec  `json:"configs"`
	Services  []swarm.ServiceSpec `json:"services"` // dependencies before dependents
	// DependsOn lists, per service (full name), the services it waits for
	// (full names) and the condition: "service_started",
	// "service_healthy" or "service_completed_successfully".
	DependsOn map[string]map[string]string `json:"dependsOn,omitempty"`
	Warnings  []string                     `json:"warnings,omitempty"`
}

// converter carries what one Convert call shares.
type converter struct {
	p        *types.Project
	ns       string
	warnings []string
	secrets  map[string]string // compose key → swarm name
	configs  map[string]string
}

func (c *converter) warn(format string, a ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, a...))
}

// scope is <namespace>_<name>.
func (c *converter) scope(name string) string { return c.ns + "_" + name }

// objectName is the swarm name of a top-level network, volume, secret or
// config: an explicit `name:` as written, otherwise <stack>_<key>.
// compose-go fills in <project>_<key> itself when no name is given; that
// default is recognised and re-scoped to the stack.
func (c *converter) objectName(key, name string, external bool) string {
	switch {
	case external:
		return orDefault(name, key)
	case name == "" || name == c.p.Name+"_"+key:
		return c.scope(key)
	}
	return name
}

// labels adds the stack's namespace label to l (copied).
func (c *converter) labels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	out[LabelNamespace] = c.ns
	return out
}

// errAt wraps an invalid-argument error with the file:line of the key
// path when a file has it.
func (c *converter) errAt(path []string, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	key := strings.Join(path, ".")
	if pos := position(c.p.ComposeFiles, path...); pos != "" {
		return fmt.Errorf("%s: %s: %s: %w", pos, key, msg, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %s: %w", key, msg, errdefs.ErrInvalidArgument)
}

// Convert turns a loaded project into the objects of stack namespace ns.
func Convert(p *types.Project, ns string) (*Stack, error) {
	if ns == "" {
		return nil, fmt.Errorf("empty stack name: %w", errdefs.ErrInvalidArgument)
	}
	c := &converter{p: p, ns: ns, secrets: map[string]string{}, configs: map[string]string{}}
	st := &Stack{Namespace: ns}
	c.reportIgnored()

	var err error
	if st.Networks, err = c.networks(); err != nil {
		return nil, err
	}
	if st.Secrets, err = c.secretSpecs(); err != nil {
		return nil, err
	}
	if st.Configs, err = c.configSpecs(); err != nil {
		return nil, err
	}
	order, err := dependencyOrder(p)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		s := p.Services[name]
		spec, err := c.service(s)
		if err != nil {
			return nil, err
		}
		st.Services = append(st.Services, spec)
		for dep, d := range s.DependsOn {
			if st.DependsOn == nil {
				st.DependsOn = map[string]map[string]string{}
			}
			if st.DependsOn[spec.Name] == nil {
				st.DependsOn[spec.Name] = map[string]string{}
			}
			st.DependsOn[spec.Name][c.scope(dep)] = orDefault(d.Condition, types.ServiceConditionStarted)
		}
	}
	st.Warnings = c.warnings
	return st, nil
}

// reportIgnored turns what Load found outside the supported attributes
// into warnings, one per service (in docker's words) and one for the rest.
func (c *converter) reportIgnored() {
	paths, _ := c.p.Extensions[extIgnored].([]string)
	perService := map[string][]string{}
	var other []string
	for _, path := range paths {
		parts := strings.SplitN(path, ".", 3)
		if len(parts) == 3 && parts[0] == "services" {
			perService[parts[1]] = append(perService[parts[1]], parts[2])
			continue
		}
		other = append(other, path)
	}
	for _, svc := range sortedKeys(perService) {
		keys := perService[svc]
		slices.Sort(keys)
		c.warn("Ignoring unsupported options for service %s: %s", svc, strings.Join(slices.Compact(keys), ", "))
	}
	if len(other) > 0 {
		sort.Strings(other)
		c.warn("Ignoring unsupported options: %s", strings.Join(other, ", "))
	}
}

// dependencyOrder lists services so that every one comes after those it
// depends on; a cycle is an error.
func dependencyOrder(p *types.Project) ([]string, error) {
	var out []string
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("services.%s.depends_on: dependency cycle through service %s: %w", n, n, errdefs.ErrInvalidArgument)
		case 2:
			return nil
		}
		state[n] = 1
		s, ok := p.Services[n]
		if !ok {
			return fmt.Errorf("depends_on: undefined service %s: %w", n, errdefs.ErrInvalidArgument)
		}
		for _, d := range sortedKeys(s.DependsOn) {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, n := range sortedKeys(p.Services) {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
