package format

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// Default table layouts of `ps`, as in the docker CLI.
const (
	DefaultContainerTable     = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	DefaultContainerTableSize = DefaultContainerTable + "\t{{.Size}}"
	QuietContainerFormat      = "{{.ID}}"
)

// ContainerHeader maps container placeholders to docker's column titles.
var ContainerHeader = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
	"Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
	"Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Label": "LABEL",
}

// Container is the value a `ps --format` template sees.
type Container struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

// NewContainer wraps a summary for rendering; now anchors the "… ago" durations.
func NewContainer(c container.Summary, trunc bool, now time.Time) Container {
	return Container{c: c, trunc: trunc, now: now}
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (c Container) MarshalJSON() ([]byte, error) { return marshalMethods(c) }

// ID is the container ID, 12 characters unless --no-trunc.
func (c Container) ID() string {
	if c.trunc {
		return TruncateID(c.c.ID)
	}
	return c.c.ID
}

// Names lists the container's names without their leading slash; truncated output keeps
// only the primary name (legacy links have a slash inside).
func (c Container) Names() string {
	names := make([]string, 0, len(c.c.Names))
	for _, n := range c.c.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	if c.trunc {
		for _, n := range names {
			if !strings.Contains(n, "/") {
				names = []string{n}
				break
			}
		}
	}
	return strings.Join(names, ",")
}

// Image is the image as the user named it, with any digest dropped when truncating.
func (c Container) Image() string {
	if c.c.Image == "" {
		return "<no image>"
	}
	if c.trunc {
		if t := TruncateID(c.c.ImageID); t != "" && t == TruncateID(c.c.Image) {
			return t
		}
		if name, _, ok := strings.Cut(c.c.Image, "@"); ok {
			return name
		}
	}
	return c.c.Image
}

// Command is the quoted command line, shortened to 20 characters when truncating.
func (c Container) Command() string {
	cmd := c.c.Command
	if c.trunc {
		cmd = Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time in Go's default time format, as docker prints it.
func (c Container) CreatedAt() string { return time.Unix(c.c.Created, 0).String() }

// RunningFor is the human age of the container ("5 minutes ago").
func (c Container) RunningFor() string {
	return units.HumanDuration(c.now.Sub(time.Unix(c.c.Created, 0))) + " ago"
}

// Ports lists published and exposed ports in docker's compact form.
func (c Container) Ports() string { return DisplayablePorts(c.c.Ports) }

// State is the bare state word (running, exited, …).
func (c Container) State() string { return string(c.c.State) }

// Status is the daemon's human status ("Up 3 seconds", "Exited (0) 2 minutes ago").
func (c Container) Status() string {
	if c.c.Status == "" && c.c.State != "" {
		s := string(c.c.State)
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return c.c.Status
}

// Size is the writable layer size, plus the virtual size when known.
func (c Container) Size() string {
	srw := units.HumanSizeWithPrecision(float64(c.c.SizeRw), 3)
	if c.c.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", srw, units.HumanSizeWithPrecision(float64(c.c.SizeRootFs), 3))
	}
	return srw
}

// Labels lists key=value pairs, sorted so output is stable.
func (c Container) Labels() string { return joinLabels(c.c.Labels) }

// Label returns one label's value.
func (c Container) Label(name string) string { return c.c.Labels[name] }

// Mounts lists volume names (or bind sources), shortened to 15 characters when truncating.
func (c Container) Mounts() string {
	var out []string
	for _, m := range c.c.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if c.trunc {
			name = Ellipsis(name, 15)
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// LocalVolumes counts mounts of locally-driven volumes.
func (c Container) LocalVolumes() string {
	n := 0
	for _, m := range c.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks lists the networks the container is attached to.
func (c Container) Networks() string {
	if c.c.NetworkSettings == nil {
		return ""
	}
	var names []string
	for n := range c.c.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func joinLabels(labels map[string]string) string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TruncateID drops a "sha256:" prefix and keeps 12 characters, like docker's stringid.
func TruncateID(id string) string {
	if _, after, ok := strings.Cut(id, ":"); ok {
		id = after
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// DisplayablePorts renders ports like docker: consecutive private ports sharing IP and
// protocol collapse into ranges ("0.0.0.0:8000-8001->8000-8001/tcp"); mappings whose public
// port differs from the private one are listed individually at the end.
func DisplayablePorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	groups := map[string]*group{}
	var keys, result, hostMappings []string
	ports = slices.Clone(ports)
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				hostMappings = append(hostMappings, fmt.Sprintf("%s->%d/%s",
					net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		if g == nil {
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			keys = append(keys, key)
			continue
		}
		if p.PrivatePort == g.last+1 {
			g.last = p.PrivatePort
			continue
		}
		result = append(result, formGroup(key, g.first, g.last))
		groups[key] = &group{p.PrivatePort, p.PrivatePort}
	}
	for _, k := range keys {
		result = append(result, formGroup(k, groups[k].first, groups[k].last))
	}
	return strings.Join(append(result, hostMappings...), ", ")
}

func formGroup(key string, first, last uint16) string {
	ip, proto, hasIP := strings.Cut(key, "/")
	if !hasIP {
		ip, proto = "", key
	}
	g := strconv.Itoa(int(first))
	if first != last {
		g += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		g = net.JoinHostPort(ip, g) + "->" + g
	}
	return g + "/" + proto
}
