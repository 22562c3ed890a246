package ipam

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestAllocateReleaseAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db := openDB(t, path)
	a, err := New(db)
	require.NoError(t, err)
	require.NoError(t, a.AddPool("n1", Pool{Subnet: netip.MustParsePrefix("10.9.0.0/29")}))
	p, err := a.Pool("n1")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.9.0.1"), p.Gateway)

	ip1, err := a.Allocate("n1", "e1", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.2", ip1.String())
	again, err := a.Allocate("n1", "e1", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, ip1, again, "allocation is idempotent per endpoint")

	ip2, err := a.Allocate("n1", "e2", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.3", ip2.String())

	// Static requests.
	_, err = a.Allocate("n1", "e3", ip2)
	assert.True(t, errdefs.IsConflict(err), "%v", err)
	_, err = a.Allocate("n1", "e3", netip.MustParseAddr("10.9.0.7"))
	assert.True(t, errdefs.IsInvalidArgument(err), "broadcast: %v", err)
	_, err = a.Allocate("n1", "e3", netip.MustParseAddr("10.8.0.7"))
	assert.True(t, errdefs.IsInvalidArgument(err), "outside: %v", err)
	ip6, err := a.Allocate("n1", "e6", netip.MustParseAddr("10.9.0.6"))
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.6", ip6.String())

	// Restart: a new allocator over a reopened db sees the same leases.
	require.NoError(t, db.Close())
	db = openDB(t, path)
	a, err = New(db)
	require.NoError(t, err)
	leases, err := a.Leases("n1")
	require.NoError(t, err)
	assert.Equal(t, map[string]netip.Addr{"e1": ip1, "e2": ip2, "e6": ip6}, leases)

	// Released addresses are not reused immediately.
	require.NoError(t, a.Release("n1", "e1"))
	ip4, err := a.Allocate("n1", "e4", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.4", ip4.String())
	ip5, err := a.Allocate("n1", "e5", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.5", ip5.String())
	ipw, err := a.Allocate("n1", "e7", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.2", ipw.String(), "wraps around to the released address")

	_, err = a.Allocate("n1", "e8", netip.Addr{})
	assert.True(t, errdefs.IsUnavailable(err), "exhausted: %v", err)
	assert.Contains(t, err.Error(), "no available IPv4 addresses")

	require.NoError(t, a.Release("n1", "nope"))
	require.NoError(t, a.RemovePool("n1"))
	require.NoError(t, a.RemovePool("n1"))
	_, err = a.Allocate("n1", "e1", netip.Addr{})
	assert.True(t, errdefs.IsNotFound(err))
}

func TestAddPoolValidation(t *testing.T) {
	a, err := New(openDB(t, filepath.Join(t.TempDir(), "m.db")))
	require.NoError(t, err)
	for _, tc := range []struct {
		subnet, gw string
	}{
		{"10.0.0.1/24", ""},
		{"10.0.0.0/31", ""},
		{"10.0.0.0/24", "10.0.1.1"},
		{"10.0.0.0/24", "10.0.0.255"},
		{"fd00::/64", ""},
	} {
		p := Pool{Subnet: netip.MustParsePrefix(tc.subnet)}
		if tc.gw != "" {
			p.Gateway = netip.MustParseAddr(tc.gw)
		}
		err := a.AddPool("x", p)
		assert.True(t, errdefs.IsInvalidArgument(err), "%s %s: %v", tc.subnet, tc.gw, err)
	}
	require.NoError(t, a.AddPool("x", Pool{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.254")}))
	require.NoError(t, a.AddPool("x", Pool{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.254")}))
	err = a.AddPool("x", Pool{Subnet: netip.MustParsePrefix("10.1.0.0/24")})
	assert.True(t, errdefs.IsConflict(err))
	ip, err := a.Allocate("x", "e", netip.Addr{})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1", ip.String(), "custom gateway leaves .1 free")
}

func TestPickSubnet(t *testing.T) {
	c := []netip.Prefix{netip.MustParsePrefix("172.30.0.0/16"), netip.MustParsePrefix("172.31.0.0/16")}
	got, err := PickSubnet(c, []netip.Prefix{netip.MustParsePrefix("172.30.5.0/24")})
	require.NoError(t, err)
	assert.Equal(t, c[1], got)
	_, err = PickSubnet(c, []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")})
	assert.True(t, errdefs.IsUnavailable(err))
}
