package opts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ContainerOptions holds the flags shared by `run` and `create`, bound directly by the
// CLI. Parse turns them into the API's create request.
type ContainerOptions struct {
	Attach      []string
	Interactive bool
	TTY         bool
	// Detach is only meaningful for run: a detached container attaches no streams.
	Detach bool

	Env        []string
	EnvFiles   []string
	Workdir    string
	User       string
	Hostname   string
	Entrypoint OptionalString

	Volumes  []string
	Mounts   []string
	Tmpfs    []string
	ReadOnly bool

	Memory     string
	MemorySwap string
	CPUs       string
	CPUShares  int64
	CPUQuota   int64
	CPUPeriod  int64
	PidsLimit  int64
	Ulimits    []string

	Restart     string
	AutoRemove  bool
	StopSignal  string
	StopTimeout OptionalInt

	HealthCmd           string
	HealthInterval      time.Duration
	HealthTimeout       time.Duration
	HealthStartPeriod   time.Duration
	HealthStartInterval time.Duration
	HealthRetries       int
	NoHealthcheck       bool

	Labels     []string
	LabelFiles []string
	Runtime    string

	Network    string
	Aliases    []string // --network-alias
	IPv4       string   // --ip
	MAC        string   // --mac-address
	Publish    []string
	PublishAll bool
	Expose     []string
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	AddHosts   []string

	CapAdd      []string
	CapDrop     []string
	Privileged  bool
	SecurityOpt []string
	Init        OptionalBool
}

// Container is the create request Parse produces.
type Container struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// Environment is what Parse may read from the client machine: variables for bare -e NAME
// and files for --env-file, --label-file and seccomp profiles. Tests pass fakes.
type Environment struct {
	LookupEnv LookupFunc
	ReadFile  func(name string) ([]byte, error)
}

func invalidArg(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
}

