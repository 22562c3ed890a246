package snapshot

import (
	"context"
	"time"
)

// Kind says whether a snapshot is still writable.
type Kind int

const (
	// KindActive is a writable snapshot made by Prepare; it can be mounted
	// and committed. Containers live in active snapshots.
	KindActive Kind = iota + 1
	// KindCommitted is a read-only snapshot made by Commit; it is only ever a
	// parent. Image layers are committed snapshots named by chain ID.
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// Info describes one snapshot.
type Info struct {
	Key     string // key of an active snapshot or name of a committed one
	Parent  string // committed parent, "" for a snapshot on the empty directory
	Kind    Kind
	Created time.Time
}

// Mount is one mount to perform, in the style of containerd's mount.Mount:
// Options holds both flag words ("ro", "rbind") and filesystem data
// ("lowerdir=…").
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// Snapshotter stores snapshots by key.
//
// A key names an active snapshot; a name names a committed one; both share a
// single namespace, so a key cannot be reused while either exists. Parents are
// always committed snapshots. Applying an image layer is:
//
//	mounts, _ := sn.Prepare(ctx, tmpKey, parentChainID)
//	// unpack the layer diff into the upper directory (see UpperDir)
//	sn.Commit(ctx, chainID, tmpKey)
//
// and a container's root filesystem is Prepare(ctx, containerID, imageChainID)
// followed by MountAll. Implementations are safe for concurrent use and
// crash-safe: an acknowledged call survives kill -9.
type Snapshotter interface {
	// Prepare makes a writable active snapshot key on top of committed
	// parent ("" = empty) and returns its mounts. AlreadyExists if key is
	// taken, NotFound if parent does not exist, FailedPrecondition if parent
	// is not committed.
	Prepare(ctx context.Context, key, parent string) ([]Mount, error)
	// Mounts returns the mounts of active snapshot key again.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit turns active key into committed name; key ceases to exist.
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot and its data; FailedPrecondition if it has
	// children. The caller unmounts it first.
	Remove(ctx context.Context, key string) error
	// Stat describes a snapshot; NotFound if it does not exist.
	Stat(ctx context.Context, key string) (Info, error)
	// Usage is the number of bytes in the snapshot's own upper directory
	// (what it adds on top of its parents).
	Usage(ctx context.Context, key string) (int64, error)
	// Walk calls fn for every snapshot, in no particular order; an error from
	// fn stops the walk and is returned.
	Walk(ctx context.Context, fn func(Info) error) error
}
