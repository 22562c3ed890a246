//go:build !amd64

package spec

// kernelRunsX32 reports true off amd64: only amd64 kernels have the x32
// ABI, and the profile lists x32 only there, so there is nothing to drop.
func kernelRunsX32() bool { return true }
