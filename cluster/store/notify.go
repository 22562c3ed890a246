package store

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Notify calls poke after every change of the collection until ctx ends.
// Each watch starts just after a revision read first, and poke is called
// once as it starts: a change before that revision is seen by the caller's
// next full read, every change after it by the watch — none falls in the
// gap between a caller's first read and the watch being in place. When a
// watch breaks, it watches again the same way. Controllers use it to wake
// their reconcile loops.
func (c *Collection[T]) Notify(ctx context.Context, poke func()) {
	for ctx.Err() == nil {
		if rev, err := c.revision(ctx); err == nil {
			events := c.Watch(ctx, rev+1)
			poke()
			for ev := range events {
				if ev.Err == nil {
					poke()
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// revision is the store's current revision.
func (c *Collection[T]) revision(ctx context.Context) (int64, error) {
	resp, err := c.s.cli.Get(ctx, c.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, wrapEtcd(err)
	}
	return resp.Header.Revision, nil
}
