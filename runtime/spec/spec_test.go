package spec

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func baseOptions() Options {
	return Options{
		ID:       "0123456789ab",
		Hostname: "0123456789ab",
		Rootfs:   "/run/wharf/containers/0123456789ab/rootfs",
		Process: specs.Process{
			Args: []string{"sh", "-c", "echo hello"},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:  "/",
		},
		HostConfig:     &container.HostConfig{},
		CgroupsPath:    "/wharf/0123456789ab",
		HostNofileHard: 20000,
	}
}

func i64(v int64) *int64 { return &v }

func TestGenerateGolden(t *testing.T) {
	hostDevices = func() ([]specs.LinuxDevice, error) {
		mode := os.FileMode(0o666)
		var zero uint32
		return []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &zero, GID: &zero}}, nil
	}
	cases := map[string]func(o *Options){
		"default": func(o *Options) {},
		"resources": func(o *Options) {
			o.HostConfig.Memory = 64 << 20
			o.HostConfig.NanoCPUs = 1500000000
			o.HostConfig.CPUShares = 512
			o.HostConfig.PidsLimit = i64(100)
			o.HostConfig.ShmSize = 128 << 20
			o.HostConfig.OomScoreAdj = 500
			o.HostConfig.Ulimits = []*container.Ulimit{{Name: "nproc", Soft: 512, Hard: 1024}, {Name: "nofile", Soft: 100, Hard: 200}}
			o.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
		},
		"security": func(o *Options) {
			o.HostConfig.CapAdd = []string{"net_admin", "CAP_SYS_TIME"}
			o.HostConfig.CapDrop = []string{"MKNOD", "cap_net_raw"}
			o.HostConfig.ReadonlyRootfs = true
			o.HostConfig.SecurityOpt = []string{"no-new-privileges", "seccomp=unconfined"}
			o.Process.Terminal = true
			o.StopSignal = "SIGQUIT"
		},
		"privileged": func(o *Options) {
			o.HostConfig.Privileged = true
		},
		"hostnet": func(o *Options) {
			o.HostNetwork = true
			o.HostNofileHard = 2000000
			o.Mounts = []specs.Mount{
				{Destination: "/data/sub", Type: "bind", Source: "/srv/sub", Options: []string{"rbind", "rprivate"}},
				{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rprivate", "ro"}},
				{Destination: "/dev/shm", Type: "bind", Source: "/srv/shm", Options: []string{"rbind"}},
				{Destination: "/etc/hosts", Type: "bind", Source: "/run/wharf/x/hosts", Options: []string{"rbind", "rprivate"}},
			}
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			o := baseOptions()
			mod(&o)
			s, err := Generate(o)
			require.NoError(t, err)
			// The default seccomp profile depends on the host's kernel and
			// architecture; check its shape here and keep it out of the file.
			if s.Linux.Seccomp != nil {
				assert.Equal(t, specs.ActErrno, s.Linux.Seccomp.DefaultAction)
				assert.NotEmpty(t, s.Linux.Seccomp.Syscalls)
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "<docker default profile>"}
			}
			got, err := json.MarshalIndent(s, "", "  ")
			require.NoError(t, err)
			golden := filepath.Join("testdata", "TestGenerate_"+name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(want), string(got)+"\n")
		})
	}
}

func TestGenerateDefaults(t *testing.T) {
	s, err := Generate(baseOptions())
	require.NoError(t, err)
	assert.Equal(t, defaultCaps, s.Process.Capabilities.Bounding)
	assert.Empty(t, s.Process.Capabilities.Inheritable)
	assert.Equal(t, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 20000, Soft: 20000}}, s.Process.Rlimits)
	assert.Equal(t, 0, *s.Process.OOMScoreAdj)
	require.NotNil(t, s.Linux.Seccomp)
	var types []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		types = append(types, n.Type)
	}
	assert.ElementsMatch(t, []specs.LinuxNamespaceType{"mount", "network", "uts", "pid", "ipc"}, types)
	assert.Contains(t, s.Linux.MaskedPaths, "/proc/kcore")
	assert.Contains(t, s.Linux.ReadonlyPaths, "/proc/sysrq-trigger")
}

