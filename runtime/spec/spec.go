package spec

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options is everything Generate needs; the caller has already resolved
// images, users, volumes and the network sandbox.
type Options struct {
	ID, Hostname string
	// Rootfs is the absolute path of the mounted root filesystem.
	Rootfs string
	// Process carries Args, Env, Cwd, User and Terminal; Generate adds
	// capabilities, rlimits and security settings.
	Process    specs.Process
	HostConfig *container.HostConfig
	// Mounts are extra mounts (volumes, binds, /etc/hosts …); one whose
	// destination equals a default mount replaces that default.
	Mounts []specs.Mount
	// NetNSPath joins an existing network namespace; "" creates a new one.
	NetNSPath string
	// HostNetwork shares the host's network namespace.
	HostNetwork bool
	CgroupsPath string
	// HostNofileHard is the host's hard RLIMIT_NOFILE: the container never
	// asks for more, because runtimes fail when the host cannot grant it.
	HostNofileHard uint64
	StopSignal     string
}

const (
	// minMemory is Docker's lowest accepted memory limit.
	minMemory = 6 * 1024 * 1024
	// defaultShmSize is Docker's /dev/shm size.
	defaultShmSize = 64 * 1024 * 1024
	// maxNofile is Docker's (containerd's) RLIMIT_NOFILE for containers.
	maxNofile = 1048576
	cfsPeriod = 100000
)

// maskedPaths and readonlyPaths are the /proc and /sys entries Docker hides
// from unprivileged containers.
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// Generate builds the OCI spec of a container. Bad values in the host config
// come back as errdefs.ErrInvalidArgument with Docker's wording; features we
// do not support yet come back as errdefs.ErrNotImplemented.
func Generate(o Options) (*specs.Spec, error) {
	hc := o.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if o.Rootfs == "" || !path.IsAbs(o.Rootfs) {
		return nil, fmt.Errorf("rootfs %q must be an absolute path: %w", o.Rootfs, errdefs.ErrInvalidArgument)
	}
	if len(o.Process.Args) == 0 {
		return nil, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	// hc.Init (--init) is accepted and ignored: wharf ships no docker-init
	// (tini) to inject yet, and the container still runs without it.
	if len(hc.Devices) > 0 {
		return nil, fmt.Errorf("--device: %w", errdefs.ErrNotImplemented)
	}
	sec, err := parseSecurityOpt(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	capList, err := capabilities(hc.Privileged, hc.CapAdd, hc.CapDrop)
	if err != nil {
		return nil, err
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, fmt.Errorf("invalid value %d, range for oom score adj is [-1000, 1000]: %w", hc.OomScoreAdj, errdefs.ErrInvalidArgument)
	}
	resources, err := linuxResources(hc)
	if err != nil {
		return nil, err
	}

	proc := o.Process
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	proc.Capabilities = &specs.LinuxCapabilities{
		Bounding:  capList,
		Effective: slices.Clone(capList),
		Permitted: slices.Clone(capList),
	}
	rlimits, err := rlimits(hc.Ulimits, o.HostNofileHard)
	if err != nil {
		return nil, err
	}
	proc.Rlimits = rlimits
	adj := hc.OomScoreAdj
	proc.OOMScoreAdj = &adj
	proc.NoNewPrivileges = sec.noNewPrivileges
	if hc.ConsoleSize[0] > 0 || hc.ConsoleSize[1] > 0 {
		proc.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}

	s := &specs.Spec{
		Version: specs.Version,
		Process: &proc,
		Root:    &specs.Root{Path: o.Rootfs, Readonly: hc.ReadonlyRootfs},
		Linux: &specs.Linux{
			CgroupsPath: o.CgroupsPath,
			Resources:   resources,
		},
	}
	if o.StopSignal != "" {
		s.Annotations = map[string]string{"org.opencontainers.image.stopSignal": o.StopSignal}
	}

	ns, err := namespaces(o, hc)
	if err != nil {
		return nil, err
	}
	s.Linux.Namespaces = ns
	if !hc.UTSMode.IsHost() {
		s.Hostname = o.Hostname
	}
	if err := validateSysctls(hc.Sysctls, o.HostNetwork, hc.IpcMode.IsHost()); err != nil {
		return nil, err
	}
	if len(hc.Sysctls) > 0 {
		s.Linux.Sysctl = maps(hc.Sysctls)
	}

	shm := hc.ShmSize
	if shm < 0 {
		return nil, fmt.Errorf("SHM size can not be less than 0: %w", errdefs.ErrInvalidArgument)
	}
	if shm == 0 {
		shm = defaultShmSize
	}
	s.Mounts = mergeMounts(defaultMounts(hc.Privileged, shm, hc.IpcMode), o.Mounts)

	if hc.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, fmt.Errorf("list host devices: %w", err)
		}
		s.Linux.Devices = devs
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		s.Linux.Devices = []specs.LinuxDevice{}
		s.Linux.Resources.Devices = defaultDeviceRules()
		s.Linux.MaskedPaths = slices.Clone(maskedPaths)
		s.Linux.ReadonlyPaths = slices.Clone(readonlyPaths)
		if hc.MaskedPaths != nil {
			s.Linux.MaskedPaths = slices.Clone(hc.MaskedPaths)
		}
		if hc.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = slices.Clone(hc.ReadonlyPaths)
		}
		switch {
		case sec.seccompUnconfined:
		case sec.seccompProfile != "":
			if s.Linux.Seccomp, err = seccomp.LoadProfile(sec.seccompProfile, s); err != nil {
				return nil, fmt.Errorf("seccomp profile: %v: %w", err, errdefs.ErrInvalidArgument)
			}
		default:
			if s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s); err != nil {
				return nil, fmt.Errorf("default seccomp profile: %w", err)
			}
			dropUnreachableArches(s.Linux.Seccomp)
			compactEqualityRules(s.Linux.Seccomp)
		}
	}
	return s, nil
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type securityOpts struct {
	noNewPrivileges   bool
	seccompUnconfined bool
	seccompProfile    string
}

