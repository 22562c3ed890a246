// Package storage is the registry's content-addressed disk store: blobs
// verified against their digest and renamed into place only when whole,
// resumable uploads with their running offset, and per-repository links
// (blobs, manifests, tags, referrers) written atomically, so a blob is
// visible in a repository only after it was pushed or mounted there.
//
// Layout below the root:
//
//	blobs/<alg>/<2 hex>/<hex>                            content of every repository
//	repositories/<name>/_layers/<alg>/<hex>              blob linked into the repository (empty file)
//	repositories/<name>/_manifests/<alg>/<hex>           manifest in the repository (holds its media type)
//	repositories/<name>/_tags/<tag>                      tag → manifest digest
//	repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  descriptor of a manifest whose subject is <alg>:<hex>
//	_uploads/<id>/{info.json,data}                       upload in progress, with its committed offset
//	lock                                                 flock held by a running server (gc refuses to run)
//
// Repository names cannot start with "_" (see ValidateRepository), so the
// link directories never collide with a name component.
package storage
