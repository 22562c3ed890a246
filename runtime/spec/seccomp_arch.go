package spec

import (
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The default profile lists, on amd64, the x86_64 architecture with x86
// and x32 as sub-architectures, and runc compiles its rules once per
// architecture: x32 alone costs ~10 ms of every container start on this
// kind of machine. Most kernels (Debian's included) build x32 support but
// leave it off (syscall.x32=n), and then no process can make an x32
// system call at all, so its rules guard nothing: leaving the architecture
// out keeps exactly the same set of allowed calls. Without it in the
// filter, an x32 call (were it possible) would hit the default action
// (EPERM) — stricter, never looser.
var x32Reachable = sync.OnceValue(kernelRunsX32)

// dropUnreachableArches removes architectures from a seccomp filter whose
// system calls the running kernel refuses anyway.
func dropUnreachableArches(sc *specs.LinuxSeccomp) {
	if sc == nil || x32Reachable() {
		return
	}
	sc.Architectures = slices.DeleteFunc(sc.Architectures, func(a specs.Arch) bool { return a == specs.ArchX32 })
}
