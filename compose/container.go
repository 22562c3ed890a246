package compose

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

// containerSpec is what every task of the service runs.
func (c *converter) containerSpec(s types.ServiceConfig) (*swarm.ContainerSpec, error) {
	at := func(keys ...string) []string { return append([]string{"services", s.Name}, keys...) }
	cs := &swarm.ContainerSpec{
		Image: s.Image, Labels: c.labels(s.Labels), Command: s.Entrypoint, Args: s.Command,
		Hostname: s.Hostname, Dir: s.WorkingDir, User: s.User, TTY: s.Tty, OpenStdin: s.StdinOpen,
		ReadOnly: s.ReadOnly, StopSignal: s.StopSignal, CapabilityAdd: s.CapAdd, CapabilityDrop: s.CapDrop,
		Init: s.Init, Groups: s.GroupAdd, Sysctls: s.Sysctls, Isolation: container.Isolation(s.Isolation),
		OomScoreAdj: s.OomScoreAdj, Env: environment(s.Environment),
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	cs.Hosts = hosts(s.ExtraHosts)
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 || len(s.DNSOpts) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Search: s.DNSSearch, Options: s.DNSOpts}
		for _, ns := range s.DNS {
			a, err := netip.ParseAddr(ns)
			if err != nil {
				return nil, c.errAt(at("dns"), "invalid address %q", ns)
			}
			cs.DNSConfig.Nameservers = append(cs.DNSConfig.Nameservers, a)
		}
	}
	if hc := s.HealthCheck; hc != nil {
		h, err := healthcheck(hc)
		if err != nil {
			return nil, c.errAt(at("healthcheck"), "%v", err)
		}
		cs.Healthcheck = h
	}
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		cs.Ulimits = append(cs.Ulimits, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	var err error
	if cs.Mounts, err = c.mounts(s); err != nil {
		return nil, err
	}
	if cs.Secrets, err = c.secretRefs(s.Name, s.Secrets); err != nil {
		return nil, err
	}
	if cs.Configs, err = c.configRefs(s.Name, s.Configs); err != nil {
		return nil, err
	}
	return cs, nil
}

// environment is KEY=value, sorted; a key without value passes through
// bare, as docker does.
func environment(env types.MappingWithEquals) []string {
	var out []string
	for _, k := range sortedKeys(env) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		} else {
			out = append(out, k)
		}
	}
	return out
}

// hosts turns extra_hosts into /etc/hosts lines ("IP name"), the format
// swarm's ContainerSpec.Hosts wants.
func hosts(h types.HostsList) []string {
	var out []string
	for _, name := range sortedKeys(h) {
		ips := slices.Clone(h[name])
		slices.Sort(ips)
		for _, ip := range ips {
			out = append(out, strings.Trim(ip, "[]")+" "+name)
		}
	}
	return out
}

func healthcheck(hc *types.HealthCheckConfig) (*container.HealthConfig, error) {
	h := &container.HealthConfig{Test: hc.Test}
	if hc.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if hc.Interval != nil {
		h.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		h.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		h.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.StartInterval != nil {
		h.StartInterval = time.Duration(*hc.StartInterval)
	}
	if hc.Retries != nil {
		h.Retries = int(*hc.Retries)
	}
	return h, nil
}