// parseSecurityOpt understands the --security-opt values Docker accepts on a
// host without SELinux or AppArmor; label and apparmor options are accepted
// and ignored, as Docker does when those systems are disabled.
func parseSecurityOpt(opts []string) (securityOpts, error) {
	var s securityOpts
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			s.noNewPrivileges = true
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":") // the pre-1.12 syntax
		}
		if !ok {
			return s, fmt.Errorf("invalid --security-opt 1: %q: %w", opt, errdefs.ErrInvalidArgument)
		}
		switch k {
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, fmt.Errorf("invalid --security-opt 2: %q: %w", opt, errdefs.ErrInvalidArgument)
			}
			s.noNewPrivileges = b
		case "seccomp":
			if v == "unconfined" {
				s.seccompUnconfined = true
			} else {
				// The docker CLI sends the profile's JSON, not its file name.
				s.seccompProfile = v
			}
		case "label", "apparmor", "systempaths", "writable-cgroups":
		default:
			return s, fmt.Errorf("invalid --security-opt 2: %q: %w", opt, errdefs.ErrInvalidArgument)
		}
	}
	return s, nil
}

func namespaces(o Options, hc *container.HostConfig) ([]specs.LinuxNamespace, error) {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if o.HostNetwork && o.NetNSPath != "" {
		return nil, fmt.Errorf("host network and a network namespace path are exclusive: %w", errdefs.ErrInvalidArgument)
	}
	if !o.HostNetwork {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNSPath})
	}
	switch {
	case hc.UTSMode.IsHost():
	case hc.UTSMode == "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	default:
		return nil, fmt.Errorf("invalid UTS mode %q: %w", hc.UTSMode, errdefs.ErrInvalidArgument)
	}
	switch {
	case hc.PidMode.IsHost():
	case hc.PidMode.IsContainer():
		return nil, fmt.Errorf("pid mode %q: %w", hc.PidMode, errdefs.ErrNotImplemented)
	case hc.PidMode == "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	default:
		return nil, fmt.Errorf("invalid PID mode %q: %w", hc.PidMode, errdefs.ErrInvalidArgument)
	}
	switch {
	case hc.IpcMode.IsHost():
	case hc.IpcMode.IsContainer():
		return nil, fmt.Errorf("ipc mode %q: %w", hc.IpcMode, errdefs.ErrNotImplemented)
	case hc.IpcMode.IsEmpty(), hc.IpcMode.IsPrivate(), hc.IpcMode.IsShareable(), hc.IpcMode.IsNone():
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	default:
		return nil, fmt.Errorf("invalid IPC mode %q: %w", hc.IpcMode, errdefs.ErrInvalidArgument)
	}
	switch hc.CgroupnsMode {
	case "", "host":
		// Docker's default on cgroup v1 hosts, which is what wharf targets.
	case "private":
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	default:
		return nil, fmt.Errorf("invalid cgroup namespace mode %q: %w", hc.CgroupnsMode, errdefs.ErrInvalidArgument)
	}
	return ns, nil
}

