package nft

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/google/nftables"
)

// Conn opens an nftables connection in the network namespace of nsFd, or in
// the caller's namespace when nsFd < 0.
func Conn(nsFd int) (*nftables.Conn, error) {
	if nsFd >= 0 {
		return nftables.New(nftables.WithNetNSFd(nsFd))
	}
	return nftables.New()
}

// Apply makes wharf's table hold exactly rs, in one netlink batch: the kernel
// sees either the old rule set or the new one, never a mix.
//
// The batch declares the table and chains (kept when they exist), flushes
// every rule of the table and adds rs's rules. Keeping the base chains
// avoids unregistering and re-registering their hooks, which costs an RCU
// grace period (~10 ms here) on every container start. Should the
// declaration clash with an existing table (say, a chain whose hook
// changed between versions), Apply falls back to deleting and recreating
// the whole table, again in one batch.
func Apply(c *nftables.Conn, rs *Ruleset) error {
	t := c.AddTable(rs.Table)
	for _, ch := range rs.Chains {
		ch.Table = t
		c.AddChain(ch)
	}
	c.FlushTable(t)
	// Regular chains the new rule set no longer has (a mesh port whose
	// service went away) go too; base chains are never dropped here.
	if existing, err := c.ListChainsOfTableFamily(rs.Table.Family); err == nil {
		for _, old := range existing {
			if old.Table.Name == rs.Table.Name && old.Hooknum == nil &&
				!slices.ContainsFunc(rs.Chains, func(ch *nftables.Chain) bool { return ch.Name == old.Name }) {
				c.DelChain(old)
			}
		}
	}
	for _, r := range rs.Rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: r.Chain, Exprs: r.Exprs, UserData: []byte(r.Text)})
	}
	if err := c.Flush(); err == nil {
		return nil
	}
	c.AddTable(rs.Table)
	c.DelTable(rs.Table)
	t = c.AddTable(rs.Table)
	for _, ch := range rs.Chains {
		ch.Table = t
		c.AddChain(ch)
	}
	for _, r := range rs.Rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: r.Chain, Exprs: r.Exprs, UserData: []byte(r.Text)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: apply table %s: %w", rs.Table.Name, err)
	}
	return nil
}

// Delete removes wharf's table named name; a missing table is not an error.
func Delete(c *nftables.Conn, name string) error {
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nft: delete table %s: %w", name, err)
	}
	return nil
}

// Exists reports whether the table name exists (used by leak checks).
func Exists(c *nftables.Conn, name string) (bool, error) {
	_, err := c.ListTableOfFamily(name, nftables.TableFamilyIPv4)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}
