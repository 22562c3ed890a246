package nft

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create")
	assert.Equal(t, string(want), got)
}

func sampleState() State {
	return State{
		Table: "wharf",
		Networks: []Network{
			{Bridge: "wb-0123456789ab", Subnet: netip.MustParsePrefix("10.20.0.0/24")},
			{Bridge: "wharf0", Subnet: netip.MustParsePrefix("172.30.0.0/16")},
			{Bridge: "wb-internal", Subnet: netip.MustParsePrefix("10.21.0.0/24"), Internal: true},
		},
		Ports: []Port{
			{Proto: "udp", HostPort: 53, ContainerIP: netip.MustParseAddr("172.30.0.3"), ContainerPort: 53},
			{Proto: "tcp", HostPort: 4000, ContainerIP: netip.MustParseAddr("172.30.0.2"), ContainerPort: 80},
			{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5000, ContainerIP: netip.MustParseAddr("10.20.0.2"), ContainerPort: 5000},
		},
	}
}

func TestRender(t *testing.T) {
	rs, err := Render(sampleState())
	require.NoError(t, err)
	golden(t, rs.String())

	// Order of inputs does not matter.
	s := sampleState()
	s.Networks[0], s.Networks[2] = s.Networks[2], s.Networks[0]
	s.Ports[0], s.Ports[2] = s.Ports[2], s.Ports[0]
	rs2, err := Render(s)
	require.NoError(t, err)
	assert.Equal(t, rs.String(), rs2.String())
}

func TestRenderEmpty(t *testing.T) {
	rs, err := Render(State{Table: "wharf-test"})
	require.NoError(t, err)
	golden(t, rs.String())
}

func TestRenderRejectsBadInput(t *testing.T) {
	cip := netip.MustParseAddr("10.0.0.2")
	for name, s := range map[string]State{
		"no table":   {},
		"bad proto":  {Table: "w", Ports: []Port{{Proto: "sctp", HostPort: 1, ContainerPort: 1, ContainerIP: cip}}},
		"zero port":  {Table: "w", Ports: []Port{{Proto: "tcp", HostPort: 0, ContainerPort: 1, ContainerIP: cip}}},
		"v6 host":    {Table: "w", Ports: []Port{{Proto: "tcp", HostIP: netip.MustParseAddr("::1"), HostPort: 1, ContainerPort: 1, ContainerIP: cip}}},
		"no cip":     {Table: "w", Ports: []Port{{Proto: "tcp", HostPort: 1, ContainerPort: 1}}},
		"long name":  {Table: "w", Networks: []Network{{Bridge: "0123456789abcdef", Subnet: netip.MustParsePrefix("10.0.0.0/8")}}},
		"bad subnet": {Table: "w", Networks: []Network{{Bridge: "b"}}},
	} {
		_, err := Render(s)
		assert.True(t, errdefs.IsInvalidArgument(err), "%s: %v", name, err)
	}
}

func TestRenderRedirect(t *testing.T) {
	rs, err := RenderRedirect("wharf-dns", netip.MustParseAddr("127.0.0.11"), 40001, 40002)
	require.NoError(t, err)
	golden(t, rs.String())
	_, err = RenderRedirect("wharf-dns", netip.MustParseAddr("127.0.0.11"), 0, 1)
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestRenderMesh(t *testing.T) {
	b1, b2 := netip.MustParseAddr("10.88.0.2"), netip.MustParseAddr("10.88.0.3")
	rs, err := Render(State{Table: "wharf", Services: []ServicePort{
		{Proto: "tcp", HostPort: 80, TargetPort: 8080, Backends: []netip.Addr{b1, b2}},
		{Proto: "udp", HostPort: 53, TargetPort: 53}, // no task runs: no rule
	}})
	require.NoError(t, err)
	text := rs.String()
	assert.Contains(t, text, "chain mesh-tcp-80 {}\n  ct mark set numgen inc mod 2\n")
	assert.Contains(t, text, "  ct mark 0 dnat to 10.88.0.2:8080\n")
	assert.Contains(t, text, "  ct mark 1 dnat to 10.88.0.3:8080\n")
	assert.Contains(t, text, "  tcp dport 80 jump mesh-tcp-80\n")
	assert.NotContains(t, text, "udp dport 53")

	_, err = Render(State{Table: "wharf", Services: []ServicePort{{Proto: "sctp", HostPort: 1, TargetPort: 1}}})
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestRenderMeshDuplicatePort(t *testing.T) {
	b := []netip.Addr{netip.MustParseAddr("10.0.0.5")}
	_, err := Render(State{Table: "wharf", Services: []ServicePort{
		{Proto: "tcp", HostPort: 80, TargetPort: 80, Backends: b},
		{Proto: "tcp", HostPort: 80, TargetPort: 8080, Backends: b},
	}})
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
}

func TestRenderVIPs(t *testing.T) {
	vips := []VIP{
		{Addr: netip.MustParseAddr("10.0.1.5"), Backends: []netip.Addr{netip.MustParseAddr("10.0.1.7"), netip.MustParseAddr("10.0.1.8")}},
		{Addr: netip.MustParseAddr("10.0.1.2")}, // no running task: refused
	}
	rs, err := RenderVIPs(VIPTable, vips)
	require.NoError(t, err)
	golden(t, rs.String())
	vips[0], vips[1] = vips[1], vips[0]
	rs2, err := RenderVIPs(VIPTable, vips)
	require.NoError(t, err)
	assert.Equal(t, rs.String(), rs2.String(), "order of inputs does not matter")

	for name, bad := range map[string][]VIP{
		"v6 vip":     {{Addr: netip.MustParseAddr("::1")}},
		"no vip":     {{}},
		"v6 backend": {{Addr: netip.MustParseAddr("10.0.0.2"), Backends: []netip.Addr{netip.MustParseAddr("::2")}}},
		"twice":      {{Addr: netip.MustParseAddr("10.0.0.2")}, {Addr: netip.MustParseAddr("10.0.0.2")}},
	} {
		_, err := RenderVIPs(VIPTable, bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%s: %v", name, err)
	}
	_, err = RenderVIPs("", nil)
	assert.True(t, errdefs.IsInvalidArgument(err))
}

// benchServices makes n services with one published port and one VIP each,
// every one with backends running tasks.
func benchServices(n, backends int) ([]ServicePort, []VIP) {
	var ports []ServicePort
	var vips []VIP
	for i := range n {
		var bs []netip.Addr
		for j := range backends {
			bs = append(bs, netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j + 10)}))
		}
		ports = append(ports, ServicePort{Proto: "tcp", HostPort: uint16(10000 + i), TargetPort: 80, Backends: bs})
		vips = append(vips, VIP{Addr: netip.AddrFrom4([4]byte{10, 2, byte(i), 2}), Backends: bs})
	}
	return ports, vips
}

// BenchmarkRenderMesh renders the host table with 100 services × 50 tasks
// published on the routing mesh.
func BenchmarkRenderMesh(b *testing.B) {
	ports, _ := benchServices(100, 50)
	s := sampleState()
	s.Services = ports
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderVIPs renders one container's VIP table for 100 services × 50 tasks.
func BenchmarkRenderVIPs(b *testing.B) {
	_, vips := benchServices(100, 50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderVIPs(VIPTable, vips); err != nil {
			b.Fatal(err)
		}
	}
}
