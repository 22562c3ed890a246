package cli

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetworkIPAM(t *testing.T) {
	ipam, err := networkIPAM("", "", "")
	require.NoError(t, err)
	assert.Nil(t, ipam, "no subnet: the daemon picks one")

	ipam, err = networkIPAM("10.20.0.0/24", "10.20.0.254", "10.20.0.128/25")
	require.NoError(t, err)
	require.Len(t, ipam.Config, 1)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.0/24"), ipam.Config[0].Subnet)
	assert.Equal(t, netip.MustParseAddr("10.20.0.254"), ipam.Config[0].Gateway)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.128/25"), ipam.Config[0].IPRange)

	for _, c := range [][3]string{{"", "10.0.0.1", ""}, {"", "", "10.0.0.0/25"}, {"10.0.0.0/33", "", ""}, {"nope", "", ""}, {"10.0.0.0/24", "x", ""}, {"10.0.0.0/24", "", "y"}} {
		_, err := networkIPAM(c[0], c[1], c[2])
		assert.Error(t, err, "%v", c)
	}
}

func TestPortLines(t *testing.T) {
	ns := &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"):   {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "4000"}, {HostIP: netip.MustParseAddr("::"), HostPort: "4000"}},
		network.MustParsePort("443/tcp"):  {{HostPort: "8443"}},
		network.MustParsePort("53/udp"):   {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}},
		network.MustParsePort("8080/tcp"): nil,
	}}
	all, err := portLines("web", ns, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:4000", "80/tcp -> [::]:4000", "443/tcp -> 0.0.0.0:8443"}, all,
		"port order as docker's natural sort, IPv6 in brackets")

	one, err := portLines("web", ns, []string{"80"})
	require.NoError(t, err)
	assert.Equal(t, []string{"0.0.0.0:4000", "[::]:4000"}, one)
	one, err = portLines("web", ns, []string{"53/udp"})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:5353"}, one)

	_, err = portLines("web", ns, []string{"8080"})
	assert.EqualError(t, err, "Error: No public port '8080' published for web", "exposed but not published")
	_, err = portLines("web", ns, []string{"53"})
	assert.EqualError(t, err, "Error: No public port '53' published for web", "53/tcp is not 53/udp")
	_, err = portLines("web", nil, []string{"80"})
	assert.Error(t, err)
	_, err = portLines("web", ns, []string{"abc/xyz"})
	assert.EqualError(t, err, "Error: invalid port (abc/xyz)")

	none, err := portLines("web", nil, nil)
	require.NoError(t, err)
	assert.Empty(t, none)
}

// netAPI adds the network and inspect calls to fakeAPI, recording what the
// commands send.
type netAPI struct {
	*fakeAPI
	nets          []network.Summary
	created       map[string]client.NetworkCreateOptions
	listed        client.NetworkListOptions
	removed       []string
	connected     map[string]client.NetworkConnectOptions
	disconnected  map[string]client.NetworkDisconnectOptions
	pruneFilters  client.Filters
	inspected     container.InspectResponse
	removeErr     map[string]error
	inspectNetErr error
}

func newNetAPI() *netAPI {
	return &netAPI{
		fakeAPI: &fakeAPI{},
		nets: []network.Summary{
			{Network: network.Network{ID: strings.Repeat("b", 64), Name: "bridge", Driver: "bridge", Scope: "local"}},
			{Network: network.Network{ID: strings.Repeat("a", 64), Name: "appnet", Driver: "bridge", Scope: "local"}},
		},
		created:      map[string]client.NetworkCreateOptions{},
		connected:    map[string]client.NetworkConnectOptions{},
		disconnected: map[string]client.NetworkDisconnectOptions{},
		removeErr:    map[string]error{},
	}
}

func (f *netAPI) NetworkCreate(_ context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	f.created[name] = o
	return client.NetworkCreateResult{ID: "id-" + name}, nil
}

func (f *netAPI) NetworkList(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
	f.listed = o
	return client.NetworkListResult{Items: append([]network.Summary(nil), f.nets...)}, nil
}

func (f *netAPI) NetworkInspect(_ context.Context, id string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	if f.inspectNetErr != nil {
		return client.NetworkInspectResult{}, f.inspectNetErr
	}
	for _, n := range f.nets {
		if n.Name == id || n.ID == id {
			return client.NetworkInspectResult{Network: network.Inspect{Network: n.Network}, Raw: []byte(fmt.Sprintf(`{"Name":%q,"Id":%q}`, n.Name, n.ID))}, nil
		}
	}
	return client.NetworkInspectResult{}, fmt.Errorf("network %s not found: %w", id, errdefs.ErrNotFound)
}

