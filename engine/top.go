package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// ContainerTop implements GET /containers/{id}/top: like Docker, it runs the
// host's ps and keeps the rows whose PID belongs to the container.
func (e *Engine) ContainerTop(ctx context.Context, idOrName, psArgs string) (container.TopResponse, error) {
	c, err := e.get(idOrName)
	if err != nil {
		return container.TopResponse{}, err
	}
	c.mu.Lock()
	running := c.running()
	c.mu.Unlock()
	if !running {
		return container.TopResponse{}, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	pids, err := e.runtimeFor(c.HostConfig.Runtime).Ps(ctx, c.ID)
	if err != nil {
		return container.TopResponse{}, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return container.TopResponse{}, fmt.Errorf("ps %s: %v: %w", psArgs, err, errdefs.ErrInvalidArgument)
	}
	return filterPs(out, pids)
}

func filterPs(out []byte, pids []int) (container.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return container.TopResponse{}, fmt.Errorf("couldn't find PID field in ps output: %w", errdefs.ErrInvalidArgument)
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	resp := container.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !want[pid] {
			continue
		}
		// The last column (CMD) may contain spaces: keep it whole.
		row := append(f[:len(titles)-1:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		resp.Processes = append(resp.Processes, row)
	}
	return resp, nil
}

// ContainerStats implements GET /containers/{id}/stats from the runtime's
// cgroup counters.
func (e *Engine) ContainerStats(ctx context.Context, idOrName string, stream bool, emit func(*container.StatsResponse) error) error {
	c, err := e.get(idOrName)
	if err != nil {
		return err
	}
	var prev *container.StatsResponse
	sample := func() *container.StatsResponse {
		s := &container.StatsResponse{ID: c.ID, Name: "/" + c.Name, Read: time.Now().UTC()}
		c.mu.Lock()
		running := c.running()
		c.mu.Unlock()
		if running {
			if st, err := e.runtimeFor(c.HostConfig.Runtime).Stats(ctx, c.ID); err == nil {
				s.CPUStats.CPUUsage.TotalUsage = st.CPUTotal
				s.CPUStats.CPUUsage.UsageInKernelmode = st.CPUKernel
				s.CPUStats.CPUUsage.UsageInUsermode = st.CPUUser
				s.MemoryStats.Usage = st.MemoryUsage
				s.MemoryStats.Limit = st.MemoryLimit
				s.MemoryStats.MaxUsage = st.MemoryMaxUsage
				s.MemoryStats.Stats = st.MemoryStats
				s.PidsStats.Current = st.Pids
				s.PidsStats.Limit = st.PidsLimit
			}
		}
		s.CPUStats.SystemUsage = systemCPUUsage()
		s.CPUStats.OnlineCPUs = uint32(runtime.NumCPU())
		if s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > hostMemory() {
			s.MemoryStats.Limit = hostMemory()
		}
		if prev != nil {
			s.PreCPUStats = prev.CPUStats
			s.PreRead = prev.Read
		}
		return s
	}
	if !stream {
		// One report with a CPU delta, as docker stats --no-stream expects.
		prev = sample()
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return nil
		}
		return emit(sample())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s := sample()
		if err := emit(s); err != nil {
			return nil
		}
		prev = s
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// systemCPUUsage is the host's total CPU time in ns, from /proc/stat.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && fields[0] == "cpu" {
			var ticks uint64
			for _, v := range fields[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			return ticks * (1e9 / 100) // USER_HZ is 100 on Linux
		}
	}
	return 0
}

func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(l))
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
