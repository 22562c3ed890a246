// Package api serves the Docker Engine API over HTTP so that the docker CLI,
// the moby Go SDK and wharf's own client can drive the engine.
//
// The package owns everything between the socket and the engine: listeners
// (unix, TCP with mutual TLS), the router (mounted both unversioned and under
// /v{version}/), API-version negotiation, the single errdefs→HTTP status
// mapping (errors.go), request validation, and the streaming protocols docker
// speaks: hijacked attach/exec sessions, multiplexed stdout/stderr frames,
// flushed log streams and newline-delimited JSON progress messages.
//
// Request and response bodies are the types of github.com/moby/moby/api; the
// engine is reached only through the interfaces in backend.go.
package api
