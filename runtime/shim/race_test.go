//go:build race

package shim_test

// raceEnabled: the race detector multiplies memory use, so footprint
// bounds do not apply.
const raceEnabled = true
