package spec

import "golang.org/x/sys/unix"

// x32SyscallBit marks a system call number as the x32 ABI's.
const x32SyscallBit = 0x40000000

// kernelRunsX32 makes one harmless x32 system call (getpid): a kernel
// without x32 support, or with it disabled, answers ENOSYS.
func kernelRunsX32() bool {
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOSYS
}
