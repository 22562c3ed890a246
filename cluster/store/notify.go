package store

import (
	"context"
	"time"
)

// Notify calls poke after every change of the collection until ctx ends,
// watching again when a watch breaks (and poking then too: whatever it
// missed, the caller's next full read sees). Controllers use it to wake
// their reconcile loops.
func (c *Collection[T]) Notify(ctx context.Context, poke func()) {
	for ctx.Err() == nil {
		for ev := range c.Watch(ctx, 0) {
			if ev.Err == nil {
				poke()
			}
		}
		poke()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
