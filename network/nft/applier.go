package nft

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// Applier keeps wharf's table equal to the last rule set it was given,
// changing as little as possible: deleting a rule costs the kernel an RCU
// grace period (~10 ms on this kind of machine) while adding one is cheap,
// and published ports change on every container start and stop.
//
// When only the ports chain differs from the previous rule set, Applier adds
// the new port rules and deletes the stale ones (found by the rule text kept
// in each rule's user data) in one batch. Any other difference, and the first
// call, rewrites the whole table with Apply. Either way the kernel switches
// atomically. An Applier is not safe for concurrent use.
type Applier struct {
	conn *nftables.Conn
	last *Ruleset
}

// NewApplier returns an Applier that talks through conn.
func NewApplier(conn *nftables.Conn) *Applier { return &Applier{conn: conn} }

// Apply makes the kernel table equal to rs.
func (a *Applier) Apply(rs *Ruleset) error {
	if a.last == nil || !sameStatic(a.last, rs) {
		if err := Apply(a.conn, rs); err != nil {
			a.last = nil
			return err
		}
		a.last = rs
		return nil
	}
	oldPorts, newPorts := portTexts(a.last), portTexts(rs)
	var del [][]byte
	for txt := range oldPorts {
		if _, ok := newPorts[txt]; !ok {
			del = append(del, []byte(txt))
		}
	}
	var add []Rule
	for txt, r := range newPorts {
		if _, ok := oldPorts[txt]; !ok {
			add = append(add, r)
		}
	}
	if len(del) == 0 && len(add) == 0 {
		a.last = rs
		return nil
	}
	t := rs.Table
	ch := &nftables.Chain{Name: ChainPorts, Table: t}
	if len(del) > 0 {
		rules, err := a.conn.GetRules(t, ch)
		if err != nil {
			a.last = nil
			return a.Apply(rs)
		}
		for _, r := range rules {
			if slices.ContainsFunc(del, func(d []byte) bool { return bytes.Equal(d, r.UserData) }) {
				if err := a.conn.DelRule(r); err != nil {
					return fmt.Errorf("nft: delete rule: %w", err)
				}
			}
		}
	}
	for _, r := range add {
		a.conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r.Exprs, UserData: []byte(r.Text)})
	}
	if err := a.conn.Flush(); err != nil {
		// Someone changed our table behind our back: rewrite it.
		a.last = nil
		return a.Apply(rs)
	}
	a.last = rs
	return nil
}

// sameStatic reports whether a and b differ at most in the ports chain.
func sameStatic(a, b *Ruleset) bool {
	if a.Table.Name != b.Table.Name || len(a.Chains) != len(b.Chains) {
		return false
	}
	static := func(rs *Ruleset) []string {
		var out []string
		for _, r := range rs.Rules {
			if r.Chain.Name != ChainPorts {
				out = append(out, r.Chain.Name+"\x00"+r.Text)
			}
		}
		return out
	}
	return slices.Equal(static(a), static(b))
}

func portTexts(rs *Ruleset) map[string]Rule {
	out := map[string]Rule{}
	for _, r := range rs.Rules {
		if r.Chain.Name == ChainPorts {
			out[r.Text] = r
		}
	}
	return out
}
