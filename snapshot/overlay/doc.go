// Package overlay is the overlayfs implementation of snapshot.Snapshotter:
// each snapshot is a directory root/snapshots/<n>/{fs,work}, committed
// snapshots are overlay lowerdirs, and metadata lives in root/metadata.db.
package overlay
