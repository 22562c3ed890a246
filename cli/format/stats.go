package format

import (
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// Default table layout of `stats`, as in the docker CLI.
const DefaultStatsTable = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// StatsHeader maps stats placeholders to docker's column titles.
var StatsHeader = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
	"BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// Stats is one container's computed usage, as `docker stats` shows it.
type Stats struct {
	ContainerRef     string // what the user asked for (ID or name)
	IDValue          string
	NameValue        string
	CPUPercentage    float64
	Memory           float64
	MemoryLimit      float64
	MemoryPercentage float64
	NetworkRx        float64
	NetworkTx        float64
	BlockRead        float64
	BlockWrite       float64
	PidsCurrent      uint64
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (s Stats) MarshalJSON() ([]byte, error) { return marshalMethods(s) }

// Container is the reference the user gave.
func (s Stats) Container() string { return s.ContainerRef }

// ID is the short container ID.
func (s Stats) ID() string { return TruncateID(s.IDValue) }

// Name is the container name without its slash.
func (s Stats) Name() string { return strings.TrimPrefix(s.NameValue, "/") }

// CPUPerc is the CPU use since the previous sample.
func (s Stats) CPUPerc() string { return fmt.Sprintf("%.2f%%", s.CPUPercentage) }

// MemUsage is "usage / limit" in binary units.
func (s Stats) MemUsage() string {
	return units.BytesSize(s.Memory) + " / " + units.BytesSize(s.MemoryLimit)
}

// MemPerc is memory use relative to the limit.
func (s Stats) MemPerc() string { return fmt.Sprintf("%.2f%%", s.MemoryPercentage) }

// NetIO is bytes received / sent.
func (s Stats) NetIO() string {
	return units.HumanSizeWithPrecision(s.NetworkRx, 3) + " / " + units.HumanSizeWithPrecision(s.NetworkTx, 3)
}

// BlockIO is bytes read / written.
func (s Stats) BlockIO() string {
	return units.HumanSizeWithPrecision(s.BlockRead, 3) + " / " + units.HumanSizeWithPrecision(s.BlockWrite, 3)
}

// PIDs is the number of processes.
func (s Stats) PIDs() string { return strconv.FormatUint(s.PidsCurrent, 10) }

// ComputeStats derives docker's displayed numbers from one API sample (which carries
// the previous sample's CPU counters in PreCPUStats).
func ComputeStats(ref string, v container.StatsResponse) Stats {
	s := Stats{ContainerRef: ref, IDValue: v.ID, NameValue: v.Name, PidsCurrent: v.PidsStats.Current}
	cpuDelta := float64(v.CPUStats.CPUUsage.TotalUsage) - float64(v.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(v.CPUStats.SystemUsage) - float64(v.PreCPUStats.SystemUsage)
	online := float64(v.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(v.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpuDelta > 0 && sysDelta > 0 {
		s.CPUPercentage = cpuDelta / sysDelta * online * 100
	}
	// Page cache is reclaimable, so docker subtracts it (cgroup v1: total_inactive_file,
	// v2: inactive_file).
	mem := float64(v.MemoryStats.Usage)
	if c, ok := v.MemoryStats.Stats["total_inactive_file"]; ok && float64(c) < mem {
		mem -= float64(c)
	} else if c, ok := v.MemoryStats.Stats["inactive_file"]; ok && float64(c) < mem {
		mem -= float64(c)
	}
	s.Memory = mem
	s.MemoryLimit = float64(v.MemoryStats.Limit)
	if s.MemoryLimit > 0 {
		s.MemoryPercentage = mem / s.MemoryLimit * 100
	}
	for _, n := range v.Networks {
		s.NetworkRx += float64(n.RxBytes)
		s.NetworkTx += float64(n.TxBytes)
	}
	for _, e := range v.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			s.BlockRead += float64(e.Value)
		case "write":
			s.BlockWrite += float64(e.Value)
		}
	}
	return s
}