func (f *netAPI) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	if err := f.removeErr[id]; err != nil {
		return client.NetworkRemoveResult{}, err
	}
	f.removed = append(f.removed, id)
	return client.NetworkRemoveResult{}, nil
}

func (f *netAPI) NetworkPrune(_ context.Context, o client.NetworkPruneOptions) (client.NetworkPruneResult, error) {
	f.pruneFilters = o.Filters
	return client.NetworkPruneResult{Report: network.PruneReport{NetworksDeleted: []string{"old1", "old2"}}}, nil
}

func (f *netAPI) NetworkConnect(_ context.Context, id string, o client.NetworkConnectOptions) (client.NetworkConnectResult, error) {
	f.connected[id] = o
	return client.NetworkConnectResult{}, nil
}

func (f *netAPI) NetworkDisconnect(_ context.Context, id string, o client.NetworkDisconnectOptions) (client.NetworkDisconnectResult, error) {
	f.disconnected[id] = o
	return client.NetworkDisconnectResult{}, nil
}

func (f *netAPI) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	if id != "web" {
		return client.ContainerInspectResult{}, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
	}
	return client.ContainerInspectResult{Container: f.inspected}, nil
}

func TestNetworkCreateCommand(t *testing.T) {
	api := newNetAPI()
	out, _, err := runCLI(t, api, "network", "create", "-d", "bridge", "--subnet", "10.20.0.0/24", "--gateway", "10.20.0.254",
		"--ip-range", "10.20.0.128/25", "--internal", "--label", "team=core", "--label", "flag", "-o", "com.docker.network.bridge.name=br-app", "appnet")
	require.NoError(t, err)
	assert.Equal(t, "id-appnet\n", out)
	o := api.created["appnet"]
	assert.Equal(t, "bridge", o.Driver)
	assert.True(t, o.Internal)
	assert.Equal(t, map[string]string{"team": "core", "flag": ""}, o.Labels)
	assert.Equal(t, map[string]string{"com.docker.network.bridge.name": "br-app"}, o.Options)
	require.NotNil(t, o.IPAM)
	assert.Equal(t, []network.IPAMConfig{{
		Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.20.0.254"), IPRange: netip.MustParsePrefix("10.20.0.128/25"),
	}}, o.IPAM.Config)

	_, _, err = runCLI(t, api, "network", "create", "plain")
	require.NoError(t, err)
	assert.Equal(t, "bridge", api.created["plain"].Driver, "bridge is the default driver")
	assert.Nil(t, api.created["plain"].IPAM, "the daemon picks the subnet")

	for _, args := range [][]string{
		{"network", "create"},
		{"network", "create", "a", "b"},
		{"network", "create", "--subnet", "10.0.0.0/33", "x"},
		{"network", "create", "--gateway", "10.0.0.1", "x"},
		{"network", "create", "-o", "=v", "x"},
	} {
		_, _, err := runCLI(t, newNetAPI(), args...)
		assert.Error(t, err, "%v", args)
	}
}

func TestNetworkLsCommand(t *testing.T) {
	api := newNetAPI()
	out, _, err := runCLI(t, api, "network", "ls")
	require.NoError(t, err)
	assert.Equal(t, "NETWORK ID     NAME      DRIVER    SCOPE\n"+
		"aaaaaaaaaaaa   appnet    bridge    local\n"+
		"bbbbbbbbbbbb   bridge    bridge    local\n", out, "sorted by name, IDs truncated")

	out, _, err = runCLI(t, api, "network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge", "-f", "name=app")
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("a", 64)+"\n"+strings.Repeat("b", 64)+"\n", out)
	assert.Equal(t, client.Filters{"driver": {"bridge": true}, "name": {"app": true}}, api.listed.Filters)

	out, _, err = runCLI(t, api, "network", "list", "--format", "{{.Name}}:{{.Scope}}")
	require.NoError(t, err)
	assert.Equal(t, "appnet:local\nbridge:local\n", out)

	_, _, err = runCLI(t, api, "network", "ls", "--filter", "nokey")
	assert.Error(t, err)
}

