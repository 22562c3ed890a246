package format

import (
	"strconv"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
)

// Default table layout of `volume ls`, as in the docker CLI.
const (
	DefaultVolumeTable = "table {{.Driver}}\t{{.Name}}"
	QuietVolumeFormat  = "{{.Name}}"
)

// VolumeHeader maps volume placeholders to docker's column titles.
var VolumeHeader = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
}

// Volume is the value a `volume ls --format` template sees.
type Volume struct{ v volume.Volume }

// VolumeRows wraps volumes for rendering.
func VolumeRows(vols []volume.Volume) []any {
	rows := make([]any, 0, len(vols))
	for _, v := range vols {
		rows = append(rows, Volume{v})
	}
	return rows
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (c Volume) MarshalJSON() ([]byte, error) { return marshalMethods(c) }

// Name is the volume name.
func (c Volume) Name() string { return c.v.Name }

// Driver is the volume driver.
func (c Volume) Driver() string { return c.v.Driver }

// Scope is local or global.
func (c Volume) Scope() string { return c.v.Scope }

// Mountpoint is the path on the daemon host.
func (c Volume) Mountpoint() string { return c.v.Mountpoint }

// Labels lists key=value pairs.
func (c Volume) Labels() string { return joinLabels(c.v.Labels) }

// Label returns one label's value.
func (c Volume) Label(name string) string { return c.v.Labels[name] }

// Links counts containers using the volume, or N/A.
func (c Volume) Links() string {
	if c.v.UsageData == nil {
		return "N/A"
	}
	return strconv.FormatInt(c.v.UsageData.RefCount, 10)
}

// Size is the disk usage, or N/A.
func (c Volume) Size() string {
	if c.v.UsageData == nil || c.v.UsageData.Size < 0 {
		return "N/A"
	}
	return units.HumanSizeWithPrecision(float64(c.v.UsageData.Size), 3)
}
