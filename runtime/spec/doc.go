// Package spec generates OCI runtime specs with Docker's defaults from a
// container's resolved options; it is pure apart from reading the rootfs's
// /etc/passwd and /etc/group in ResolveUser.
package spec
