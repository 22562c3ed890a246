package api

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// watchClose calls onClose when the client closes the hijacked connection
// completely, while nothing reads from it (stdin not attached) — otherwise
// an attach to a silent container would outlive its client. A half-close
// (the client's end of stdin) does not count: on a unix socket only a full
// close raises POLLHUP. The socket is watched through a duplicate
// descriptor so Go's poller keeps sole ownership of the original; stop
// ends the watch and must be called before the connection is closed.
func watchClose(conn net.Conn, onClose func()) (stop func()) {
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = nc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	dup := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		return func() {}
	}
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		unix.Close(dup)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(dup)
		defer unix.Close(wake[0])
		fds := []unix.PollFd{{Fd: int32(dup)}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				onClose()
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_, _ = unix.Write(wake[1], []byte{0})
			<-done
			unix.Close(wake[1])
		})
	}
}
