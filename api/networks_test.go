package api

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

// TestNetworkClientRoundTrip drives every /networks route with the moby
// client the docker CLI uses, so request and response shapes are checked by
// the real encoder/decoder rather than by hand-written JSON.
func TestNetworkClientRoundTrip(t *testing.T) {
	f, _, cli := setup(t)
	ctx := context.Background()

	created, err := cli.NetworkCreate(ctx, "appnet", client.NetworkCreateOptions{
		Driver:   "bridge",
		Internal: true,
		IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
			Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.20.0.254"),
		}}},
		Options: map[string]string{"com.docker.network.bridge.name": "br-app"},
		Labels:  map[string]string{"team": "core"},
	})
	require.NoError(t, err)
	assert.Equal(t, "net-appnet", created.ID)
	require.Len(t, f.netCreated, 1)
	req := f.netCreated[0]
	assert.Equal(t, "appnet", req.Name)
	assert.True(t, req.Internal)
	assert.Equal(t, map[string]string{"team": "core"}, req.Labels)
	assert.Equal(t, "br-app", req.Options["com.docker.network.bridge.name"])
	require.NotNil(t, req.IPAM)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.0/24"), req.IPAM.Config[0].Subnet)
	assert.Equal(t, netip.MustParseAddr("10.20.0.254"), req.IPAM.Config[0].Gateway)

	_, err = cli.NetworkCreate(ctx, "appnet", client.NetworkCreateOptions{})
	assert.True(t, errdefs.IsConflict(err), "duplicate name: %v", err)

	all, err := cli.NetworkList(ctx, client.NetworkListOptions{})
	require.NoError(t, err)
	var names []string
	for _, n := range all.Items {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"appnet", "bridge"}, names)

	only, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", "appnet")})
	require.NoError(t, err)
	require.Len(t, only.Items, 1)
	assert.Equal(t, engine.Filters{"name": {"appnet"}}, f.netFilters)

	// By name, by ID prefix, and with the verbose/scope options the docker
	// CLI may send (accepted and ignored: there is no swarm scope).
	for _, ref := range []string{"appnet", "net-app"} {
		got, err := cli.NetworkInspect(ctx, ref, client.NetworkInspectOptions{Verbose: true, Scope: "local"})
		require.NoError(t, err, ref)
		assert.Equal(t, "net-appnet", got.Network.ID)
		assert.True(t, got.Network.Internal)
		assert.Contains(t, string(got.Raw), `"Containers":{}`, "no containers is {} as in docker, not null")
	}

	_, err = cli.NetworkConnect(ctx, "appnet", client.NetworkConnectOptions{Container: "c1", EndpointConfig: &network.EndpointSettings{
		Aliases:    []string{"cache"},
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.20.0.9")},
	}})
	require.NoError(t, err)
	require.NotNil(t, f.netConnected)
	assert.Equal(t, []string{"cache"}, f.netConnected.Aliases)
	assert.Equal(t, netip.MustParseAddr("10.20.0.9"), f.netConnected.IPAMConfig.IPv4Address)
	got, err := cli.NetworkInspect(ctx, "appnet", client.NetworkInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "c1", got.Network.Containers["c1"].Name)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.9/24"), got.Network.Containers["c1"].IPv4Address)

	_, err = cli.NetworkRemove(ctx, "appnet", client.NetworkRemoveOptions{})
	assert.True(t, errdefs.IsConflict(err), "remove with an attached container: %v", err)

	_, err = cli.NetworkConnect(ctx, "nope", client.NetworkConnectOptions{Container: "c1"})
	assert.True(t, errdefs.IsNotFound(err), "connect to a missing network: %v", err)
	_, err = cli.NetworkConnect(ctx, "appnet", client.NetworkConnectOptions{Container: "ghost"})
	assert.True(t, errdefs.IsNotFound(err), "connect a missing container: %v", err)

	_, err = cli.NetworkDisconnect(ctx, "appnet", client.NetworkDisconnectOptions{Container: "c1"})
	require.NoError(t, err)
	_, err = cli.NetworkDisconnect(ctx, "appnet", client.NetworkDisconnectOptions{Container: "c1"})
	assert.True(t, errdefs.IsInvalidArgument(err), "not connected is a 400: %v", err)
	_, err = cli.NetworkDisconnect(ctx, "appnet", client.NetworkDisconnectOptions{Container: "c1", Force: true})
	require.NoError(t, err)

	_, err = cli.NetworkRemove(ctx, "appnet", client.NetworkRemoveOptions{})
	require.NoError(t, err)
	_, err = cli.NetworkInspect(ctx, "appnet", client.NetworkInspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	_, err = cli.NetworkRemove(ctx, "appnet", client.NetworkRemoveOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)

	_, err = cli.NetworkCreate(ctx, "old", client.NetworkCreateOptions{})
	require.NoError(t, err)
	pruned, err := cli.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: make(client.Filters).Add("until", "24h")})
	require.NoError(t, err)
	assert.Equal(t, []string{"old"}, pruned.Report.NetworksDeleted)
	assert.Equal(t, engine.Filters{"until": {"24h"}}, f.netFilters)
}