func TestNetworkInspectRmPrune(t *testing.T) {
	api := newNetAPI()
	out, _, err := runCLI(t, api, "network", "inspect", "-f", "{{.Name}} {{.Driver}}", "appnet", "bridge")
	require.NoError(t, err)
	assert.Equal(t, "appnet bridge\nbridge bridge\n", out)

	out, _, err = runCLI(t, api, "network", "inspect", "appnet")
	require.NoError(t, err)
	assert.Contains(t, out, `"Name": "appnet"`)

	_, _, err = runCLI(t, api, "network", "inspect", "nope")
	assert.Error(t, err)

	api.removeErr["busy"] = fmt.Errorf("error while removing network: network busy has active endpoints: %w", errdefs.ErrConflict)
	out, _, err = runCLI(t, api, "network", "rm", "appnet", "busy", "old")
	require.Error(t, err, "one failure fails the command")
	assert.Contains(t, err.Error(), "active endpoints")
	assert.Equal(t, "appnet\nold\n", out, "the others are still removed and named")
	assert.Equal(t, []string{"appnet", "old"}, api.removed)

	out, _, err = runCLI(t, api, "network", "prune", "-f", "--filter", "until=24h")
	require.NoError(t, err)
	assert.Equal(t, "Deleted Networks:\nold1\nold2\n\n", out)
	assert.Equal(t, client.Filters{"until": {"24h": true}}, api.pruneFilters)
}

func TestNetworkConnectDisconnect(t *testing.T) {
	api := newNetAPI()
	_, _, err := runCLI(t, api, "network", "connect", "--alias", "cache", "--alias", "db,store", "--ip", "10.20.0.9", "appnet", "web")
	require.NoError(t, err)
	o := api.connected["appnet"]
	assert.Equal(t, "web", o.Container)
	require.NotNil(t, o.EndpointConfig)
	assert.Equal(t, []string{"cache", "db", "store"}, o.EndpointConfig.Aliases)
	assert.Equal(t, netip.MustParseAddr("10.20.0.9"), o.EndpointConfig.IPAMConfig.IPv4Address)

	_, _, err = runCLI(t, api, "network", "connect", "bridge", "web")
	require.NoError(t, err)
	assert.Nil(t, api.connected["bridge"].EndpointConfig.IPAMConfig)

	_, _, err = runCLI(t, api, "network", "connect", "--ip", "10.0.0.300", "appnet", "web")
	assert.Error(t, err)
	_, _, err = runCLI(t, api, "network", "connect", "appnet")
	assert.Error(t, err)

	_, _, err = runCLI(t, api, "network", "disconnect", "-f", "appnet", "web")
	require.NoError(t, err)
	assert.Equal(t, client.NetworkDisconnectOptions{Container: "web", Force: true}, api.disconnected["appnet"])
}

func TestPortCommand(t *testing.T) {
	api := newNetAPI()
	api.inspected = container.InspectResponse{NetworkSettings: &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "4000"}},
	}}}
	for _, args := range [][]string{{"port", "web"}, {"container", "port", "web"}} {
		out, _, err := runCLI(t, api, args...)
		require.NoError(t, err, "%v", args)
		assert.Equal(t, "80/tcp -> 0.0.0.0:4000\n", out, "%v", args)
	}
	out, _, err := runCLI(t, api, "port", "web", "80/tcp")
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:4000\n", out)

	_, _, err = runCLI(t, api, "port", "web", "81")
	assert.EqualError(t, err, "Error: No public port '81' published for web")
	_, _, err = runCLI(t, api, "port", "nope")
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	_, _, err = runCLI(t, api, "port")
	assert.Error(t, err)
}

// `ps` shows published ports as docker does, from container.Summary.Ports.
func TestPsShowsPublishedPorts(t *testing.T) {
	api := &psPortsAPI{fakeAPI: &fakeAPI{}}
	out, _, err := runCLI(t, api, "ps", "--format", "{{.Names}} {{.Ports}}")
	require.NoError(t, err)
	assert.Equal(t, "web 127.0.0.1:5353->53/udp, 0.0.0.0:4000->80/tcp, [::]:4000->80/tcp\n", out, "docker orders by private port")
}

type psPortsAPI struct{ *fakeAPI }

