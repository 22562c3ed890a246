// Package server is wharf's registry: the OCI Distribution Spec v1.1 over
// HTTP (pull, push — monolithic and chunked —, cross-repository mount,
// tag listing and catalog with pagination, referrers, deletion) with
// Docker's headers, so both docker/wharf clients and OCI tools use it.
// Content lives on disk addressed by digest, verified while written and
// renamed into place only when complete: an interrupted upload never
// leaves a visible blob.
package server
