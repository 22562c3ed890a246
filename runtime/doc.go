// Package runtime groups what turns a container into a running process: OCI
// spec generation (spec), the OCI runtime CLI driver (runc) and the
// per-container monitor and its client (shim).
package runtime
