package opts

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRestartPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    container.RestartPolicy
		wantErr bool
	}{
		{in: "", want: container.RestartPolicy{Name: "no"}},
		{in: "no", want: container.RestartPolicy{Name: "no"}},
		{in: "always", want: container.RestartPolicy{Name: "always"}},
		{in: "unless-stopped", want: container.RestartPolicy{Name: "unless-stopped"}},
		{in: "on-failure", want: container.RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:3", want: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}},
		{in: "on-failure:-1", wantErr: true},
		{in: "on-failure:x", wantErr: true},
		{in: "always:3", wantErr: true},
		{in: "sometimes", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRestartPolicy(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, errdefs.IsInvalidArgument(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOME" {
			return "/root", true
		}
		return "", false
	}
	in := "\xEF\xBB\xBF# comment\nA=1\n\n  B=two words\nHOME\nUNSET\nC=\nD=x=y\n"
	got, err := ParseEnvFile(strings.NewReader(in), lookup)
	require.NoError(t, err)
	assert.Equal(t, []string{"A=1", "B=two words", "HOME=/root", "C=", "D=x=y"}, got)

	_, err = ParseEnvFile(strings.NewReader("BAD NAME=1\n"), lookup)
	require.Error(t, err)
	assert.True(t, errdefs.IsInvalidArgument(err))
	_, err = ParseEnvFile(strings.NewReader("=1\n"), lookup)
	require.Error(t, err)
	_, err = ParseEnvFile(strings.NewReader("A=\xff\n"), lookup)
	require.Error(t, err)

	labels, err := ParseLabelFile(strings.NewReader("a=b\nflag\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a=b", "flag"}, labels)
}

func TestParseMount(t *testing.T) {
	tests := []struct {
		in      string
		want    mount.Mount
		wantErr bool
	}{
		{in: "type=bind,source=/src,target=/dst,readonly", want: mount.Mount{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true}},
		{in: "src=data,dst=/data", want: mount.Mount{Type: "volume", Source: "data", Target: "/data"}},
		{in: "target=/anon", want: mount.Mount{Type: "volume", Target: "/anon"}},
		{in: "type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false", want: mount.Mount{Type: "bind", Source: "/a", Target: "/b",
			BindOptions: &mount.BindOptions{Propagation: "rshared"}}},
		{in: `type=volume,src=v,dst=/v,volume-nocopy,volume-label=a=b,"volume-opt=o=x,y"`, want: mount.Mount{Type: "volume", Source: "v", Target: "/v",
			VolumeOptions: &mount.VolumeOptions{NoCopy: true, Labels: map[string]string{"a": "b"}, DriverConfig: &mount.Driver{Options: map[string]string{"o": "x,y"}}}}},
		{in: "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770", want: mount.Mount{Type: "tmpfs", Target: "/t",
			TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 01770}}},
		{in: "type=bind,dst=/b", wantErr: true},
		{in: "type=bind,src=/a", wantErr: true},
		{in: "type=bind,src=/a,dst=rel", wantErr: true},
		{in: "type=tmpfs,src=/a,dst=/b", wantErr: true},
		{in: "type=weird,dst=/b", wantErr: true},
		{in: "type=volume,dst=/b,bind-propagation=shared", wantErr: true},
		{in: "type=bind,src=/a,dst=/b,bind-propagation=sideways", wantErr: true},
		{in: "dst=/b,foo=bar", wantErr: true},
		{in: "dst=/b,readonly=maybe", wantErr: true},
		{in: "dst", wantErr: true},
		{in: `"dst=/b`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMount(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, errdefs.IsInvalidArgument(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in      string
		want    VolumeSpec
		wantErr bool
	}{
		{in: "/data", want: VolumeSpec{Target: "/data"}},
		{in: "vol:/data", want: VolumeSpec{Source: "vol", Target: "/data"}},
		{in: "/host/:/data:ro", want: VolumeSpec{Source: "/host", Target: "/data", Mode: "ro"}},
		{in: "/h:/d:rw,z,rshared", want: VolumeSpec{Source: "/h", Target: "/d", Mode: "rw,z,rshared"}},
		{in: "vol:/d:nocopy", want: VolumeSpec{Source: "vol", Target: "/d", Mode: "nocopy"}},
		{in: "/h:/d:nocopy", wantErr: true},
		{in: "/h:/d:ro,rw", wantErr: true},
		{in: "/h:/d:bogus", wantErr: true},
		{in: "data", wantErr: true},
		{in: "vol:rel", wantErr: true},
		{in: ":/d", wantErr: true},
		{in: "a:/b:ro:x", wantErr: true},
		{in: "bad name:/d", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVolume(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, errdefs.IsInvalidArgument(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Equal(t, "/h:/d:ro", VolumeSpec{Source: "/h", Target: "/d", Mode: "ro"}.Bind())
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string]int64{"1": 1e9, "0.5": 5e8, "1.25": 1250000000, "0": 0, "0.000000001": 1} {
		got, err := ParseCPUs(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"-1", "abc", "0.0000000001", "1e30"} {
		_, err := ParseCPUs(in)
		assert.Error(t, err, in)
	}
}

func TestParsePublish(t *testing.T) {
	exposed, bindings, err := ParsePublish([]string{"8080:80", "127.0.0.1:5353:53/udp", "9000-9001:9000-9001", "443"})
	require.NoError(t, err)
	p80 := network.MustParsePort("80/tcp")
	p53 := network.MustParsePort("53/udp")
	assert.Contains(t, exposed, p80)
	assert.Contains(t, exposed, network.MustParsePort("9001/tcp"))
	assert.Contains(t, exposed, network.MustParsePort("443/tcp"))
	assert.Equal(t, []network.PortBinding{{HostPort: "8080"}}, bindings[p80])
	assert.Equal(t, []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "5353"}}, bindings[p53])
	assert.Equal(t, []network.PortBinding{{HostPort: "9001"}}, bindings[network.MustParsePort("9001/tcp")])

	for _, bad := range []string{"abc", "80/sctpx", "1.2.3.4.5:80:80", "70000"} {
		_, _, err := ParsePublish([]string{bad})
		assert.Error(t, err, bad)
	}
	ex, err := ParseExpose([]string{"7000-7001/udp"})
	require.NoError(t, err)
	assert.Len(t, ex, 2)
}

func TestParseExtraHost(t *testing.T) {
	for in, want := range map[string]string{
		"db:10.0.0.2": "db:10.0.0.2", "db=10.0.0.2": "db:10.0.0.2", "v6:::1": "v6:::1",
		"v6=[::1]": "v6:::1", "gw:host-gateway": "gw:host-gateway",
	} {
		got, err := ParseExtraHost(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"db", ":1.2.3.4", "db:notanip"} {
		_, err := ParseExtraHost(in)
		assert.Error(t, err, in)
	}
}

func fakeEnv(files map[string]string, vars map[string]string) Environment {
	return Environment{
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

func TestContainerOptionsParse(t *testing.T) {
	env := fakeEnv(map[string]string{
		"app.env":   "FROM_FILE=1\nHOST_VAR\n",
		"labels":    "team=core\n",
		"prof.json": "{ \"defaultAction\": \"SCMP_ACT_ALLOW\" }",
	}, map[string]string{"HOST_VAR": "h", "BARE": "b"})

	t.Run("full", func(t *testing.T) {
		o := ContainerOptions{
			Interactive: true, TTY: true,
			Env: []string{"A=1", "BARE", "MISSING"}, EnvFiles: []string{"app.env"},
			Workdir: "/w", User: "1000:1000", Hostname: "box",
			Entrypoint: OptionalString{Value: "/bin/sh", IsSet: true},
			Volumes:    []string{"/anon", "named:/n:ro", "/host:/h"},
			Mounts:     []string{"type=tmpfs,dst=/run"},
			Tmpfs:      []string{"/tmp:rw,size=64m"},
			ReadOnly:   true,
			Memory:     "512m", MemorySwap: "-1", CPUs: "1.5", CPUShares: 512, PidsLimit: 100,
			Ulimits:     []string{"nofile=1024:2048"},
			Restart:     "on-failure:2",
			StopSignal:  "SIGINT",
			StopTimeout: OptionalInt{Value: 5, IsSet: true},
			Labels:      []string{"a=b"}, LabelFiles: []string{"labels"},
			Runtime: "runc",
			Network: "mynet",
			Publish: []string{"8080:80"}, PublishAll: true,
			DNS:      []string{"1.1.1.1"},
			AddHosts: []string{"db=10.0.0.2"},
			CapAdd:   []string{"NET_ADMIN"}, CapDrop: []string{"ALL"},
			SecurityOpt: []string{"seccomp=prof.json", "no-new-privileges"},
			Init:        OptionalBool{Value: true, IsSet: true},
		}
		c, err := o.Parse("busybox", []string{"sh"}, env)
		require.NoError(t, err)
		cfg, hc := c.Config, c.HostConfig
		assert.Equal(t, "busybox", cfg.Image)
		assert.Equal(t, []string{"sh"}, cfg.Cmd)
		assert.Equal(t, []string{"FROM_FILE=1", "HOST_VAR=h", "A=1", "BARE=b", "MISSING"}, cfg.Env)
		assert.Equal(t, map[string]string{"a": "b", "team": "core"}, cfg.Labels)
		assert.True(t, cfg.AttachStdin && cfg.AttachStdout && cfg.AttachStderr && cfg.OpenStdin && cfg.StdinOnce && cfg.Tty)
		assert.Equal(t, []string{"/bin/sh"}, cfg.Entrypoint)
		assert.Equal(t, map[string]struct{}{"/anon": {}}, cfg.Volumes)
		assert.Equal(t, 5, *cfg.StopTimeout)
		assert.Equal(t, []string{"named:/n:ro", "/host:/h"}, hc.Binds)
		assert.Equal(t, mount.TypeTmpfs, hc.Mounts[0].Type)
		assert.Equal(t, map[string]string{"/tmp": "rw,size=64m"}, hc.Tmpfs)
		assert.Equal(t, int64(512<<20), hc.Memory)
		assert.Equal(t, int64(-1), hc.MemorySwap)
		assert.Equal(t, int64(1.5e9), hc.NanoCPUs)
		assert.Equal(t, int64(100), *hc.PidsLimit)
		assert.Equal(t, int64(2048), hc.Ulimits[0].Hard)
		assert.Equal(t, container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, hc.RestartPolicy)
		assert.Equal(t, container.NetworkMode("mynet"), hc.NetworkMode)
		assert.Contains(t, c.NetworkingConfig.EndpointsConfig, "mynet")
		assert.Contains(t, cfg.ExposedPorts, network.MustParsePort("80/tcp"))
		assert.True(t, hc.PublishAllPorts)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.1.1.1")}, hc.DNS)
		assert.Equal(t, []string{"db:10.0.0.2"}, hc.ExtraHosts)
		assert.Equal(t, []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "no-new-privileges"}, hc.SecurityOpt)
		assert.True(t, *hc.Init)
		assert.True(t, hc.ReadonlyRootfs)
	})

	t.Run("defaults", func(t *testing.T) {
		var o ContainerOptions
		c, err := o.Parse("img", nil, env)
		require.NoError(t, err)
		assert.Equal(t, container.NetworkMode("bridge"), c.HostConfig.NetworkMode)
		assert.Nil(t, c.NetworkingConfig.EndpointsConfig)
		assert.Nil(t, c.Config.Entrypoint)
		assert.Nil(t, c.HostConfig.Init)
		assert.Nil(t, c.HostConfig.PidsLimit)
		assert.Nil(t, c.Config.StopTimeout)
		assert.False(t, c.Config.AttachStdin)
		assert.True(t, c.Config.AttachStdout && c.Config.AttachStderr)
		assert.Equal(t, container.RestartPolicyDisabled, c.HostConfig.RestartPolicy.Name)
	})

	t.Run("detached attaches nothing, empty entrypoint resets", func(t *testing.T) {
		o := ContainerOptions{Detach: true, Interactive: true, Entrypoint: OptionalString{IsSet: true}}
		c, err := o.Parse("img", nil, env)
		require.NoError(t, err)
		assert.False(t, c.Config.AttachStdin || c.Config.AttachStdout || c.Config.AttachStderr || c.Config.StdinOnce)
		assert.True(t, c.Config.OpenStdin)
		assert.Equal(t, []string{""}, c.Config.Entrypoint)
	})

	t.Run("attach only stderr", func(t *testing.T) {
		o := ContainerOptions{Attach: []string{"STDERR"}}
		c, err := o.Parse("img", nil, env)
		require.NoError(t, err)
		assert.False(t, c.Config.AttachStdout)
		assert.True(t, c.Config.AttachStderr)
	})

	errCases := map[string]ContainerOptions{
		"rm+restart":    {AutoRemove: true, Restart: "always"},
		"attach+detach": {Detach: true, Attach: []string{"stdout"}},
		"bad attach":    {Attach: []string{"stdlog"}},
		"memory":        {Memory: "lots"},
		"swap":          {MemorySwap: "-2"},
		"cpus":          {CPUs: "x"},
		"ulimit":        {Ulimits: []string{"nofile"}},
		"restart":       {Restart: "sometimes"},
		"volume":        {Volumes: []string{"rel"}},
		"mount":         {Mounts: []string{"type=bind"}},
		"tmpfs":         {Tmpfs: []string{"rel"}},
		"publish":       {Publish: []string{"x:y"}},
		"dns":           {DNS: []string{"dns.example"}},
		"add-host":      {AddHosts: []string{"nohost"}},
		"env":           {Env: []string{"=x"}},
		"label":         {Labels: []string{"=x"}},
		"env-file":      {EnvFiles: []string{"missing"}},
		"seccomp":       {SecurityOpt: []string{"seccomp=missing.json"}},
		"secopt":        {SecurityOpt: []string{"bogus"}},
		"expose":        {Expose: []string{"x"}},
	}
	for name, o := range errCases {
		t.Run("error/"+name, func(t *testing.T) {
			_, err := o.Parse("img", nil, env)
			require.Error(t, err)
			if name == "env-file" || name == "seccomp" {
				assert.True(t, errors.Is(err, fs.ErrNotExist))
			} else {
				assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
			}
		})
	}
}

func TestOptionalValues(t *testing.T) {
	var i OptionalInt
	assert.Nil(t, i.Ptr())
	require.NoError(t, i.Set("7"))
	assert.Equal(t, 7, *i.Ptr())
	assert.Error(t, i.Set("x"))
	var b OptionalBool
	assert.Nil(t, b.Ptr())
	require.NoError(t, b.Set("false"))
	assert.False(t, *b.Ptr())
	var s OptionalString
	require.NoError(t, s.Set(""))
	assert.True(t, s.IsSet)
}

func TestNetworkingConfigFlags(t *testing.T) {
	o := ContainerOptions{Network: "appnet", Aliases: []string{"cache"}, IPv4: "10.77.0.50", MAC: "92:d0:c6:0a:29:33"}
	nc, err := o.networkingConfig("appnet")
	require.NoError(t, err)
	es := nc.EndpointsConfig["appnet"]
	require.NotNil(t, es)
	assert.Equal(t, []string{"cache"}, es.Aliases)
	assert.Equal(t, "10.77.0.50", es.IPAMConfig.IPv4Address.String())
	assert.Equal(t, "92:d0:c6:0a:29:33", net.HardwareAddr(es.MacAddress).String())

	for _, bad := range []ContainerOptions{{Aliases: []string{"x"}}, {IPv4: "10.0.0.300"}, {IPv4: "::1"}, {MAC: "zz"}} {
		_, err := bad.networkingConfig("bridge")
		assert.Error(t, err, "%+v", bad)
	}
}
