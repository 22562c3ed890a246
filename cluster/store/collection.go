package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Cluster is the one cluster object: what /swarm shows plus what only
// managers may read (join tokens, the root CA's key).
type Cluster struct {
	swarm.ClusterInfo
	JoinTokens swarm.JoinTokens
	RootCA     RootCA
}

// RootCA is the swarm CA as PEM: managers sign node certificates with it.
type RootCA struct {
	CertPEM []byte
	KeyPEM  []byte `json:",omitempty"`
}

// Collection is the typed view of one kind of object. T is a moby swarm
// type (or Cluster) whose ID and Meta the collection reads through meta.
type Collection[T any] struct {
	s      *Store
	kind   string // for messages: "node", "service", …
	prefix string
	meta   func(*T) (*string, *swarm.Meta)
}

func newCollection[T any](s *Store, kind, dir string, meta func(*T) (*string, *swarm.Meta)) *Collection[T] {
	return &Collection[T]{s: s, kind: kind, prefix: keyRoot + dir + "/", meta: meta}
}

// Clusters holds the cluster object (one per swarm, keyed by cluster ID).
func (s *Store) Clusters() *Collection[Cluster] {
	return newCollection(s, "cluster", "clusters", func(c *Cluster) (*string, *swarm.Meta) { return &c.ID, &c.Meta })
}

// Nodes holds swarm.Node objects.
func (s *Store) Nodes() *Collection[swarm.Node] {
	return newCollection(s, "node", "nodes", func(n *swarm.Node) (*string, *swarm.Meta) { return &n.ID, &n.Meta })
}

// Services holds swarm.Service objects.
func (s *Store) Services() *Collection[swarm.Service] {
	return newCollection(s, "service", "services", func(v *swarm.Service) (*string, *swarm.Meta) { return &v.ID, &v.Meta })
}

// ServiceAuth is the registry credentials (an encoded X-Registry-Auth)
// that a service's tasks pull their image with: docker keeps them in the
// service's ContainerSpec.PullOptions, which its API never shows, so here
// they live beside the service, under its ID, and inspect cannot leak them.
type ServiceAuth struct {
	ID string
	swarm.Meta
	// RegistryAuth goes with the service's Spec, PreviousRegistryAuth with
	// its PreviousSpec (a rollback takes it back).
	RegistryAuth         string `json:",omitempty"`
	PreviousRegistryAuth string `json:",omitempty"`
}

// ServiceAuths holds the ServiceAuth of services created or updated with
// credentials. Write it in the same Commit as the service it belongs to.
func (s *Store) ServiceAuths() *Collection[ServiceAuth] {
	return newCollection(s, "service auth", "serviceauths", func(v *ServiceAuth) (*string, *swarm.Meta) { return &v.ID, &v.Meta })
}

// Tasks holds swarm.Task objects.
func (s *Store) Tasks() *Collection[swarm.Task] {
	return newCollection(s, "task", "tasks", func(t *swarm.Task) (*string, *swarm.Meta) { return &t.ID, &t.Meta })
}

// Networks holds swarm-scoped networks.
func (s *Store) Networks() *Collection[swarm.Network] {
	return newCollection(s, "network", "networks", func(n *swarm.Network) (*string, *swarm.Meta) { return &n.ID, &n.Meta })
}

// Secrets holds swarm.Secret objects, data included (the API strips it).
func (s *Store) Secrets() *Collection[swarm.Secret] {
	return newCollection(s, "secret", "secrets", func(v *swarm.Secret) (*string, *swarm.Meta) { return &v.ID, &v.Meta })
}

// Configs holds swarm.Config objects.
func (s *Store) Configs() *Collection[swarm.Config] {
	return newCollection(s, "config", "configs", func(v *swarm.Config) (*string, *swarm.Meta) { return &v.ID, &v.Meta })
}

func (c *Collection[T]) key(id string) string { return c.prefix + id }

// decode reads a stored object and stamps its version with the key's
// ModRevision, the only version the store trusts.
func (c *Collection[T]) decode(value []byte, modRev int64) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(value, v); err != nil {
		return nil, fmt.Errorf("%s: corrupt record: %v: %w", c.kind, err, errdefs.ErrDataLoss)
	}
	_, m := c.meta(v)
	m.Version.Index = uint64(modRev)
	return v, nil
}

// encode marshals obj without its version: the stored version is the key's
// ModRevision, so a copy in the value could only ever be stale.
func (c *Collection[T]) encode(obj *T) ([]byte, error) {
	cp := *obj
	_, m := c.meta(&cp)
	m.Version = swarm.Version{}
	return json.Marshal(&cp)
}