func TestGenerateMemorySwap(t *testing.T) {
	o := baseOptions()
	o.HostConfig.Memory = 10 << 20
	s, err := Generate(o)
	require.NoError(t, err)
	assert.Equal(t, int64(10<<20), *s.Linux.Resources.Memory.Limit)
	assert.Equal(t, int64(20<<20), *s.Linux.Resources.Memory.Swap)

	o.HostConfig.MemorySwap = -1
	s, err = Generate(o)
	require.NoError(t, err)
	assert.Equal(t, int64(-1), *s.Linux.Resources.Memory.Swap)
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		name string
		mod  func(o *Options)
		want func(error) bool
	}{
		{"negative memory", func(o *Options) { o.HostConfig.Memory = -1 }, errdefs.IsInvalidArgument},
		{"memory below 6MB", func(o *Options) { o.HostConfig.Memory = 4 << 20 }, errdefs.IsInvalidArgument},
		{"swap below memory", func(o *Options) { o.HostConfig.Memory = 64 << 20; o.HostConfig.MemorySwap = 32 << 20 }, errdefs.IsInvalidArgument},
		{"swap without memory", func(o *Options) { o.HostConfig.MemorySwap = 32 << 20 }, errdefs.IsInvalidArgument},
		{"bad cap add", func(o *Options) { o.HostConfig.CapAdd = []string{"CAP_FLY"} }, errdefs.IsInvalidArgument},
		{"bad cap drop", func(o *Options) { o.HostConfig.CapDrop = []string{"nope"} }, errdefs.IsInvalidArgument},
		{"nano cpus and quota", func(o *Options) { o.HostConfig.NanoCPUs = 1e9; o.HostConfig.CPUQuota = 50000 }, errdefs.IsInvalidArgument},
		{"tiny nano cpus", func(o *Options) { o.HostConfig.NanoCPUs = 1000 }, errdefs.IsInvalidArgument},
		{"negative shm", func(o *Options) { o.HostConfig.ShmSize = -1 }, errdefs.IsInvalidArgument},
		{"oom score", func(o *Options) { o.HostConfig.OomScoreAdj = 1001 }, errdefs.IsInvalidArgument},
		{"bad ulimit", func(o *Options) { o.HostConfig.Ulimits = []*container.Ulimit{{Name: "files", Soft: 1, Hard: 1}} }, errdefs.IsInvalidArgument},
		{"ulimit soft above hard", func(o *Options) { o.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 1}} }, errdefs.IsInvalidArgument},
		{"bad security opt", func(o *Options) { o.HostConfig.SecurityOpt = []string{"bogus"} }, errdefs.IsInvalidArgument},
		{"bad seccomp json", func(o *Options) { o.HostConfig.SecurityOpt = []string{"seccomp={"} }, errdefs.IsInvalidArgument},
		{"net sysctl on host network", func(o *Options) {
			o.HostNetwork = true
			o.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
		}, errdefs.IsInvalidArgument},
		{"host sysctl", func(o *Options) { o.HostConfig.Sysctls = map[string]string{"vm.swappiness": "1"} }, errdefs.IsInvalidArgument},
		{"relative rootfs", func(o *Options) { o.Rootfs = "rootfs" }, errdefs.IsInvalidArgument},
		{"no args", func(o *Options) { o.Process.Args = nil }, errdefs.IsInvalidArgument},
		{"pid of container", func(o *Options) { o.HostConfig.PidMode = "container:abc" }, errdefs.IsNotImplemented},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions()
			tc.mod(&o)
			_, err := Generate(o)
			require.Error(t, err)
			assert.True(t, tc.want(err), "wrong class: %v", err)
		})
	}
}

func TestCapabilities(t *testing.T) {
	got, err := capabilities(false, []string{"ALL"}, []string{"chown"})
	require.NoError(t, err)
	assert.Equal(t, allCaps, got)

	got, err = capabilities(false, []string{"NET_ADMIN"}, []string{"ALL"})
	require.NoError(t, err)
	assert.Equal(t, []string{"CAP_NET_ADMIN"}, got)
}

func FuzzParseSecurityOpt(f *testing.F) {
	for _, s := range []string{"no-new-privileges", "seccomp=unconfined", "seccomp:unconfined", "no-new-privileges=false", "label=disable", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, opt string) {
		_, _ = parseSecurityOpt([]string{opt})
	})
}

func FuzzGenerateResources(f *testing.F) {
	f.Add(int64(64<<20), int64(0), int64(1e9), int64(0), int64(0), "net_admin")
	f.Add(int64(-1), int64(-1), int64(0), int64(1000), int64(100000), "ALL")
	f.Fuzz(func(t *testing.T, mem, swap, nano, quota, period int64, capAdd string) {
		o := baseOptions()
		o.HostConfig.Memory, o.HostConfig.MemorySwap = mem, swap
		o.HostConfig.NanoCPUs, o.HostConfig.CPUQuota, o.HostConfig.CPUPeriod = nano, quota, period
		o.HostConfig.CapAdd = []string{capAdd}
		o.HostConfig.SecurityOpt = []string{"seccomp=unconfined"}
		s, err := Generate(o)
		if err != nil {
			require.True(t, errdefs.IsInvalidArgument(err), "unexpected class: %v", err)
			return
		}
		if s.Linux.Resources.Memory != nil && s.Linux.Resources.Memory.Limit != nil {
			require.GreaterOrEqual(t, *s.Linux.Resources.Memory.Limit, int64(minMemory))
		}
	})
}
