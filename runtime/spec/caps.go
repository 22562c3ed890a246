package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// defaultCaps is Docker's default capability set, in Docker's order.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps lists every capability of current Linux kernels (capability.h),
// in number order; it is what privileged containers and "ALL" get.
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// normalizeCap turns "net_admin", "NET_ADMIN" or "cap_net_admin" into
// "CAP_NET_ADMIN" and rejects names the kernel does not know, as Docker does.
func normalizeCap(name string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(name))
	if c == "ALL" {
		return c, nil
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if !slices.Contains(allCaps, c) {
		return "", fmt.Errorf("invalid capability %q: unknown capability: %w", name, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// capabilities applies Docker's rules: start from the default set (or all
// when privileged), add CapAdd, then remove CapDrop; "ALL" works on both
// sides and an explicit add wins over a drop of ALL.
func capabilities(privileged bool, add, drop []string) ([]string, error) {
	adds, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	drops, err := normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	if privileged || slices.Contains(adds, "ALL") {
		return slices.Clone(allCaps), nil
	}
	var out []string
	if !slices.Contains(drops, "ALL") {
		for _, c := range defaultCaps {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
	}
	for _, c := range adds {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func normalizeCaps(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		c, err := normalizeCap(n)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
