package format

import (
	"strconv"

	"github.com/moby/moby/api/types/network"
)

// Default table layout of `network ls`, as in the docker CLI.
const (
	DefaultNetworkTable = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
	QuietNetworkFormat  = "{{.ID}}"
)

// NetworkHeader maps network placeholders to docker's column titles.
var NetworkHeader = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

// Network is the value a `network ls --format` template sees.
type Network struct {
	n     network.Summary
	trunc bool
}

// NetworkRows wraps networks for rendering; trunc shortens IDs to 12 characters.
func NetworkRows(nets []network.Summary, trunc bool) []any {
	rows := make([]any, 0, len(nets))
	for _, n := range nets {
		rows = append(rows, Network{n, trunc})
	}
	return rows
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (c Network) MarshalJSON() ([]byte, error) { return marshalMethods(c) }

// ID is the network ID, truncated unless --no-trunc.
func (c Network) ID() string {
	if c.trunc {
		return TruncateID(c.n.ID)
	}
	return c.n.ID
}

// Name is the network's name.
func (c Network) Name() string { return c.n.Name }

// Driver is the network driver.
func (c Network) Driver() string { return c.n.Driver }

// Scope is local or swarm.
func (c Network) Scope() string { return c.n.Scope }

// IPv4 tells whether IPv4 is enabled.
func (c Network) IPv4() string { return strconv.FormatBool(c.n.EnableIPv4) }

// IPv6 tells whether IPv6 is enabled.
func (c Network) IPv6() string { return strconv.FormatBool(c.n.EnableIPv6) }

// Internal tells whether the network has no outside access.
func (c Network) Internal() string { return strconv.FormatBool(c.n.Internal) }

// Labels joins the labels as k=v,…
func (c Network) Labels() string { return joinLabels(c.n.Labels) }

// Label is one label's value.
func (c Network) Label(name string) string { return c.n.Labels[name] }

// CreatedAt is the creation time as docker prints it (time.Time's String,
// with the daemon's offset and fractional seconds).
func (c Network) CreatedAt() string { return c.n.Created.String() }
