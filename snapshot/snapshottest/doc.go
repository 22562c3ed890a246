// Package snapshottest is the conformance suite every snapshot.Snapshotter
// implementation runs; the mount checks need root.
package snapshottest