// Parse validates the options and builds the create request for image running cmd.
func (o *ContainerOptions) Parse(image string, cmd []string, env Environment) (*Container, error) {
	attach := map[string]bool{}
	for _, a := range o.Attach {
		a = strings.ToLower(a)
		if a != "stdin" && a != "stdout" && a != "stderr" {
			return nil, invalidArg("valid streams are STDIN, STDOUT and STDERR")
		}
		attach[a] = true
	}
	if o.Detach && len(o.Attach) > 0 {
		return nil, invalidArg("conflicting options: cannot specify both --attach and --detach")
	}
	if o.Interactive {
		attach["stdin"] = true
	}
	if len(o.Attach) == 0 {
		attach["stdout"], attach["stderr"] = true, true
	}
	if o.Detach {
		attach = map[string]bool{}
	}

	envs, err := o.environment(env)
	if err != nil {
		return nil, err
	}
	labels, err := o.labels(env)
	if err != nil {
		return nil, err
	}

	cfg := &container.Config{
		Image:        image,
		Cmd:          cmd,
		Hostname:     o.Hostname,
		User:         o.User,
		WorkingDir:   o.Workdir,
		Env:          envs,
		Labels:       labels,
		Tty:          o.TTY,
		OpenStdin:    o.Interactive,
		AttachStdin:  attach["stdin"],
		AttachStdout: attach["stdout"],
		AttachStderr: attach["stderr"],
		StopSignal:   o.StopSignal,
		StopTimeout:  o.StopTimeout.Ptr(),
	}
	// docker closes the container's stdin when the one attached client goes away.
	cfg.StdinOnce = cfg.OpenStdin && cfg.AttachStdin
	if cfg.Healthcheck, err = o.healthcheck(); err != nil {
		return nil, err
	}
	if o.Entrypoint.IsSet {
		if o.Entrypoint.Value == "" {
			cfg.Entrypoint = []string{""} // explicitly reset the image's entrypoint
		} else {
			cfg.Entrypoint = []string{o.Entrypoint.Value}
		}
	}

	hc := &container.HostConfig{
		AutoRemove:      o.AutoRemove,
		ReadonlyRootfs:  o.ReadOnly,
		Privileged:      o.Privileged,
		PublishAllPorts: o.PublishAll,
		CapAdd:          o.CapAdd,
		CapDrop:         o.CapDrop,
		DNSSearch:       o.DNSSearch,
		DNSOptions:      o.DNSOptions,
		Runtime:         o.Runtime,
		Init:            o.Init.Ptr(),
		NetworkMode:     container.NetworkMode(o.Network),
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = network.NetworkBridge
	}

	if hc.RestartPolicy, err = ParseRestartPolicy(o.Restart); err != nil {
		return nil, err
	}
	if o.AutoRemove && hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		return nil, invalidArg("conflicting options: cannot specify both --restart and --rm")
	}

	if err := o.resources(&hc.Resources); err != nil {
		return nil, err
	}

	for _, spec := range o.Volumes {
		v, err := ParseVolume(spec)
		if err != nil {
			return nil, err
		}
		if v.Anonymous() {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v.Target] = struct{}{}
			continue
		}
		hc.Binds = append(hc.Binds, v.Bind())
	}
	for _, spec := range o.Mounts {
		m, err := ParseMount(spec)
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	for _, spec := range o.Tmpfs {
		path, options, _ := strings.Cut(spec, ":")
		if !strings.HasPrefix(path, "/") {
			return nil, invalidArg("invalid tmpfs %q: path must be absolute", spec)
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs[path] = options
	}

	exposed, bindings, err := ParsePublish(o.Publish)
	if err != nil {
		return nil, err
	}
	more, err := ParseExpose(o.Expose)
	if err != nil {
		return nil, err
	}
	for p := range more {
		exposed[p] = struct{}{}
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	if len(bindings) > 0 {
		hc.PortBindings = bindings
	}

	for _, s := range o.DNS {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, invalidArg("invalid DNS server %q", s)
		}
		hc.DNS = append(hc.DNS, ip)
	}
	for _, s := range o.AddHosts {
		h, err := ParseExtraHost(s)
		if err != nil {
			return nil, err
		}
		hc.ExtraHosts = append(hc.ExtraHosts, h)
	}
	for _, s := range o.SecurityOpt {
		opt, err := securityOpt(s, env)
		if err != nil {
			return nil, err
		}
		hc.SecurityOpt = append(hc.SecurityOpt, opt)
	}

	nc, err := o.networkingConfig(hc.NetworkMode)
	if err != nil {
		return nil, err
	}
	return &Container{Config: cfg, HostConfig: hc, NetworkingConfig: nc}, nil
}

// networkingConfig carries --network-alias, --ip and --mac-address to the
// endpoint of the container's network, keyed by the network's name as the
// docker CLI does it.
func (o *ContainerOptions) networkingConfig(mode container.NetworkMode) (*network.NetworkingConfig, error) {
	nc := &network.NetworkingConfig{}
	es := &network.EndpointSettings{}
	if len(o.Aliases) > 0 {
		if mode.IsDefault() || mode.IsBridge() || mode.IsHost() || mode.IsNone() || mode.IsContainer() {
			return nil, fmt.Errorf("network-scoped aliases are only supported for user-defined networks: %w", errdefs.ErrInvalidArgument)
		}
		es.Aliases = o.Aliases
	}
	if o.IPv4 != "" {
		ip, err := netip.ParseAddr(o.IPv4)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s: %w", o.IPv4, errdefs.ErrInvalidArgument)
		}
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
	}
	if o.MAC != "" {
		mac, err := net.ParseMAC(o.MAC)
		if err != nil {
			return nil, fmt.Errorf("invalid MAC address: %s: %w", o.MAC, errdefs.ErrInvalidArgument)
		}
		es.MacAddress = network.HardwareAddr(mac)
	}
	userNet := !mode.IsDefault() && !mode.IsBridge() && !mode.IsHost() && !mode.IsNone() && !mode.IsContainer()
	settings := es.IPAMConfig != nil || len(es.MacAddress) > 0
	if userNet || (settings && !mode.IsHost() && !mode.IsNone() && !mode.IsContainer()) {
		nc.EndpointsConfig = map[string]*network.EndpointSettings{string(mode): es}
	}
	return nc, nil
}

func (o *ContainerOptions) environment(env Environment) ([]string, error) {
	var out []string
	for _, f := range o.EnvFiles {
		b, err := readFile(env, f)
		if err != nil {
			return nil, err
		}
		lines, err := ParseEnvFile(bytes.NewReader(b), env.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("env file %s: %w", f, err)
		}
		out = append(out, lines...)
	}
	for _, e := range o.Env {
		name, _, hasValue := strings.Cut(e, "=")
		if name == "" {
			return nil, invalidArg("invalid environment variable: %s", e)
		}
		if !hasValue && env.LookupEnv != nil {
			if v, ok := env.LookupEnv(name); ok {
				e = name + "=" + v
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func (o *ContainerOptions) labels(env Environment) (map[string]string, error) {
	var all []string
	for _, f := range o.LabelFiles {
		b, err := readFile(env, f)
		if err != nil {
			return nil, err
		}
		lines, err := ParseLabelFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("label file %s: %w", f, err)
		}
		all = append(all, lines...)
	}
	all = append(all, o.Labels...)
	return ParseLabels(all)
}

// ParseLabels turns key=value (or bare key) strings into a label map; later ones win.
func ParseLabels(list []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, l := range list {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, invalidArg("invalid label %q: empty name", l)
		}
		labels[k] = v
	}
	return labels, nil
}

// ParseKeyValues turns key=value strings (driver options) into a map; a value is required.
func ParseKeyValues(list []string) (map[string]string, error) {
	m := map[string]string{}
	for _, l := range list {
		k, v, ok := strings.Cut(l, "=")
		if k == "" || !ok {
			return nil, invalidArg("invalid option %q: expected key=value", l)
		}
		m[k] = v
	}
	return m, nil
}

func readFile(env Environment, name string) ([]byte, error) {
	if env.ReadFile == nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, errdefs.ErrNotImplemented)
	}
	b, err := env.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return b, nil
}

