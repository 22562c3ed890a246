// Command wharf-shim monitors one container process (a container's init or
// one exec'd process) for wharfd: it holds the process's stdio, writes the
// json-file log, serves attach clients, reaps the process and records its
// exit. It outlives the daemon and imports only the standard library,
// golang.org/x/sys and the stdlib-only wire protocol, to stay small.
//
// Usage: wharf-shim STATE_DIR (started by runtime/shim, never by hand).
package main
