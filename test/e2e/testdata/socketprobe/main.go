// Command socketprobe opens a socket of each address family given as an
// argument and prints "family errno" (0 when it opened), so a test can see
// which families a container's seccomp filter lets through.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func main() {
	for _, a := range os.Args[1:] {
		family, err := strconv.Atoi(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		code := 0
		fd, err := syscall.Socket(family, syscall.SOCK_DGRAM, 0)
		if err == nil {
			syscall.Close(fd)
		} else {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				code = int(errno)
			}
		}
		fmt.Println(family, code)
	}
}
