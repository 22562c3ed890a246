// Package wire is the protocol between the shim client (runtime/shim) and the
// wharf-shim monitor: file names in the state directory, the request and
// response lines on the control socket and the attach frame format. It uses
// only the standard library because wharf-shim may import nothing else.
//
// A client opens a connection to SocketName per request and writes one JSON
// Request line; the shim answers with one JSON Response line. After an
// "attach" response the shim sends frames (a 1-byte stream, a 4-byte
// big-endian length, the payload) until a StreamEnd frame, while the client
// writes raw stdin bytes and half-closes its side at stdin EOF.
package wire
