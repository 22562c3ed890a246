// Package remote is the engine's registry client: it pulls images from and
// pushes them to Docker and OCI registries (through go-containerregistry),
// streaming blobs into the image store and reporting docker-style
// per-layer progress, and checks credentials for `docker login`.
package remote
