//go:build !linux

package api

import "net"

// watchClose is a no-op where POLLHUP semantics are not relied upon; the
// session then ends when the process does.
func watchClose(net.Conn, func()) (stop func()) { return func() {} }
