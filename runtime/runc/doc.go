// Package runc drives an OCI runtime through its command line (runc, or crun
// which speaks the same CLI) for the operations that need no stdio: kill,
// pause, resume, delete, state, ps and stats.
package runc