// resources converts the resource flags, docker's units included.
func (o *ContainerOptions) resources(r *container.Resources) error {
	var err error
	if o.Memory != "" {
		if r.Memory, err = units.RAMInBytes(o.Memory); err != nil || r.Memory < 0 {
			return invalidArg("invalid memory %q", o.Memory)
		}
	}
	switch o.MemorySwap {
	case "":
	case "-1":
		r.MemorySwap = -1
	default:
		if r.MemorySwap, err = units.RAMInBytes(o.MemorySwap); err != nil || r.MemorySwap < 0 {
			return invalidArg("invalid memory-swap %q", o.MemorySwap)
		}
	}
	if o.CPUs != "" {
		if r.NanoCPUs, err = ParseCPUs(o.CPUs); err != nil {
			return err
		}
	}
	r.CPUShares, r.CPUQuota, r.CPUPeriod = o.CPUShares, o.CPUQuota, o.CPUPeriod
	if o.PidsLimit != 0 {
		n := o.PidsLimit
		r.PidsLimit = &n
	}
	for _, s := range o.Ulimits {
		u, err := units.ParseUlimit(s)
		if err != nil {
			return invalidArg("invalid ulimit %q: %v", s, err)
		}
		r.Ulimits = append(r.Ulimits, u)
	}
	return nil
}

// ParseCPUs converts a decimal CPU count ("1.5") into NanoCPUs, exactly (no float rounding).
func ParseCPUs(s string) (int64, error) {
	cpu, ok := new(big.Rat).SetString(s)
	if !ok || cpu.Sign() < 0 {
		return 0, invalidArg("invalid cpus %q: not a non-negative number", s)
	}
	nano := cpu.Mul(cpu, big.NewRat(1e9, 1))
	if !nano.IsInt() || !nano.Num().IsInt64() {
		return 0, invalidArg("invalid cpus %q: value is too precise or too large", s)
	}
	return nano.Num().Int64(), nil
}

// ParseExtraHost checks an --add-host value (host:ip or host=ip, "host-gateway" allowed)
// and returns it in the host:ip form the daemon reads.
func ParseExtraHost(s string) (string, error) {
	host, ip, ok := strings.Cut(s, "=")
	if !ok {
		host, ip, ok = strings.Cut(s, ":")
	}
	if !ok || host == "" {
		return "", invalidArg("invalid add-host %q: expected host:ip", s)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", invalidArg("invalid add-host %q: invalid IP address", s)
		}
	}
	return host + ":" + ip, nil
}

// securityOpt mirrors the docker CLI: a seccomp profile given as a path is sent inline.
func securityOpt(s string, env Environment) (string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		k, v, ok = strings.Cut(s, ":")
	}
	if !ok && s != "no-new-privileges" {
		return "", invalidArg("invalid security-opt %q", s)
	}
	if k != "seccomp" || v == "unconfined" || v == "builtin" {
		return s, nil
	}
	b, err := readFile(env, v)
	if err != nil {
		return "", fmt.Errorf("seccomp profile: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "", invalidArg("seccomp profile %s: %v", v, err)
	}
	return "seccomp=" + buf.String(), nil
}

// healthcheck builds the HEALTHCHECK override from the --health-* flags
// (nil: keep the image's), with docker's validation.
func (o *ContainerOptions) healthcheck() (*container.HealthConfig, error) {
	set := o.HealthCmd != "" || o.HealthInterval != 0 || o.HealthTimeout != 0 || o.HealthStartPeriod != 0 ||
		o.HealthStartInterval != 0 || o.HealthRetries != 0
	if o.NoHealthcheck {
		if set {
			return nil, invalidArg("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	for name, d := range map[string]time.Duration{"--health-interval": o.HealthInterval, "--health-timeout": o.HealthTimeout,
		"--health-start-period": o.HealthStartPeriod, "--health-start-interval": o.HealthStartInterval} {
		if d < 0 {
			return nil, invalidArg("%s cannot be negative", name)
		}
	}
	if o.HealthRetries < 0 {
		return nil, invalidArg("--health-retries cannot be negative")
	}
	hc := &container.HealthConfig{Interval: o.HealthInterval, Timeout: o.HealthTimeout, StartPeriod: o.HealthStartPeriod,
		StartInterval: o.HealthStartInterval, Retries: o.HealthRetries}
	if o.HealthCmd != "" {
		hc.Test = []string{"CMD-SHELL", o.HealthCmd}
	}
	return hc, nil
}
