package compose

import (
	"net/netip"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
)

// networks lists the networks the services use: "default" becomes
// <stack>_default, drivers default to overlay with swarm scope, external
// ones are only referenced. Declared but unused networks are not created,
// as with docker stack deploy.
func (c *converter) networks() ([]Network, error) {
	used := map[string]bool{}
	for _, s := range c.p.Services {
		if len(s.Networks) == 0 {
			used["default"] = true
		}
		for n := range s.Networks {
			used[n] = true
		}
	}
	var out []Network
	for _, key := range sortedKeys(used) {
		cfg, ok := c.p.Networks[key]
		if !ok && key != "default" {
			return nil, c.errAt([]string{"networks"}, "network %s is used by a service but not declared", key)
		}
		if bool(cfg.External) {
			out = append(out, Network{Name: c.objectName(key, cfg.Name, true), External: true})
			continue
		}
		req := network.CreateRequest{Driver: orDefault(cfg.Driver, "overlay"), Scope: "swarm",
			Internal: cfg.Internal, Attachable: cfg.Attachable, Labels: c.labels(cfg.Labels), Options: cfg.DriverOpts}
		if cfg.Ipam.Driver != "" || len(cfg.Ipam.Config) > 0 || len(cfg.Ipam.Options) > 0 {
			req.IPAM = &network.IPAM{Driver: cfg.Ipam.Driver, Options: cfg.Ipam.Options}
			for i, pool := range cfg.Ipam.Config {
				ic, err := ipamConfig(pool)
				if err != nil {
					return nil, c.errAt([]string{"networks", key, "ipam", "config"}, "pool %d: %v", i, err)
				}
				req.IPAM.Config = append(req.IPAM.Config, ic)
			}
		}
		out = append(out, Network{Name: c.objectName(key, cfg.Name, false), Create: req})
	}
	return out, nil
}

func ipamConfig(pool *types.IPAMPool) (network.IPAMConfig, error) {
	var ic network.IPAMConfig
	var err error
	if pool.Subnet != "" {
		if ic.Subnet, err = netip.ParsePrefix(pool.Subnet); err != nil {
			return ic, err
		}
	}
	if pool.IPRange != "" {
		if ic.IPRange, err = netip.ParsePrefix(pool.IPRange); err != nil {
			return ic, err
		}
	}
	if pool.Gateway != "" {
		if ic.Gateway, err = netip.ParseAddr(pool.Gateway); err != nil {
			return ic, err
		}
	}
	for name, a := range pool.AuxiliaryAddresses {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return ic, err
		}
		if ic.AuxAddress == nil {
			ic.AuxAddress = map[string]netip.Addr{}
		}
		ic.AuxAddress[name] = addr
	}
	return ic, nil
}
