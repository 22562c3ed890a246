// Package volume keeps named volumes for the local driver: a directory per
// volume under the daemon's root plus a metadata row in bbolt.
package volume
