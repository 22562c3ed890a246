package format

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var now = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func assertGolden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), got)
}

func containers() []container.Summary {
	return []container.Summary{
		{
			ID: "4f66ad9a0b2e5d7a8f1c3b9e0d2a4c6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c", Names: []string{"/web"},
			Image: "nginx:latest", ImageID: "sha256:aaaa", Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
			Created: now.Add(-3 * time.Minute).Unix(), State: "running", Status: "Up 3 minutes",
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"}, {PrivatePort: 444, Type: "tcp"},
			},
			Labels:          map[string]string{"b": "2", "a": "1"},
			Mounts:          []container.MountPoint{{Name: "averyveryverylongvolumename", Driver: "local"}},
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{"bridge": {}, "app": {}}},
		},
		{
			ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Names: []string{"/job", "/web/job"},
			Image: "busybox@sha256:0123456789012345678901234567890123456789012345678901234567890123", Command: "echo hi",
			Created: now.Add(-2 * time.Hour).Unix(), State: "exited", Status: "Exited (0) 2 hours ago",
			SizeRw: 1234, SizeRootFs: 4_500_000,
		},
	}
}

func rows(cs []container.Summary, trunc bool) []any {
	var out []any
	for _, c := range cs {
		out = append(out, NewContainer(c, trunc, now))
	}
	return out
}

func TestMain(m *testing.M) {
	time.Local = time.UTC // CreatedAt uses local time
	os.Exit(m.Run())
}

func TestContainerTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultContainerTable, ContainerHeader, rows(containers(), true)))
	assertGolden(t, buf.String())
}

func TestContainerTableNoTruncSize(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf}.Write(DefaultContainerTableSize, ContainerHeader, rows(containers(), false)))
	assertGolden(t, buf.String())
}

func TestContainerCustomFormat(t *testing.T) {
	var buf bytes.Buffer
	f := `table {{.ID}}\t{{.Names}}\t{{.State}}\t{{.Labels}}\t{{.Mounts}}\t{{.Networks}}\t{{.CreatedAt}}`
	require.NoError(t, Context{Output: &buf, Format: f}.Write(DefaultContainerTable, ContainerHeader, rows(containers(), true)))
	assertGolden(t, buf.String())
}

func TestContainerJSON(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: "json"}.Write(DefaultContainerTable, ContainerHeader, rows(containers()[:1], true)))
	assertGolden(t, buf.String())
}

func TestContainerQuiet(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: QuietContainerFormat}.Write(DefaultContainerTable, ContainerHeader, rows(containers(), true)))
	assert.Equal(t, "4f66ad9a0b2e\n0123456789ab\n", buf.String())
}

func TestTemplateHelpers(t *testing.T) {
	var buf bytes.Buffer
	f := `{{upper .Names}} {{lower "AB"}} {{title "hello world"}} {{join (split "a,b" ",") "|"}} {{truncate .ID 4}} {{pad "x" 1 1}}{{.Label "a"}}|{{json .State}}`
	require.NoError(t, Context{Output: &buf, Format: f}.Write(DefaultContainerTable, ContainerHeader, rows(containers()[:1], true)))
	assert.Equal(t, "WEB ab Hello World a|b 4f66  x 1|\"running\"\n", buf.String())

	err := Context{Output: &buf, Format: "{{.Nope"}.Write("", nil, nil)
	require.Error(t, err)
	err = Context{Output: &buf, Format: "{{.Nope}}"}.Write("", nil, rows(containers(), true))
	require.Error(t, err)
}

// The order (a broken group is flushed before open groups) is docker's own.
func TestDisplayablePorts(t *testing.T) {
	any4 := netip.MustParseAddr("0.0.0.0")
	any6 := netip.MustParseAddr("::")
	ports := []container.PortSummary{
		{IP: any4, PrivatePort: 8001, PublicPort: 8001, Type: "tcp"},
		{IP: any4, PrivatePort: 8000, PublicPort: 8000, Type: "tcp"},
		{IP: any6, PrivatePort: 8000, PublicPort: 8000, Type: "tcp"},
		{IP: any4, PrivatePort: 53, PublicPort: 5353, Type: "udp"},
		{PrivatePort: 9000, Type: "tcp"},
		{PrivatePort: 9002, Type: "tcp"},
	}
	assert.Equal(t, "9000/tcp, 0.0.0.0:8000-8001->8000-8001/tcp, [::]:8000->8000/tcp, 9002/tcp, 0.0.0.0:5353->53/udp", DisplayablePorts(ports))
	assert.Equal(t, "", DisplayablePorts(nil))
}

func images() []image.Summary {
	return []image.Summary{
		{ID: "sha256:1111111111111111111111111111111111111111111111111111111111111111", RepoTags: []string{"busybox:latest", "busybox:local"},
			RepoDigests: []string{"busybox@sha256:2222222222222222222222222222222222222222222222222222222222222222"},
			Created:     now.Add(-72 * time.Hour).Unix(), Size: 4_261_000, Containers: -1, SharedSize: -1},
		{ID: "sha256:3333333333333333333333333333333333333333333333333333333333333333", RepoTags: []string{"127.0.0.1:5002/john/trace:1"},
			Created: now.Add(-10 * time.Second).Unix(), Size: 123_456_789},
		{ID: "sha256:4444444444444444444444444444444444444444444444444444444444444444", Created: now.Add(-400 * 24 * time.Hour).Unix(), Size: 1000},
	}
}

func TestImageTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultImageTable, ImageHeader, ImageRows(images(), false, true, now)))
	assertGolden(t, buf.String())
}

func TestImageTableDigests(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf}.Write(DefaultImageTableDigests, ImageHeader, ImageRows(images(), true, false, now)))
	assertGolden(t, buf.String())
}

func TestImageFormat(t *testing.T) {
	var buf bytes.Buffer
	f := `{{.Repository}}:{{.Tag}} {{.ID}} {{.CreatedAt}} {{.Containers}} {{.SharedSize}}`
	require.NoError(t, Context{Output: &buf, Format: f}.Write(DefaultImageTable, ImageHeader, ImageRows(images(), false, true, now)))
	assertGolden(t, buf.String())
}

func TestVolumeTable(t *testing.T) {
	var buf bytes.Buffer
	vols := []volume.Volume{{Name: "data", Driver: "local", Scope: "local", Labels: map[string]string{"x": "y"}},
		{Name: "cache", Driver: "local", UsageData: &volume.UsageData{RefCount: 2, Size: 2048}}}
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultVolumeTable, VolumeHeader, VolumeRows(vols)))
	require.NoError(t, Context{Output: &buf, Format: "table {{.Name}}\t{{.Labels}}\t{{.Links}}\t{{.Size}}"}.Write(DefaultVolumeTable, VolumeHeader, VolumeRows(vols)))
	assertGolden(t, buf.String())
}

func TestHistoryTable(t *testing.T) {
	var buf bytes.Buffer
	items := []image.HistoryResponseItem{
		{ID: "sha256:5555555555555555555555555555555555555555555555555555555555555555", Created: now.Add(-time.Hour).Unix(),
			CreatedBy: "/bin/sh -c #(nop)\tCMD [\"sh\"] with a very long tail that gets cut", Size: 0},
		{ID: "<missing>", Created: now.Add(-48 * time.Hour).Unix(), CreatedBy: "ADD rootfs.tar /", Size: 4_261_000, Comment: "imported"},
	}
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultHistoryTable, HistoryHeader, HistoryRows(items, true, now)))
	assertGolden(t, buf.String())
}

func TestStats(t *testing.T) {
	var v container.StatsResponse
	v.ID, v.Name = "0123456789abcdef", "/web"
	v.CPUStats.CPUUsage.TotalUsage, v.PreCPUStats.CPUUsage.TotalUsage = 300, 100
	v.CPUStats.SystemUsage, v.PreCPUStats.SystemUsage = 2000, 1000
	v.CPUStats.OnlineCPUs = 2
	v.MemoryStats.Usage, v.MemoryStats.Limit = 100<<20, 1<<30
	v.MemoryStats.Stats = map[string]uint64{"total_inactive_file": 50 << 20}
	v.Networks = map[string]container.NetworkStats{"eth0": {RxBytes: 1500, TxBytes: 600}}
	v.BlkioStats.IoServiceBytesRecursive = []container.BlkioStatEntry{{Op: "Read", Value: 4096}, {Op: "Write", Value: 8192}}
	v.PidsStats.Current = 3
	s := ComputeStats("web", v)
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultStatsTable, StatsHeader, []any{s}))
	assertGolden(t, buf.String())
}

func TestEllipsis(t *testing.T) {
	assert.Equal(t, "abc", Ellipsis("abc", 3))
	assert.Equal(t, "ab…", Ellipsis("abcd", 3))
	assert.Equal(t, "a", Ellipsis("abcd", 1))
	assert.Equal(t, "0123456789ab", TruncateID("sha256:0123456789abcdef"))
}

func networks() []network.Summary {
	return []network.Summary{
		{Network: network.Network{ID: "9c1e6a5d3b7f2e4a6c8d0b1f3e5a7c9d1b3f5e7a9c1d3b5f7e9a1c3d5b7f9e1a", Name: "bridge", Driver: "bridge",
			Scope: "local", EnableIPv4: true, Created: now.Add(-time.Hour)}},
		{Network: network.Network{ID: "2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c", Name: "appnet", Driver: "bridge",
			Scope: "local", EnableIPv4: true, Internal: true, Labels: map[string]string{"team": "core", "env": "dev"},
			Created: now.Add(-90*time.Second + 123456789)}},
	}
}

func TestNetworkTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Context{Output: &buf, Format: ""}.Write(DefaultNetworkTable, NetworkHeader, NetworkRows(networks(), true)))
	require.NoError(t, Context{Output: &buf, Format: "table"}.Write(DefaultNetworkTable, NetworkHeader, NetworkRows(networks(), false)))
	require.NoError(t, Context{Output: &buf, Format: QuietNetworkFormat}.Write(DefaultNetworkTable, NetworkHeader, NetworkRows(networks(), true)))
	custom := "table {{.Name}}\t{{.IPv4}}\t{{.IPv6}}\t{{.Internal}}\t{{.Labels}}\t{{.Label \"team\"}}\t{{.CreatedAt}}"
	require.NoError(t, Context{Output: &buf, Format: custom}.Write(DefaultNetworkTable, NetworkHeader, NetworkRows(networks(), true)))
	require.NoError(t, Context{Output: &buf, Format: "{{json .}}"}.Write(DefaultNetworkTable, NetworkHeader, NetworkRows(networks()[1:], true)))
	assertGolden(t, buf.String())
}
