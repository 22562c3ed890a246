package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf; they are bind-mounted into the rootfs at start. They are
// derived data, so they skip fsync: start rewrites any that a crash lost.
func (e *Engine) writeEtcFiles(c *Container) error {
	hostname := c.Config.Hostname
	if c.HostConfig.NetworkMode.IsHost() {
		hostname, _ = os.Hostname()
	}
	if err := os.WriteFile(e.containerFile(c.ID, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts bytes.Buffer
	if c.HostConfig.NetworkMode.IsHost() {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts.Write(b)
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, ok = strings.Cut(h, "=")
		}
		if !ok || name == "" || ip == "" {
			return fmt.Errorf("invalid argument %q for \"--add-host\" flag: %w", h, errInvalid)
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	if err := os.WriteFile(e.containerFile(c.ID, "hosts"), hosts.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(e.containerFile(c.ID, "resolv.conf"), resolvConf(c), 0o644)
}

// resolvConf derives the container's resolv.conf from the host's, dropping
// loopback resolvers a private network namespace cannot reach, and applying
// --dns, --dns-search and --dns-option.
func resolvConf(c *Container) []byte {
	host, _ := os.ReadFile("/etc/resolv.conf")
	var ns, search, opts []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if c.HostConfig.NetworkMode.IsHost() || !(strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
				ns = append(ns, f[1])
			}
		case "search":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	if len(c.HostConfig.DNS) > 0 {
		ns = ns[:0]
		for _, a := range c.HostConfig.DNS {
			ns = append(ns, a.String())
		}
	}
	if len(ns) == 0 {
		ns = []string{"8.8.8.8", "8.8.4.4"} // Docker's fallback
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		search = c.HostConfig.DNSSearch
	}
	if len(c.HostConfig.DNSOptions) > 0 {
		opts = c.HostConfig.DNSOptions
	}
	var b bytes.Buffer
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}

// ensureEtcFiles rewrites the /etc files if any is missing or empty.
func (e *Engine) ensureEtcFiles(c *Container) error {
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		if fi, err := os.Stat(e.containerFile(c.ID, f)); err != nil || fi.Size() == 0 {
			return e.writeEtcFiles(c)
		}
	}
	return nil
}
