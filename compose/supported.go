package compose

import (
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/tree"
)

// supportedPrefixes are the attributes Convert carries into swarm specs;
// every path of the specification under one of them is supported unless
// an unsupported prefix below takes it out. Anything else in a file comes
// back as a warning.
var supportedPrefixes = []string{
	"version", // obsolete, as docker stack deploy reads it: nothing to do
	"services.*.image", "services.*.command", "services.*.entrypoint",
	"services.*.environment", "services.*.env_file", // env_file is merged into environment
	"services.*.labels", "services.*.hostname", "services.*.user", "services.*.working_dir",
	"services.*.stop_signal", "services.*.stop_grace_period",
	"services.*.dns", "services.*.dns_search", "services.*.dns_opt", "services.*.extra_hosts",
	"services.*.tmpfs", "services.*.init", "services.*.cap_add", "services.*.cap_drop",
	"services.*.ulimits", "services.*.read_only", "services.*.sysctls", "services.*.tty",
	"services.*.stdin_open", "services.*.group_add", "services.*.isolation", "services.*.oom_score_adj",
	"services.*.healthcheck", "services.*.logging",
	"services.*.depends_on", "services.*.restart", // restart maps onto the restart policy
	"services.*.ports", "services.*.networks", "services.*.volumes",
	"services.*.secrets", "services.*.configs",
	"services.*.deploy.mode", "services.*.deploy.replicas", "services.*.deploy.labels",
	"services.*.deploy.endpoint_mode", "services.*.deploy.placement",
	"services.*.deploy.restart_policy", "services.*.deploy.update_config", "services.*.deploy.rollback_config",
	"services.*.deploy.resources.limits.cpus", "services.*.deploy.resources.limits.memory",
	"services.*.deploy.resources.limits.pids",
	"services.*.deploy.resources.reservations.cpus", "services.*.deploy.resources.reservations.memory",
	"services.*.deploy.resources.reservations.generic_resources",
	"networks.*.driver", "networks.*.driver_opts", "networks.*.external", "networks.*.name",
	"networks.*.internal", "networks.*.attachable", "networks.*.labels", "networks.*.ipam",
	"volumes.*.driver", "volumes.*.driver_opts", "volumes.*.external", "volumes.*.name", "volumes.*.labels",
	"secrets.*.file", "secrets.*.environment", "secrets.*.external", "secrets.*.name", "secrets.*.labels",
	"secrets.*.driver", "secrets.*.driver_opts", "secrets.*.template_driver",
	"configs.*.file", "configs.*.environment", "configs.*.content", "configs.*.external", "configs.*.name",
	"configs.*.labels", "configs.*.template_driver",
}

// unsupportedPrefixes are parts of supported attributes swarm has no field
// for.
var unsupportedPrefixes = []string{
	"services.*.ports.[].host_ip", "services.*.ports.[].app_protocol",
	"services.*.networks.*.ipv4_address", "services.*.networks.*.ipv6_address",
	"services.*.networks.*.link_local_ips", "services.*.networks.*.mac_address",
	"services.*.networks.*.priority", "services.*.networks.*.gw_priority",
	"services.*.networks.*.interface_name", "services.*.networks.*.driver_opts",
	"services.*.volumes.[].consistency", "services.*.volumes.[].image",
	"services.*.volumes.[].bind.selinux",
	"services.*.depends_on.*.restart",
}

var (
	supportedOnce sync.Once
	supported     []tree.Path
)

// supportedAttributes is the loader's allowlist: the specification's paths
// filtered by the prefixes above.
func supportedAttributes() []tree.Path {
	supportedOnce.Do(func() {
		for _, p := range schema.AttributePaths() {
			s := string(p)
			if hasPrefix(s, supportedPrefixes) && !hasPrefix(s, unsupportedPrefixes) {
				supported = append(supported, p)
			}
		}
	})
	return supported
}

// hasPrefix reports whether path is one of prefixes or below one.
func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+".") {
			return true
		}
	}
	return false
}
