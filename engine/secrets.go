package engine

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"

	"wharf.io/wharf/cluster/store"
)

// Secrets and configs: named blobs in the cluster store that tasks get as
// files. Both kinds behave alike; objectKind holds what differs.
type objectKind[T any] struct {
	noun    string // "secret" or "config"
	coll    func(*store.Store) *store.Collection[T]
	id      func(*T) string
	name    func(*T) string
	labels  func(*T) map[string]string
	data    func(*T) []byte
	meta    func(*T) *swarm.Meta // version and times
	spec    func(*T) *swarm.Annotations
	clear   func(*T) // drops what is never returned (a secret's data)
	maxSize int
	usedBy  func(cs *swarm.ContainerSpec, id string) bool
}

var secretKind = objectKind[swarm.Secret]{
	noun: "secret", coll: (*store.Store).Secrets, id: func(s *swarm.Secret) string { return s.ID },
	name: func(s *swarm.Secret) string { return s.Spec.Name }, labels: func(s *swarm.Secret) map[string]string { return s.Spec.Labels },
	data: func(s *swarm.Secret) []byte { return s.Spec.Data }, meta: func(s *swarm.Secret) *swarm.Meta { return &s.Meta },
	spec:  func(s *swarm.Secret) *swarm.Annotations { return &s.Spec.Annotations },
	clear: func(s *swarm.Secret) { s.Spec.Data = nil }, maxSize: 500 * 1024,
	usedBy: func(cs *swarm.ContainerSpec, id string) bool {
		for _, r := range cs.Secrets {
			if r != nil && r.SecretID == id {
				return true
			}
		}
		return false
	},
}

var configKind = objectKind[swarm.Config]{
	noun: "config", coll: (*store.Store).Configs, id: func(c *swarm.Config) string { return c.ID },
	name: func(c *swarm.Config) string { return c.Spec.Name }, labels: func(c *swarm.Config) map[string]string { return c.Spec.Labels },
	data: func(c *swarm.Config) []byte { return c.Spec.Data }, meta: func(c *swarm.Config) *swarm.Meta { return &c.Meta },
	spec:  func(c *swarm.Config) *swarm.Annotations { return &c.Spec.Annotations },
	clear: func(*swarm.Config) {}, maxSize: 1000 * 1024,
	usedBy: func(cs *swarm.ContainerSpec, id string) bool {
		for _, r := range cs.Configs {
			if r != nil && r.ConfigID == id {
				return true
			}
		}
		return false
	},
}

func (k objectKind[T]) create(ctx context.Context, e *Engine, obj *T) (string, error) {
	st, err := e.clusterStore()
	if err != nil {
		return "", err
	}
	name := k.name(obj)
	if name == "" || !serviceNameRE.MatchString(name) || len(name) > 64 {
		return "", fmt.Errorf("invalid %s name %q: %w", k.noun, name, errdefs.ErrInvalidArgument)
	}
	if n := len(k.data(obj)); n == 0 || n > k.maxSize {
		return "", fmt.Errorf("%s data must be larger than 0 and less than %d bytes: %w", k.noun, k.maxSize, errdefs.ErrInvalidArgument)
	}
	all, err := k.coll(st).List(ctx)
	if err != nil {
		return "", err
	}
	for _, o := range all {
		if k.name(o) == name {
			return "", fmt.Errorf("%s %s already exists: %w", k.noun, name, errdefs.ErrConflict)
		}
	}
	if err := k.coll(st).Create(ctx, obj); err != nil {
		return "", err
	}
	return k.id(obj), nil
}

func (k objectKind[T]) find(ctx context.Context, st *store.Store, ref string) (*T, error) {
	all, err := k.coll(st).List(ctx)
	if err != nil {
		return nil, err
	}
	var byPrefix []*T
	for _, o := range all {
		if k.id(o) == ref || k.name(o) == ref {
			return o, nil
		}
		if strings.HasPrefix(k.id(o), ref) {
			byPrefix = append(byPrefix, o)
		}
	}
	if len(byPrefix) == 1 {
		return byPrefix[0], nil
	}
	return nil, fmt.Errorf("%s %s not found: %w", k.noun, ref, errdefs.ErrNotFound)
}

