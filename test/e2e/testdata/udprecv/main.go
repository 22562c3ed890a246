// Command udprecv prints every UDP datagram it receives on the port given
// as its argument. Debian's busybox nc has no UDP mode, so the e2e suite
// builds this static helper and mounts it into a container.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp4", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			os.Exit(1)
		}
		os.Stdout.Write(buf[:n])
	}
}
