package network

import (
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestServiceLookup(t *testing.T) {
	web := &svcRecord{ID: "w", Name: "stack_web", Mode: swarm.ResolutionModeVIP,
		Networks: []swarm.NetworkAttachmentConfig{{Target: "n1", Aliases: []string{"web"}}, {Target: "n2"}},
		VIPs:     map[string]netip.Addr{"n1": netip.MustParseAddr("10.0.1.2"), "n2": netip.MustParseAddr("10.0.2.2")},
		Backends: []Backend{
			{TaskID: "t2", NetworkID: "n1", IP: netip.MustParseAddr("10.0.1.9")},
			{TaskID: "t1", NetworkID: "n1", IP: netip.MustParseAddr("10.0.1.4")},
			{TaskID: "t1", NetworkID: "n2", IP: netip.MustParseAddr("10.0.2.4")},
		}}
	db := &svcRecord{ID: "d", Name: "db", Mode: swarm.ResolutionModeDNSRR,
		Networks: []swarm.NetworkAttachmentConfig{{Target: "n1"}},
		Backends: []Backend{{TaskID: "t3", NetworkID: "n1", IP: netip.MustParseAddr("10.0.1.7")}}}
	empty := &svcRecord{ID: "e", Name: "idle", Mode: swarm.ResolutionModeVIP,
		Networks: []swarm.NetworkAttachmentConfig{{Target: "n1"}}, VIPs: map[string]netip.Addr{"n1": netip.MustParseAddr("10.0.1.3")}}
	svcs := map[string]*svcRecord{"w": web, "d": db, "e": empty}
	for _, tc := range []struct {
		net, name string
		want      []netip.Addr
		found     bool
	}{
		{"n1", "stack_web", addrs("10.0.1.2"), true},
		{"n1", "STACK_WEB", addrs("10.0.1.2"), true},
		{"n1", "web", addrs("10.0.1.2"), true},
		{"n2", "web", nil, false}, // the alias is n1's only
		{"n2", "stack_web", addrs("10.0.2.2"), true},
		{"n1", "tasks.stack_web", addrs("10.0.1.4", "10.0.1.9"), true},
		{"n1", "tasks.web", addrs("10.0.1.4", "10.0.1.9"), true},
		{"n2", "tasks.stack_web", addrs("10.0.2.4"), true},
		{"n1", "db", addrs("10.0.1.7"), true}, // dnsrr: the tasks
		{"n1", "tasks.db", addrs("10.0.1.7"), true},
		{"n2", "db", nil, false},
		{"n1", "idle", addrs("10.0.1.3"), true},
		{"n1", "tasks.idle", nil, true}, // known, no task: an empty answer, not a forward
		{"n1", "other", nil, false},
		{"n3", "stack_web", nil, false},
	} {
		got, found := serviceLookup(svcs, tc.net, tc.name)
		assert.Equal(t, tc.found, found, "%s on %s", tc.name, tc.net)
		assert.Equal(t, tc.want, got, "%s on %s", tc.name, tc.net)
	}
}

func TestMeshBackends(t *testing.T) {
	s := &svcRecord{Backends: []Backend{
		{TaskID: "t1", NetworkID: "app", IP: netip.MustParseAddr("10.0.1.4")},
		{TaskID: "t2", NetworkID: "app", IP: netip.MustParseAddr("10.0.1.5")},
		{TaskID: "t1", NetworkID: "other", IP: netip.MustParseAddr("10.0.3.4")},
	}}
	assert.Equal(t, addrs("10.0.1.4", "10.0.1.5"), s.meshBackends("ingress"), "one address per task when none is on ingress")
	s.Backends = append(s.Backends, Backend{TaskID: "t1", NetworkID: "ingress", IP: netip.MustParseAddr("10.0.0.4")})
	assert.Equal(t, addrs("10.0.0.4"), s.meshBackends("ingress"))
}

func TestValidateServiceSpec(t *testing.T) {
	spec := ServiceSpec{ID: "abc", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}}
	require.NoError(t, validateServiceSpec(&spec))
	assert.Equal(t, swarm.ResolutionModeVIP, spec.Endpoint.Mode)
	assert.Equal(t, swarm.PortConfigPublishModeIngress, spec.Endpoint.Ports[0].PublishMode)
	assert.Equal(t, "tcp", string(spec.Endpoint.Ports[0].Protocol))

	for name, bad := range map[string]ServiceSpec{
		"no id":      {Name: "web"},
		"bad name":   {ID: "a", Name: "-web"},
		"bad mode":   {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Mode: "rr"}},
		"sctp":       {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "sctp", TargetPort: 80}}}},
		"zero":       {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{PublishedPort: 80}}}},
		"too big":    {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 70000}}}},
		"bad mode p": {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishMode: "x"}}}},
		"dnsrr+ingress": {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR,
			Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80}}}},
		"twice": {ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80}, {TargetPort: 81, PublishedPort: 80}}}},
		"alias": {ID: "a", Name: "web", Networks: []swarm.NetworkAttachmentConfig{{Target: "n", Aliases: []string{"a b"}}}},
	} {
		err := validateServiceSpec(&bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%s: %v", name, err)
	}
	ok := ServiceSpec{ID: "a", Name: "web", Endpoint: swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR,
		Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeHost}}}}
	assert.NoError(t, validateServiceSpec(&ok), "dnsrr with host-mode ports")
}