func (k objectKind[T]) list(ctx context.Context, e *Engine, f Filters) ([]T, error) {
	if err := validateFilters(f, "id", "name", "names", "label"); err != nil {
		return nil, err
	}
	st, err := e.clusterStore()
	if err != nil {
		return nil, err
	}
	all, err := k.coll(st).List(ctx)
	if err != nil {
		return nil, err
	}
	out := []T{}
	for _, o := range all {
		if !matchAny(f["id"], func(v string) bool { return strings.HasPrefix(k.id(o), v) }) ||
			!matchAny(f["name"], func(v string) bool { return strings.HasPrefix(k.name(o), v) }) ||
			!matchAny(f["names"], func(v string) bool { return k.name(o) == v }) ||
			!matchAny(f["label"], func(v string) bool {
				key, val, hasVal := strings.Cut(v, "=")
				got, ok := k.labels(o)[key]
				return ok && (!hasVal || got == val)
			}) {
			continue
		}
		k.clear(o)
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return k.name(&out[i]) < k.name(&out[j]) })
	return out, nil
}

func (k objectKind[T]) inspect(ctx context.Context, e *Engine, ref string) (T, error) {
	var zero T
	st, err := e.clusterStore()
	if err != nil {
		return zero, err
	}
	o, err := k.find(ctx, st, ref)
	if err != nil {
		return zero, err
	}
	k.clear(o)
	return *o, nil
}

func (k objectKind[T]) remove(ctx context.Context, e *Engine, ref string) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	o, err := k.find(ctx, st, ref)
	if err != nil {
		return err
	}
	services, err := st.Services().List(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, s := range services {
		if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil && k.usedBy(cs, k.id(o)) {
			users = append(users, s.Spec.Name)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("rpc error: code = InvalidArgument desc = %s '%s' is in use by the following service: %s: %w",
			k.noun, k.name(o), strings.Join(users, ", "), errdefs.ErrInvalidArgument)
	}
	return k.coll(st).Delete(ctx, k.id(o), 0)
}

// update changes an object's labels. Like swarmkit it changes nothing else:
// a new name or different data is refused, and version must be the
// object's current one (the store answers Conflict otherwise).
func (k objectKind[T]) update(ctx context.Context, e *Engine, ref string, version uint64, name string, data []byte, labels map[string]string) error {
	st, err := e.clusterStore()
	if err != nil {
		return err
	}
	cur, err := k.find(ctx, st, ref)
	if err != nil {
		return err
	}
	if name != k.name(cur) || (data != nil && !bytes.Equal(data, k.data(cur))) {
		return fmt.Errorf("rpc error: code = InvalidArgument desc = only updates to Labels are allowed: %w", errdefs.ErrInvalidArgument)
	}
	k.meta(cur).Version.Index = version
	k.spec(cur).Labels = labels
	return k.coll(st).Update(ctx, cur)
}

// matchAny reports whether no values were given or pred holds for one.
func matchAny(vals []string, pred func(string) bool) bool {
	if len(vals) == 0 {
		return true
	}
	for _, v := range vals {
		if pred(v) {
			return true
		}
	}
	return false
}

// SecretCreate implements POST /secrets/create.
func (e *Engine) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	if spec.Driver != nil && spec.Driver.Name != "" {
		return "", fmt.Errorf("secret drivers are not supported: %w", errdefs.ErrNotImplemented)
	}
	return secretKind.create(ctx, e, &swarm.Secret{Spec: spec})
}

// SecretList implements GET /secrets.
func (e *Engine) SecretList(ctx context.Context, f Filters) ([]swarm.Secret, error) {
	return secretKind.list(ctx, e, f)
}

// SecretInspect implements GET /secrets/{id}; the data is never returned.
func (e *Engine) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	return secretKind.inspect(ctx, e, ref)
}

// SecretRemove implements DELETE /secrets/{id}.
func (e *Engine) SecretRemove(ctx context.Context, ref string) error {
	return secretKind.remove(ctx, e, ref)
}

// SecretUpdate implements POST /secrets/{id}/update: labels only, as swarmkit.
func (e *Engine) SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	return secretKind.update(ctx, e, ref, version, spec.Name, spec.Data, spec.Labels)
}

// ConfigCreate implements POST /configs/create.
func (e *Engine) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	return configKind.create(ctx, e, &swarm.Config{Spec: spec})
}

// ConfigList implements GET /configs.
func (e *Engine) ConfigList(ctx context.Context, f Filters) ([]swarm.Config, error) {
	return configKind.list(ctx, e, f)
}

// ConfigInspect implements GET /configs/{id}.
func (e *Engine) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	return configKind.inspect(ctx, e, ref)
}

// ConfigUpdate implements POST /configs/{id}/update: labels only, as swarmkit.
func (e *Engine) ConfigUpdate(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error {
	return configKind.update(ctx, e, ref, version, spec.Name, spec.Data, spec.Labels)
}

// ConfigRemove implements DELETE /configs/{id}.
func (e *Engine) ConfigRemove(ctx context.Context, ref string) error {
	return configKind.remove(ctx, e, ref)
}
