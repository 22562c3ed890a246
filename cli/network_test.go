package cli

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetworkIPAM(t *testing.T) {
	ipam, err := networkIPAM("", "", "")
	require.NoError(t, err)
	assert.Nil(t, ipam, "no subnet: the daemon picks one")

	ipam, err = networkIPAM("10.20.0.0/24", "10.20.0.254", "")
	require.NoError(t, err)
	require.Len(t, ipam.Config, 1)
	assert.Equal(t, netip.MustParsePrefix("10.20.0.0/24"), ipam.Config[0].Subnet)
	assert.Equal(t, netip.MustParseAddr("10.20.0.254"), ipam.Config[0].Gateway)

	for _, c := range [][3]string{{"", "10.0.0.1", ""}, {"10.0.0.0/33", "", ""}, {"nope", "", ""}, {"10.0.0.0/24", "x", ""}, {"10.0.0.0/24", "", "y"}} {
		_, err := networkIPAM(c[0], c[1], c[2])
		assert.Error(t, err, "%v", c)
	}
}

func TestPortLines(t *testing.T) {
	ns := &container.NetworkSettings{Ports: network.PortMap{
		network.MustParsePort("80/tcp"):   {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "4000"}},
		network.MustParsePort("53/udp"):   {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}},
		network.MustParsePort("8080/tcp"): nil,
	}}
	all, err := portLines(ns, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:4000"}, all)

	one, err := portLines(ns, []string{"80"})
	require.NoError(t, err)
	assert.Equal(t, []string{"0.0.0.0:4000"}, one)

	_, err = portLines(ns, []string{"8080"})
	assert.Error(t, err, "exposed but not published")
	_, err = portLines(ns, []string{"abc/xyz"})
	assert.Error(t, err)
}
