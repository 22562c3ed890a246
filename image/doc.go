// Package image is wharf's image store: content-addressed blobs on disk,
// image records and tags in bbolt, and layers unpacked as committed snapshots
// named by chain ID. It implements docker's import, load, save, tag, rmi,
// history, prune and inspect semantics.
package image
