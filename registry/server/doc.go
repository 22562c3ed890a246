// Package server is wharf's registry: the OCI Distribution Spec v1.1 as an
// http.Handler (pull, push — monolithic, single-POST and chunked with strict
// offsets —, cross-repository and anonymous mount, tag listing and catalog
// with pagination, referrers, deletion of manifests, tags and blobs, Range
// reads, sha256 and sha512) with Docker's headers, so docker, wharf and OCI
// tools all use it. Content lives in a storage.Store; every 4xx carries the
// OCI error JSON.
package server