// Get returns the object with this exact ID (NotFound if none).
func (c *Collection[T]) Get(ctx context.Context, id string) (*T, error) {
	if id == "" {
		return nil, fmt.Errorf("%s: empty id: %w", c.kind, errdefs.ErrInvalidArgument)
	}
	resp, err := c.s.cli.Get(ctx, c.key(id))
	if err != nil {
		return nil, wrapEtcd(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s %s not found: %w", c.kind, id, errdefs.ErrNotFound)
	}
	return c.decode(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// List returns every object of the kind, ordered by ID.
func (c *Collection[T]) List(ctx context.Context) ([]*T, error) {
	out, _, err := c.ListRev(ctx)
	return out, err
}

// ListRev is List plus the store revision it read at: pass rev+1 to Watch
// to see every change after the list, none twice.
func (c *Collection[T]) ListRev(ctx context.Context) ([]*T, int64, error) {
	resp, err := c.s.cli.Get(ctx, c.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, wrapEtcd(err)
	}
	out := make([]*T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v, err := c.decode(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, resp.Header.Revision, nil
}

// Create stores a new object. An empty ID gets NewID(); zero CreatedAt and
// UpdatedAt get the current time. On success obj's ID and Version are set.
// An existing ID fails with AlreadyExists.
func (c *Collection[T]) Create(ctx context.Context, obj *T) error {
	op, err := c.CreateOp(obj)
	if err != nil {
		return err
	}
	return c.s.commitOne(ctx, op)
}

// Update replaces an object if its stored version still equals
// obj's Version.Index; otherwise it fails with Conflict ("update out of
// sequence") and the caller must re-read. UpdatedAt is set to now, and on
// success obj's Version is the new one.
func (c *Collection[T]) Update(ctx context.Context, obj *T) error {
	op, err := c.UpdateOp(obj)
	if err != nil {
		return err
	}
	return c.s.commitOne(ctx, op)
}

// Delete removes an object; version 0 deletes whatever is stored, any
// other version must match (Conflict otherwise). NotFound if absent.
func (c *Collection[T]) Delete(ctx context.Context, id string, version uint64) error {
	return c.s.commitOne(ctx, c.DeleteOp(id, version))
}

// Modify reads the object, applies fn and writes it back, retrying from a
// fresh read when another writer got there first. fn may run several
// times; an error from it aborts without writing.
func (c *Collection[T]) Modify(ctx context.Context, id string, fn func(*T) error) (*T, error) {
	for attempt := 0; ; attempt++ {
		obj, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := fn(obj); err != nil {
			return nil, err
		}
		err = c.Update(ctx, obj)
		if err == nil {
			return obj, nil
		}
		if !errdefs.IsConflict(err) || attempt >= 20 {
			return nil, err
		}
	}
}

// Op is one write of a transaction built with CreateOp, UpdateOp or
// DeleteOp and applied with Store.Commit.
type Op struct {
	kind, id string
	key      string
	cmp      clientv3.Cmp
	op       clientv3.Op
	create   bool
	// done stamps the written object with the transaction's revision.
	done func(rev int64)
}

// CreateOp is Create as part of a transaction.
func (c *Collection[T]) CreateOp(obj *T) (Op, error) {
	id, m := c.meta(obj)
	if *id == "" {
		*id = NewID()
	}
	now := time.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	data, err := c.encode(obj)
	if err != nil {
		return Op{}, err
	}
	key := c.key(*id)
	return Op{kind: c.kind, id: *id, key: key, create: true,
		cmp:  clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
		op:   clientv3.OpPut(key, string(data)),
		done: func(rev int64) { m.Version.Index = uint64(rev) }}, nil
}

// UpdateOp is Update as part of a transaction.
func (c *Collection[T]) UpdateOp(obj *T) (Op, error) {
	id, m := c.meta(obj)
	if *id == "" {
		return Op{}, fmt.Errorf("%s: update without an id: %w", c.kind, errdefs.ErrInvalidArgument)
	}
	if m.Version.Index == 0 {
		return Op{}, fmt.Errorf("%s %s: update without a version: %w", c.kind, *id, errdefs.ErrInvalidArgument)
	}
	prev := m.UpdatedAt
	m.UpdatedAt = time.Now().UTC()
	data, err := c.encode(obj)
	if err != nil {
		m.UpdatedAt = prev
		return Op{}, err
	}
	key := c.key(*id)
	return Op{kind: c.kind, id: *id, key: key,
		cmp:  clientv3.Compare(clientv3.ModRevision(key), "=", int64(m.Version.Index)),
		op:   clientv3.OpPut(key, string(data)),
		done: func(rev int64) { m.Version.Index = uint64(rev) }}, nil
}

// PutOp writes obj whatever is stored (create or replace), for objects
// that are only written together with another, versioned one.
func (c *Collection[T]) PutOp(obj *T) (Op, error) {
	id, m := c.meta(obj)
	if *id == "" {
		return Op{}, fmt.Errorf("%s: put without an id: %w", c.kind, errdefs.ErrInvalidArgument)
	}
	now := time.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.UpdatedAt = now
	data, err := c.encode(obj)
	if err != nil {
		return Op{}, err
	}
	key := c.key(*id)
	// Always true: any version, including none.
	return Op{kind: c.kind, id: *id, key: key,
		cmp:  clientv3.Compare(clientv3.Version(key), ">", -1),
		op:   clientv3.OpPut(key, string(data)),
		done: func(rev int64) { m.Version.Index = uint64(rev) }}, nil
}

// RemoveOp deletes id if it is stored and does nothing otherwise, for the
// same objects as PutOp.
func (c *Collection[T]) RemoveOp(id string) Op {
	key := c.key(id)
	return Op{kind: c.kind, id: id, key: key,
		cmp: clientv3.Compare(clientv3.Version(key), ">", -1),
		op:  clientv3.OpDelete(key), done: func(int64) {}}
}

// DeleteOp is Delete as part of a transaction.
func (c *Collection[T]) DeleteOp(id string, version uint64) Op {
	key := c.key(id)
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if version != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", int64(version))
	}
	return Op{kind: c.kind, id: id, key: key, cmp: cmp, op: clientv3.OpDelete(key), done: func(int64) {}}
}

// Commit applies ops atomically: all of them or, when any object changed
// since it was read (or a created ID exists, or a deleted one is gone),
// none, with a Conflict error. This is how a controller writes a plan made
// from a snapshot (optimistic concurrency, as nomad's plan applier).
func (s *Store) Commit(ctx context.Context, ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) == 1 {
		return s.commitOne(ctx, ops[0])
	}
	cmps := make([]clientv3.Cmp, len(ops))
	puts := make([]clientv3.Op, len(ops))
	for i, o := range ops {
		cmps[i], puts[i] = o.cmp, o.op
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Commit()
	if err != nil {
		return wrapEtcd(err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("update out of sequence: %d objects changed concurrently: %w", len(ops), errdefs.ErrConflict)
	}
	for _, o := range ops {
		o.done(resp.Header.Revision)
	}
	return nil
}

// commitOne applies one op and, when its compare fails, says precisely why.
func (s *Store) commitOne(ctx context.Context, o Op) error {
	resp, err := s.cli.Txn(ctx).If(o.cmp).Then(o.op).Else(clientv3.OpGet(o.key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return wrapEtcd(err)
	}
	if resp.Succeeded {
		o.done(resp.Header.Revision)
		return nil
	}
	exists := len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) > 0
	switch {
	case o.create:
		return fmt.Errorf("%s %s already exists: %w", o.kind, o.id, errdefs.ErrAlreadyExists)
	case !exists:
		return fmt.Errorf("%s %s not found: %w", o.kind, o.id, errdefs.ErrNotFound)
	default:
		return fmt.Errorf("update out of sequence: %s %s was changed since it was read: %w", o.kind, o.id, errdefs.ErrConflict)
	}
}

// EventType says what happened to an object.
type EventType int

const (
	// EventPut is a create or an update.
	EventPut EventType = iota
	// EventDelete is a removal; Object is the last stored value.
	EventDelete
)

// Event is one change seen by Watch. Err is set on the last event of a
// watch that failed (e.g. its start revision was compacted): re-list.
type Event[T any] struct {
	Type     EventType
	Object   *T
	Revision int64
	Err      error
}

// Watch streams changes to the kind from revision fromRev (0: from now).
// The channel closes when ctx ends or the watch fails (after an Err event).
func (c *Collection[T]) Watch(ctx context.Context, fromRev int64) <-chan Event[T] {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev))
	}
	out := make(chan Event[T], 64)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := c.s.cli.Watch(wctx, c.prefix, opts...)
	go func() {
		defer close(out)
		defer cancel()
		send := func(ev Event[T]) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				send(Event[T]{Err: wrapEtcd(err)})
				return
			}
			for _, e := range resp.Events {
				ev := Event[T]{Revision: e.Kv.ModRevision}
				var err error
				if e.Type == clientv3.EventTypeDelete {
					ev.Type = EventDelete
					if e.PrevKv == nil {
						continue
					}
					ev.Object, err = c.decode(e.PrevKv.Value, e.PrevKv.ModRevision)
				} else {
					ev.Object, err = c.decode(e.Kv.Value, e.Kv.ModRevision)
				}
				if err != nil {
					ev = Event[T]{Err: err}
				}
				if !send(ev) {
					return
				}
			}
		}
		if ctx.Err() == nil {
			send(Event[T]{Err: fmt.Errorf("%s watch ended: %w", c.kind, errdefs.ErrUnavailable)})
		}
	}()
	return out
}

// wrapEtcd gives etcd client errors an errdefs class: a cancelled or timed
// out request keeps its context error, anything else means the store could
// not serve the request.
func wrapEtcd(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("cluster store: %v: %w", err, errdefs.ErrUnavailable)
}
