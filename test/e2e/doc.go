//go:build linux

// Package e2e holds wharf's end-to-end tests: they build the three binaries,
// start a private daemon on a temporary root and socket, and drive it through
// the wharf CLI and the real docker CLI the way a user would. They need root
// and runc; as any other user the whole package skips.
package e2e
