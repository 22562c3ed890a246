package nft

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"

	"wharf.io/wharf/internal/testutil"
	"wharf.io/wharf/network/bridge"
)

func TestApplyReplacesOnlyOurTable(t *testing.T) {
	testutil.RequiresRoot(t)
	p := filepath.Join(t.TempDir(), "ns")
	require.NoError(t, bridge.CreateNetNS(p))
	t.Cleanup(func() { _ = bridge.DeleteNetNS(p) })
	ns, err := netns.GetFromPath(p)
	require.NoError(t, err)
	defer ns.Close()
	c, err := Conn(int(ns))
	require.NoError(t, err)

	// Someone else's table must survive everything we do.
	other := c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyIPv4})
	c.AddChain(&nftables.Chain{Name: "x", Table: other})
	require.NoError(t, c.Flush())

	s := sampleState()
	s.Table = "wharf-apply-test"
	rs, err := Render(s)
	require.NoError(t, err)
	require.NoError(t, Apply(c, rs))
	countRules := func() int {
		n := 0
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		require.NoError(t, err)
		for _, ch := range chains {
			if ch.Table.Name != s.Table {
				continue
			}
			rules, err := c.GetRules(ch.Table, ch)
			require.NoError(t, err)
			n += len(rules)
		}
		return n
	}
	assert.Equal(t, len(rs.Rules), countRules())

	// Replace with a smaller state: no rule of the old one survives.
	s.Ports = s.Ports[:1]
	s.Networks = []Network{{Bridge: "wharf0", Subnet: netip.MustParsePrefix("172.30.0.0/16")}}
	rs2, err := Render(s)
	require.NoError(t, err)
	require.NoError(t, Apply(c, rs2))
	assert.Equal(t, len(rs2.Rules), countRules())

	require.NoError(t, Delete(c, s.Table))
	require.NoError(t, Delete(c, s.Table), "idempotent")
	ok, err := Exists(c, s.Table)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = Exists(c, "other")
	require.NoError(t, err)
	assert.True(t, ok, "other tables are never touched")
}

func TestApplierIncremental(t *testing.T) {
	testutil.RequiresRoot(t)
	p := filepath.Join(t.TempDir(), "ns")
	require.NoError(t, bridge.CreateNetNS(p))
	t.Cleanup(func() { _ = bridge.DeleteNetNS(p) })
	ns, err := netns.GetFromPath(p)
	require.NoError(t, err)
	defer ns.Close()
	c, err := Conn(int(ns))
	require.NoError(t, err)
	a := NewApplier(c)

	portRules := func() []string {
		tb := &nftables.Table{Name: "wharf-inc", Family: nftables.TableFamilyIPv4}
		rules, err := c.GetRules(tb, &nftables.Chain{Name: ChainPorts, Table: tb})
		require.NoError(t, err)
		var out []string
		for _, r := range rules {
			out = append(out, string(r.UserData))
		}
		return out
	}
	cip := netip.MustParseAddr("172.30.0.2")
	nets := []Network{{Bridge: "wharf0", Subnet: netip.MustParsePrefix("172.30.0.0/16")}}
	p1 := Port{Proto: "tcp", HostPort: 4000, ContainerIP: cip, ContainerPort: 80}
	p2 := Port{Proto: "udp", HostPort: 53, ContainerIP: cip, ContainerPort: 53}
	apply := func(ports ...Port) {
		rs, err := Render(State{Table: "wharf-inc", Networks: nets, Ports: ports})
		require.NoError(t, err)
		require.NoError(t, a.Apply(rs))
	}
	apply(p1)
	assert.Equal(t, []string{"tcp dport 4000 dnat to 172.30.0.2:80"}, portRules())
	apply(p1, p2)
	assert.ElementsMatch(t, []string{"tcp dport 4000 dnat to 172.30.0.2:80", "udp dport 53 dnat to 172.30.0.2:53"}, portRules())
	apply(p2)
	assert.Equal(t, []string{"udp dport 53 dnat to 172.30.0.2:53"}, portRules())
	// A network change rewrites the table.
	nets = append(nets, Network{Bridge: "wb-1", Subnet: netip.MustParsePrefix("10.1.0.0/24")})
	apply(p2)
	assert.Equal(t, []string{"udp dport 53 dnat to 172.30.0.2:53"}, portRules())
	// Someone else flushed our table: the next apply notices nothing, but a
	// stale delete makes it rewrite the table.
	require.NoError(t, Delete(c, "wharf-inc"))
	apply()
	assert.Empty(t, portRules())
	require.NoError(t, Delete(c, "wharf-inc"))
}
