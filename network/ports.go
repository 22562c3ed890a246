package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
)

// portRequest is one host socket to reserve for one container port.
// lo == 0 asks for any free (ephemeral) host port; lo < hi is a range to
// take the first free port from.
type portRequest struct {
	container network.Port
	hostIP    netip.Addr // invalid = all addresses
	lo, hi    uint16
}

// parseHostPort parses the HostPort of a binding: "", "N" or "A-B".
func parseHostPort(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err = parsePortNumber(a)
	if err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePortNumber(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("invalid host port range %q: end before start: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	return lo, hi, nil
}

func parsePortNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q: must be 1-65535: %w", s, errdefs.ErrInvalidArgument)
	}
	return uint16(n), nil
}

// portRequests validates bindings and expands them, adding ephemeral
// bindings for exposed ports when publishAll (docker run -P) is set. The
// result is sorted so that reservations happen in a stable order.
func portRequests(bindings network.PortMap, exposed network.PortSet, publishAll bool) ([]portRequest, error) {
	var out []portRequest
	check := func(p network.Port) error {
		if !p.IsValid() || p.Num() == 0 {
			return fmt.Errorf("invalid container port %q: %w", p.String(), errdefs.ErrInvalidArgument)
		}
		if pr := p.Proto(); pr != network.TCP && pr != network.UDP {
			return fmt.Errorf("invalid protocol %q for port %d: only tcp and udp are supported: %w", pr, p.Num(), errdefs.ErrInvalidArgument)
		}
		return nil
	}
	for p, bs := range bindings {
		if err := check(p); err != nil {
			return nil, err
		}
		if len(bs) == 0 {
			bs = []network.PortBinding{{}}
		}
		for _, b := range bs {
			if b.HostIP.IsValid() && !b.HostIP.Is4() {
				if b.HostIP.Is4In6() {
					b.HostIP = b.HostIP.Unmap()
				} else {
					// IPv6 bindings are skipped as Docker does without ip6tables.
					continue
				}
			}
			lo, hi, err := parseHostPort(b.HostPort)
			if err != nil {
				return nil, err
			}
			ip := b.HostIP
			if ip.IsValid() && ip.IsUnspecified() {
				ip = netip.Addr{}
			}
			out = append(out, portRequest{container: p, hostIP: ip, lo: lo, hi: hi})
		}
	}
	if publishAll {
		for p := range exposed {
			if err := check(p); err != nil {
				return nil, err
			}
			if _, ok := bindings[p]; ok {
				continue
			}
			out = append(out, portRequest{container: p})
		}
	}
	slices.SortFunc(out, func(a, b portRequest) int {
		if c := strings.Compare(a.container.String(), b.container.String()); c != 0 {
			return c
		}
		if c := a.hostIP.Compare(b.hostIP); c != 0 {
			return c
		}
		return int(a.lo) - int(b.lo)
	})
	return out, nil
}