// validateSysctls applies Docker's rule: only namespaced sysctls, and no
// net.* in the host's network namespace nor IPC ones in the host's IPC.
func validateSysctls(sysctls map[string]string, hostNet, hostIPC bool) error {
	ipc := []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
	for k := range sysctls {
		switch {
		case slices.Contains(ipc, k) || strings.HasPrefix(k, "fs.mqueue."):
			if hostIPC {
				return fmt.Errorf("sysctl %q is not allowed in the host IPC namespace: %w", k, errdefs.ErrInvalidArgument)
			}
		case strings.HasPrefix(k, "net."):
			if hostNet {
				return fmt.Errorf("sysctl %q is not allowed in the host network namespace: %w", k, errdefs.ErrInvalidArgument)
			}
		case k == "kernel.domainname" || k == "kernel.hostname":
		default:
			return fmt.Errorf("sysctl %q is not whitelisted: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func linuxResources(hc *container.HostConfig) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
	}

	mem := &specs.LinuxMemory{}
	memSet := false
	switch {
	case hc.Memory < 0:
		return nil, bad("invalid memory limit %d", hc.Memory)
	case hc.Memory > 0 && hc.Memory < minMemory:
		return nil, bad("minimum memory limit allowed is 6MB")
	case hc.Memory > 0:
		limit := hc.Memory
		mem.Limit = &limit
		memSet = true
	}
	switch {
	case hc.MemorySwap == -1:
		if hc.Memory > 0 {
			unlimited := int64(-1)
			mem.Swap = &unlimited
		}
	case hc.MemorySwap < -1:
		return nil, bad("invalid memory swap limit %d", hc.MemorySwap)
	case hc.MemorySwap > 0 && hc.Memory == 0:
		return nil, bad("you should always set the memory limit when using memoryswap limit, see usage")
	case hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory:
		return nil, bad("minimum memoryswap limit should be larger than memory limit, see usage")
	case hc.MemorySwap > 0:
		swap := hc.MemorySwap
		mem.Swap = &swap
	case hc.Memory > 0:
		// Docker: with only --memory, memory+swap may use twice the limit.
		swap := 2 * hc.Memory
		mem.Swap = &swap
	}
	if hc.MemoryReservation < 0 {
		return nil, bad("invalid memory reservation %d", hc.MemoryReservation)
	}
	if hc.MemoryReservation > 0 {
		if hc.Memory > 0 && hc.MemoryReservation > hc.Memory {
			return nil, bad("minimum memory limit can not be less than memory reservation limit, see usage")
		}
		res := hc.MemoryReservation
		mem.Reservation = &res
		memSet = true
	}
	if hc.MemorySwappiness != nil && *hc.MemorySwappiness != -1 {
		v := *hc.MemorySwappiness
		if v < 0 || v > 100 {
			return nil, bad("invalid value: %d, valid memory swappiness range is 0-100", v)
		}
		sw := uint64(v)
		mem.Swappiness = &sw
		memSet = true
	}
	if hc.OomKillDisable != nil && *hc.OomKillDisable {
		t := true
		mem.DisableOOMKiller = &t
		memSet = true
	}
	if memSet || mem.Swap != nil {
		r.Memory = mem
	}

	cpu := &specs.LinuxCPU{}
	cpuSet := false
	if hc.NanoCPUs < 0 {
		return nil, bad("range of CPUs is from 0.01 to the number of CPUs")
	}
	if hc.NanoCPUs > 0 {
		if hc.CPUQuota > 0 || hc.CPUPeriod > 0 {
			return nil, fmt.Errorf("conflicting options: Nano CPUs and CPU Period/Quota cannot both be set: %w", errdefs.ErrInvalidArgument)
		}
		quota := hc.NanoCPUs * cfsPeriod / 1e9
		if quota < 1000 {
			return nil, bad("range of CPUs is from 0.01 to the number of CPUs")
		}
		period := uint64(cfsPeriod)
		cpu.Quota, cpu.Period = &quota, &period
		cpuSet = true
	}
	if hc.CPUPeriod != 0 {
		if hc.CPUPeriod < 1000 || hc.CPUPeriod > 1000000 {
			return nil, bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
		}
		p := uint64(hc.CPUPeriod)
		cpu.Period = &p
		cpuSet = true
	}
	if hc.CPUQuota != 0 {
		if hc.CPUQuota > 0 && hc.CPUQuota < 1000 {
			return nil, bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
		}
		q := hc.CPUQuota
		cpu.Quota = &q
		cpuSet = true
	}
	if hc.CPUShares < 0 {
		return nil, bad("invalid CPU shares %d", hc.CPUShares)
	}
	if hc.CPUShares > 0 {
		sh := uint64(hc.CPUShares)
		cpu.Shares = &sh
		cpuSet = true
	}
	if hc.CpusetCpus != "" {
		cpu.Cpus = hc.CpusetCpus
		cpuSet = true
	}
	if hc.CpusetMems != "" {
		cpu.Mems = hc.CpusetMems
		cpuSet = true
	}
	if cpuSet {
		r.CPU = cpu
	}

	if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
		// 0 and -1 mean unlimited in Docker's API.
		r.Pids = &specs.LinuxPids{Limit: ptr(*hc.PidsLimit)}
	}
	if hc.BlkioWeight != 0 {
		if hc.BlkioWeight < 10 || hc.BlkioWeight > 1000 {
			return nil, bad("range of blkio weight is from 10 to 1000")
		}
		w := hc.BlkioWeight
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return r, nil
}

// rlimitNames maps Docker's --ulimit names to the kernel's.
var rlimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// rlimits gives every container Docker's RLIMIT_NOFILE, lowered to what the
// host can grant, then applies explicit --ulimit values (the user's choice,
// passed through as given).
func rlimits(ulimits []*container.Ulimit, hostNofileHard uint64) ([]specs.POSIXRlimit, error) {
	nofile := uint64(maxNofile)
	if hostNofileHard > 0 && hostNofileHard < nofile {
		nofile = hostNofileHard
	}
	out := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}}
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		typ, ok := rlimitNames[u.Name]
		if !ok {
			return nil, fmt.Errorf("invalid ulimit type: %s: %w", u.Name, errdefs.ErrInvalidArgument)
		}
		if u.Soft < 0 || u.Hard < 0 || u.Soft > u.Hard {
			return nil, fmt.Errorf("ulimit %s: soft limit %d must not exceed hard limit %d: %w", u.Name, u.Soft, u.Hard, errdefs.ErrInvalidArgument)
		}
		l := specs.POSIXRlimit{Type: typ, Hard: uint64(u.Hard), Soft: uint64(u.Soft)}
		if i := slices.IndexFunc(out, func(r specs.POSIXRlimit) bool { return r.Type == typ }); i >= 0 {
			out[i] = l
		} else {
			out = append(out, l)
		}
	}
	return out, nil
}