func TestNetworkBadInputIs400WithoutBackendCall(t *testing.T) {
	cases := []struct {
		method, path, body, call string
	}{
		{"POST", "/networks/create", ``, "NetworkCreate"},
		{"POST", "/networks/create", `{}`, "NetworkCreate"},
		{"POST", "/networks/create", `{"Name":""}`, "NetworkCreate"},
		{"POST", "/networks/create", `{"Name":`, "NetworkCreate"},
		{"POST", "/networks/create", `{"Name":5}`, "NetworkCreate"},
		{"POST", "/networks/create", `[]`, "NetworkCreate"},
		{"POST", "/networks/create", `{"Name":"x"} trailing`, "NetworkCreate"},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.0.0.0/33"}]}}`, "NetworkCreate"},
		{"POST", "/networks/bridge/connect", ``, "NetworkConnect"},
		{"POST", "/networks/bridge/connect", `{}`, "NetworkConnect"},
		{"POST", "/networks/bridge/connect", `{"Container":5}`, "NetworkConnect"},
		{"POST", "/networks/bridge/connect", `{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.0.0.300"}}}`, "NetworkConnect"},
		{"POST", "/networks/bridge/disconnect", ``, "NetworkDisconnect"},
		{"POST", "/networks/bridge/disconnect", `{"Force":true}`, "NetworkDisconnect"},
		{"POST", "/networks/bridge/disconnect", `{"Container":"c1","Force":"yes"}`, "NetworkDisconnect"},
		{"GET", "/networks?filters=%7Bbad", "", "NetworkList"},
		{"POST", "/networks/prune?filters=%7Bbad", "", "NetworkPrune"},
	}
	for _, c := range cases {
		f := newFake()
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		rec := do(New(f), c.method, "/v1.52"+c.path, body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s %s %s: %s", c.method, c.path, c.body, rec.Body.String())
		assert.NotEmpty(t, errorBody(t, rec))
		assert.False(t, f.called(c.call), "%s %s %s reached the backend", c.method, c.path, c.body)
	}
}

// Backend errors keep their class on the way out, whatever the route.
func TestNetworkErrorClasses(t *testing.T) {
	routes := []struct{ method, path, body, call string }{
		{"GET", "/networks", "", "NetworkList"},
		{"GET", "/networks/bridge", "", "NetworkInspect"},
		{"POST", "/networks/create", `{"Name":"x"}`, "NetworkCreate"},
		{"DELETE", "/networks/bridge", "", "NetworkRemove"},
		{"POST", "/networks/bridge/connect", `{"Container":"c1"}`, "NetworkConnect"},
		{"POST", "/networks/bridge/disconnect", `{"Container":"c1"}`, "NetworkDisconnect"},
		{"POST", "/networks/prune", "", "NetworkPrune"},
	}
	classes := map[error]int{
		errdefs.ErrNotFound:           http.StatusNotFound,
		errdefs.ErrConflict:           http.StatusConflict,
		errdefs.ErrInvalidArgument:    http.StatusBadRequest,
		errdefs.ErrFailedPrecondition: http.StatusBadRequest,
		errdefs.ErrNotImplemented:     http.StatusNotImplemented,
		errdefs.ErrUnavailable:        http.StatusServiceUnavailable,
		io.ErrUnexpectedEOF:           http.StatusInternalServerError,
	}
	for _, r := range routes {
		for class, code := range classes {
			f := newFake()
			f.errFor[r.call] = class
			var body io.Reader
			if r.body != "" {
				body = strings.NewReader(r.body)
			}
			rec := do(New(f, WithLogger(discardLogger())), r.method, r.path, body)
			assert.Equal(t, code, rec.Code, "%s %s with %v", r.method, r.path, class)
		}
	}
}

// /containers/create hands NetworkingConfig, PortBindings and ExposedPorts to
// the backend exactly as the client sent them: they are moby types the engine
// interprets, and the API layer has no business rewriting them.
func TestContainerCreatePassesNetworkingThrough(t *testing.T) {
	f, _, cli := setup(t)
	p80 := network.MustParsePort("80/tcp")
	p53 := network.MustParsePort("53/udp")
	cfg := &container.Config{Image: "busybox:local", ExposedPorts: network.PortSet{p80: {}, p53: {}, network.MustParsePort("9000/tcp"): {}}}
	hc := &container.HostConfig{
		NetworkMode: "appnet",
		PortBindings: network.PortMap{
			p80: {{HostPort: "4000"}, {HostIP: netip.MustParseAddr("::1"), HostPort: "4001"}},
			p53: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}},
		},
		PublishAllPorts: true,
		DNS:             []netip.Addr{netip.MustParseAddr("1.1.1.1")},
		ExtraHosts:      []string{"db:10.0.0.5"},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"appnet": {
		Aliases:    []string{"web", "front"},
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.20.0.9")},
		MacAddress: network.HardwareAddr{0x92, 0xd0, 0xc6, 0x0a, 0x29, 0x33},
	}}}
	_, err := cli.ContainerCreate(context.Background(), client.ContainerCreateOptions{
		Name: "web", Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	})
	require.NoError(t, err)
	require.NotNil(t, f.created)
	assert.Equal(t, cfg.ExposedPorts, f.created.Config.ExposedPorts)
	require.NotNil(t, f.created.HostConfig)
	assert.Equal(t, hc.PortBindings, f.created.HostConfig.PortBindings)
	assert.True(t, f.created.HostConfig.PublishAllPorts)
	assert.Equal(t, container.NetworkMode("appnet"), f.created.HostConfig.NetworkMode)
	assert.Equal(t, hc.DNS, f.created.HostConfig.DNS)
	assert.Equal(t, hc.ExtraHosts, f.created.HostConfig.ExtraHosts)
	require.NotNil(t, f.created.NetworkingConfig)
	assert.Equal(t, nc.EndpointsConfig, f.created.NetworkingConfig.EndpointsConfig)
}
