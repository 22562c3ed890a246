package network

import (
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHostPort(t *testing.T) {
	for in, want := range map[string][2]uint16{"": {0, 0}, "80": {80, 80}, "8000-8010": {8000, 8010}, "65535": {65535, 65535}} {
		lo, hi, err := parseHostPort(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, [2]uint16{lo, hi}, in)
	}
	for _, in := range []string{"0", "65536", "-1", "a", "10-5", "1-", "-", "1-2-3"} {
		_, _, err := parseHostPort(in)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q: %v", in, err)
	}
}

func FuzzParseHostPort(f *testing.F) {
	for _, s := range []string{"", "80", "8000-8010", "0", "x-y", "65535-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := parseHostPort(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: unclassified error %v", s, err)
			}
			return
		}
		if s != "" && (lo == 0 || hi < lo) {
			t.Fatalf("%q: bad range %d-%d", s, lo, hi)
		}
	})
}

func TestPortRequests(t *testing.T) {
	p80 := network.MustParsePort("80/tcp")
	p53 := network.MustParsePort("53/udp")
	p90 := network.MustParsePort("90")
	reqs, err := portRequests(network.PortMap{
		p80: {{HostPort: "4000"}, {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5000-5002"}},
		p53: {{HostIP: netip.IPv4Unspecified(), HostPort: "53"}},
	}, network.PortSet{p80: {}, p90: {}}, true)
	require.NoError(t, err)
	require.Len(t, reqs, 4)
	assert.Equal(t, portRequest{container: p53, lo: 53, hi: 53}, reqs[0])
	assert.Equal(t, portRequest{container: p80, lo: 4000, hi: 4000}, reqs[1])
	assert.Equal(t, portRequest{container: p80, hostIP: netip.MustParseAddr("127.0.0.1"), lo: 5000, hi: 5002}, reqs[2])
	assert.Equal(t, portRequest{container: p90}, reqs[3])

	_, err = portRequests(network.PortMap{network.MustParsePort("80/sctp"): nil}, nil, false)
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = portRequests(network.PortMap{p80: {{HostPort: "99999"}}}, nil, false)
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = portRequests(nil, network.PortSet{network.MustParsePort("0/tcp"): {}}, true)
	assert.True(t, errdefs.IsInvalidArgument(err))
}