func defaultMounts(privileged bool, shmSize int64, ipc container.IpcMode) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgOpts := []string{"ro", "nosuid", "noexec", "nodev"}
	if privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
		cgOpts = []string{"rw", "nosuid", "noexec", "nodev"}
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	switch {
	case ipc.IsNone():
	case ipc.IsHost():
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}})
	default:
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}})
	}
	return ms
}

// mergeMounts drops defaults the caller overrides and orders the caller's
// mounts parents-first, so /data is mounted before /data/sub.
func mergeMounts(defaults, extra []specs.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(defaults)+len(extra))
	for _, d := range defaults {
		overridden := slices.ContainsFunc(extra, func(m specs.Mount) bool {
			return path.Clean(m.Destination) == d.Destination
		})
		// A bind over /dev hides everything Docker mounts below it, too.
		if !overridden && !(strings.HasPrefix(d.Destination, "/dev/") && slices.ContainsFunc(extra, func(m specs.Mount) bool { return path.Clean(m.Destination) == "/dev" })) {
			out = append(out, d)
		}
	}
	sorted := slices.Clone(extra)
	sort.SliceStable(sorted, func(i, j int) bool {
		return depth(sorted[i].Destination) < depth(sorted[j].Destination)
	})
	return append(out, sorted...)
}

func depth(p string) int {
	p = path.Clean(p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

func ptr[T any](v T) *T { return &v }

// defaultDeviceRules is Docker's device cgroup: deny everything, allow
// mknod of any device (creating is harmless, using is not) and the standard
// character devices runc creates.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(-1)), Minor: ptr(int64(-1)), Access: "m"},
		{Allow: true, Type: "b", Major: ptr(int64(-1)), Minor: ptr(int64(-1)), Access: "m"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},    // null
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(8)), Access: "rwm"},    // random
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(7)), Access: "rwm"},    // full
		{Allow: true, Type: "c", Major: ptr(int64(5)), Minor: ptr(int64(0)), Access: "rwm"},    // tty
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(5)), Access: "rwm"},    // zero
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(9)), Access: "rwm"},    // urandom
		{Allow: true, Type: "c", Major: ptr(int64(5)), Minor: ptr(int64(1)), Access: "rwm"},    // console
		{Allow: true, Type: "c", Major: ptr(int64(136)), Minor: ptr(int64(-1)), Access: "rwm"}, // pts/*
		{Allow: true, Type: "c", Major: ptr(int64(5)), Minor: ptr(int64(2)), Access: "rwm"},    // ptmx
		{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(200)), Access: "rwm"}, // tun
	}
}
