package runc

import (
	"context"
	"encoding/json"
	"fmt"
)

// Stats is one sample of a container's cgroup counters.
type Stats struct {
	CPUTotal, CPUKernel, CPUUser uint64 // nanoseconds
	CPUPerCPU                    []uint64
	ThrottledPeriods             uint64
	ThrottledTime                uint64
	MemoryUsage                  uint64
	MemoryLimit                  uint64
	MemoryMaxUsage               uint64
	MemoryFailcnt                uint64
	// MemoryStats is the cgroup's memory.stat (cache, rss, …), as docker
	// stats shows it.
	MemoryStats map[string]uint64
	Pids        uint64
	PidsLimit   uint64
}

// eventsStats is the part of `runc events --stats` output we use.
type eventsStats struct {
	Type string `json:"type"`
	Data struct {
		CPU struct {
			Usage struct {
				Total  uint64   `json:"total"`
				PerCPU []uint64 `json:"percpu"`
				Kernel uint64   `json:"kernel"`
				User   uint64   `json:"user"`
			} `json:"usage"`
			Throttling struct {
				Periods          uint64 `json:"periods"`
				ThrottledPeriods uint64 `json:"throttledPeriods"`
				ThrottledTime    uint64 `json:"throttledTime"`
			} `json:"throttling"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Limit   uint64 `json:"limit"`
				Usage   uint64 `json:"usage"`
				Max     uint64 `json:"max"`
				Failcnt uint64 `json:"failcnt"`
			} `json:"usage"`
			Raw map[string]uint64 `json:"raw"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

// Stats samples the container's cgroup counters once.
func (r *Runtime) Stats(ctx context.Context, id string) (*Stats, error) {
	out, err := r.run(ctx, id, "events", "--stats", id)
	if err != nil {
		return nil, err
	}
	return parseStats(out)
}

func parseStats(b []byte) (*Stats, error) {
	var e eventsStats
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode runtime stats: %w", err)
	}
	d := e.Data
	return &Stats{
		CPUTotal:         d.CPU.Usage.Total,
		CPUKernel:        d.CPU.Usage.Kernel,
		CPUUser:          d.CPU.Usage.User,
		CPUPerCPU:        d.CPU.Usage.PerCPU,
		ThrottledPeriods: d.CPU.Throttling.ThrottledPeriods,
		ThrottledTime:    d.CPU.Throttling.ThrottledTime,
		MemoryUsage:      d.Memory.Usage.Usage,
		MemoryLimit:      d.Memory.Usage.Limit,
		MemoryMaxUsage:   d.Memory.Usage.Max,
		MemoryFailcnt:    d.Memory.Usage.Failcnt,
		MemoryStats:      d.Memory.Raw,
		Pids:             d.Pids.Current,
		PidsLimit:        d.Pids.Limit,
	}, nil
}
