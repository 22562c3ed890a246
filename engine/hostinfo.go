package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func machineID() string {
	if id := readTrim("/etc/machine-id"); id != "" {
		return id
	}
	return "wharf"
}

func cgroupVersion() string {
	if fileExists("/sys/fs/cgroup/cgroup.controllers") {
		return "2"
	}
	return "1"
}

// osName reads PRETTY_NAME from os-release, as docker info shows it.
func osName() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

// parseUntil accepts a Unix timestamp, an RFC 3339 time or a Go duration
// (meaning that long ago), like docker's `until` filter.
func parseUntil(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(int64(f), 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid timestamp %q: %w", s, errdefs.ErrInvalidArgument)
}