func (f *psPortsAPI) ContainerList(_ context.Context, _ client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{Items: []container.Summary{{
		ID: strings.Repeat("a", 64), Names: []string{"/web"}, Image: "busybox", State: "running",
		Ports: []container.PortSummary{
			{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 4000, Type: "tcp"},
			{IP: netip.MustParseAddr("::"), PrivatePort: 80, PublicPort: 4000, Type: "tcp"},
			{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 53, PublicPort: 5353, Type: "udp"},
		},
	}}}, nil
}

// `run` fills Config, HostConfig and NetworkingConfig from the network flags
// the way the docker CLI does.
func TestRunNetworkFlags(t *testing.T) {
	api := &fakeAPI{}
	_, _, err := runCLI(t, api, "run", "-d", "--network", "appnet", "--network-alias", "web", "--network-alias", "front",
		"--ip", "10.20.0.9", "--mac-address", "92:d0:c6:0a:29:33", "--dns", "1.1.1.1", "--add-host", "db:10.0.0.5",
		"-p", "4000:80", "-p", "127.0.0.1:5353:53/udp", "-P", "--expose", "9000", "busybox")
	require.NoError(t, err)
	require.Len(t, api.created, 1)
	o := api.created[0]
	p80, p53 := network.MustParsePort("80/tcp"), network.MustParsePort("53/udp")
	assert.Equal(t, network.PortSet{p80: {}, p53: {}, network.MustParsePort("9000/tcp"): {}}, o.Config.ExposedPorts)
	assert.Equal(t, network.PortMap{
		p80: {{HostPort: "4000"}},
		p53: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}},
	}, o.HostConfig.PortBindings)
	assert.True(t, o.HostConfig.PublishAllPorts)
	assert.Equal(t, container.NetworkMode("appnet"), o.HostConfig.NetworkMode)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.1.1.1")}, o.HostConfig.DNS)
	assert.Equal(t, []string{"db:10.0.0.5"}, o.HostConfig.ExtraHosts)
	require.NotNil(t, o.NetworkingConfig)
	require.Contains(t, o.NetworkingConfig.EndpointsConfig, "appnet")
	es := o.NetworkingConfig.EndpointsConfig["appnet"]
	assert.Equal(t, []string{"web", "front"}, es.Aliases)
	assert.Equal(t, netip.MustParseAddr("10.20.0.9"), es.IPAMConfig.IPv4Address)
	assert.Equal(t, network.HardwareAddr{0x92, 0xd0, 0xc6, 0x0a, 0x29, 0x33}, es.MacAddress)

	for _, args := range [][]string{
		{"run", "-d", "--network-alias", "x", "busybox"}, // aliases need a user network
		{"run", "-d", "--network", "appnet", "--ip", "10.0.0.300", "busybox"},
		{"run", "-d", "-p", "4000:80/sctpx", "busybox"},
		{"run", "-d", "--mac-address", "zz", "busybox"},
	} {
		api := &fakeAPI{}
		_, _, err := runCLI(t, api, args...)
		assert.Error(t, err, "%v", args)
		assert.Empty(t, api.created, "%v created a container", args)
	}
}

// FuzzPortLines checks that any PRIVATE_PORT[/PROTO] argument is answered
// with lines or an error, never a panic.
func FuzzPortLines(f *testing.F) {
	for _, s := range []string{"80", "80/tcp", "53/udp", "0", "65536", "abc/xyz", "/", "80/", "1-2/tcp", ""} {
		f.Add(s)
	}
	ns := &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"): {{HostPort: "4000"}},
	}}
	f.Fuzz(func(t *testing.T, spec string) {
		lines, err := portLines("web", ns, []string{spec})
		if err == nil && len(lines) == 0 {
			t.Fatalf("%q: no error and no lines", spec)
		}
	})
}

// FuzzNetworkIPAM checks --subnet/--gateway/--ip-range handling never panics
// and only ever yields a request with a valid subnet.
func FuzzNetworkIPAM(f *testing.F) {
	f.Add("10.20.0.0/24", "10.20.0.254", "10.20.0.128/25")
	f.Add("", "10.0.0.1", "")
	f.Add("fd00::/64", "fd00::1", "")
	f.Add("10.0.0.0/33", "x", "y")
	f.Fuzz(func(t *testing.T, subnet, gateway, ipRange string) {
		ipam, err := networkIPAM(subnet, gateway, ipRange)
		if err != nil || ipam == nil {
			return
		}
		if !ipam.Config[0].Subnet.IsValid() {
			t.Fatalf("accepted invalid subnet %q", subnet)
		}
	})
}
