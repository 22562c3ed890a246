package compose

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain quiets compose-go's logrus notices ("version is obsolete"),
// which docker stack deploy does not show either.
func TestMain(m *testing.M) {
	logrus.SetLevel(logrus.ErrorLevel)
	os.Exit(m.Run())
}

// load writes yml as docker-compose.yml in a fresh directory and converts
// it as stack "lab".
func load(t *testing.T, yml string, env ...string) (*Stack, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(yml), 0o644))
	p, err := Load(context.Background(), []string{f}, dir, env)
	if err != nil {
		return nil, err
	}
	return Convert(p, "lab")
}

func byName(st *Stack, name string) swarm.ServiceSpec {
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	return swarm.ServiceSpec{}
}

func TestTutorialPart3(t *testing.T) {
	p, err := Load(context.Background(), []string{"testdata/getstarted-part3.yml"}, ".", nil)
	require.NoError(t, err)
	st, err := Convert(p, "getstartedlab")
	require.NoError(t, err)

	require.Len(t, st.Networks, 1)
	assert.Equal(t, "getstartedlab_webnet", st.Networks[0].Name)
	assert.Equal(t, "overlay", st.Networks[0].Create.Driver)
	assert.Equal(t, "swarm", st.Networks[0].Create.Scope)
	assert.Equal(t, map[string]string{LabelNamespace: "getstartedlab"}, st.Networks[0].Create.Labels)

	require.Len(t, st.Services, 1)
	s := st.Services[0]
	assert.Equal(t, "getstartedlab_web", s.Name)
	assert.Equal(t, map[string]string{LabelNamespace: "getstartedlab", LabelImage: "781708249/mydocker:part2"}, s.Labels)
	assert.Equal(t, "781708249/mydocker:part2", s.TaskTemplate.ContainerSpec.Image)
	assert.Equal(t, map[string]string{LabelNamespace: "getstartedlab"}, s.TaskTemplate.ContainerSpec.Labels)
	require.NotNil(t, s.Mode.Replicated)
	assert.Equal(t, uint64(5), *s.Mode.Replicated.Replicas)
	assert.Equal(t, &swarm.Limit{NanoCPUs: 100_000_000, MemoryBytes: 50 << 20}, s.TaskTemplate.Resources.Limits)
	assert.Nil(t, s.TaskTemplate.Resources.Reservations)
	assert.Equal(t, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}, s.TaskTemplate.RestartPolicy)
	assert.Equal(t, &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeIngress}}}, s.EndpointSpec)
	assert.Equal(t, []swarm.NetworkAttachmentConfig{{Target: "getstartedlab_webnet", Aliases: []string{"web"}}}, s.TaskTemplate.Networks)
	assert.Empty(t, st.Warnings, "`version: \"3\"` is accepted without a word")
	assert.Nil(t, st.DependsOn)
}

func TestFullFile(t *testing.T) {
	p, err := Load(context.Background(), []string{"testdata/full.yml"}, ".", []string{"MODE=prod"})
	require.NoError(t, err)
	st, err := Convert(p, "lab")
	require.NoError(t, err)
	assert.Empty(t, st.Warnings)

	// Networks: used ones only, sorted; external ones by their name.
	require.Len(t, st.Networks, 3)
	assert.Equal(t, "lab_back", st.Networks[0].Name)
	assert.True(t, st.Networks[0].Create.Internal)
	assert.Equal(t, "10.20.0.0/24", st.Networks[0].Create.IPAM.Config[0].Subnet.String())
	assert.Equal(t, "lab_front", st.Networks[1].Name)
	assert.True(t, st.Networks[1].Create.Attachable)
	assert.Equal(t, map[string]string{"encrypted": "true"}, st.Networks[1].Create.Options)
	assert.Equal(t, map[string]string{LabelNamespace: "lab", "team": "web"}, st.Networks[1].Create.Labels)
	assert.Equal(t, Network{Name: "host-net", External: true}, st.Networks[2])

	// Secrets and configs from files; external ones are not created.
	require.Len(t, st.Secrets, 1)
	assert.Equal(t, "lab_db_password", st.Secrets[0].Name)
	assert.Equal(t, []byte("s3cret"), st.Secrets[0].Data)
	require.Len(t, st.Configs, 1)
	assert.Equal(t, "lab_app_conf", st.Configs[0].Name)
	assert.Equal(t, []byte("listen 80\n"), st.Configs[0].Data)

	// Order: redis before web, which depends on it being healthy.
	names := []string{}
	for _, s := range st.Services {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"lab_redis", "lab_web", "lab_worker"}, names)
	assert.Equal(t, map[string]map[string]string{"lab_web": {"lab_redis": "service_healthy"}}, st.DependsOn)
	assert.NotNil(t, byName(st, "lab_redis").Mode.Global)

	web := byName(st, "lab_web")
	cs := web.TaskTemplate.ContainerSpec
	assert.Equal(t, "example/web:1", cs.Image, "${WEB_IMAGE:-…} default")
	assert.Equal(t, "example/web:1", web.Labels[LabelImage])
	assert.Equal(t, "web", web.Labels["com.example.role"], "deploy.labels label the service")
	assert.Equal(t, "front", cs.Labels["tier"], "labels label the containers")
	assert.Equal(t, []string{"/bin/app"}, cs.Command)
	assert.Equal(t, []string{"serve", "--port", "80"}, cs.Args)
	assert.Equal(t, []string{"EMPTY", "MODE=prod"}, cs.Env)
	assert.Equal(t, "{{.Task.Name}}", cs.Hostname)
	assert.Equal(t, "1000:1000", cs.User)
	assert.Equal(t, "/srv", cs.Dir)
	assert.Equal(t, "SIGINT", cs.StopSignal)
	assert.Equal(t, 20*time.Second, *cs.StopGracePeriod)
	assert.Equal(t, "10.0.0.2", cs.DNSConfig.Nameservers[0].String())
	assert.Equal(t, []string{"example.internal"}, cs.DNSConfig.Search)
	assert.Equal(t, []string{"ndots:1"}, cs.DNSConfig.Options)
	assert.Equal(t, []string{"10.0.0.5 db.local"}, cs.Hosts)
	assert.True(t, *cs.Init)
	assert.True(t, cs.ReadOnly)
	assert.Equal(t, []string{"NET_ADMIN"}, cs.CapabilityAdd)
	assert.Equal(t, []string{"ALL"}, cs.CapabilityDrop)
	assert.Equal(t, []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 512, Hard: 512}}, cs.Ulimits)
	assert.Equal(t, map[string]string{"net.core.somaxconn": "1024"}, cs.Sysctls)
	assert.Equal(t, &container.HealthConfig{Test: []string{"CMD", "wget", "-q", "-O-", "http://localhost/"},
		Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: 10 * time.Second, Retries: 3}, cs.Healthcheck)
	assert.Equal(t, &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}}, web.TaskTemplate.LogDriver)

	abs, _ := filepath.Abs("testdata/static")
	assert.Equal(t, []mount.Mount{
		{Type: mount.TypeVolume, Source: "lab_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{
			Labels: map[string]string{LabelNamespace: "lab", "backup": "daily"}, DriverConfig: &mount.Driver{Name: "local"}}},
		{Type: mount.TypeBind, Source: abs, Target: "/static", ReadOnly: true, BindOptions: &mount.BindOptions{CreateMountpoint: true}},
		{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
		{Type: mount.TypeVolume, Source: "shared", Target: "/shared"},
		{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1777}},
	}, cs.Mounts)

	assert.Equal(t, []*swarm.SecretReference{
		{SecretName: "lab_db_password", File: &swarm.SecretReferenceFileTarget{Name: "db_password", UID: "0", GID: "0", Mode: 0o444}},
		{SecretName: "prod_api_key", File: &swarm.SecretReferenceFileTarget{Name: "api.key", UID: "1000", GID: "1000", Mode: 0o400}},
	}, cs.Secrets)
	assert.Equal(t, []*swarm.ConfigReference{
		{ConfigName: "lab_app_conf", File: &swarm.ConfigReferenceFileTarget{Name: "/app_conf", UID: "0", GID: "0", Mode: 0o444}},
		{ConfigName: "lab_app_conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/app/app.conf", UID: "0", GID: "0", Mode: 0o444}},
	}, cs.Configs)

	assert.Equal(t, []swarm.NetworkAttachmentConfig{
		{Target: "lab_back", Aliases: []string{"web"}}, {Target: "lab_front", Aliases: []string{"www", "web"}}}, web.TaskTemplate.Networks)
	assert.Equal(t, &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP, Ports: []swarm.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeIngress},
		{Protocol: "udp", TargetPort: 9090, PublishedPort: 9090, PublishMode: swarm.PortConfigPublishModeHost},
		{Protocol: "tcp", TargetPort: 8443, PublishMode: swarm.PortConfigPublishModeIngress},
	}}, web.EndpointSpec)

	assert.Equal(t, uint64(3), *web.Mode.Replicated.Replicas)
	assert.Equal(t, &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: 500_000_000, MemoryBytes: 256 << 20, Pids: 100},
		Reservations: &swarm.Resources{NanoCPUs: 250_000_000, MemoryBytes: 128 << 20},
	}, web.TaskTemplate.Resources)
	delay, window, attempts := 5*time.Second, 2*time.Minute, uint64(3)
	assert.Equal(t, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: &delay, Window: &window, MaxAttempts: &attempts},
		web.TaskTemplate.RestartPolicy)
	assert.Equal(t, &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, Order: swarm.UpdateOrderStartFirst,
		FailureAction: swarm.UpdateFailureActionRollback, Monitor: 30 * time.Second, MaxFailureRatio: 0.25}, web.UpdateConfig)
	assert.Equal(t, &swarm.UpdateConfig{Parallelism: 0, Order: swarm.UpdateOrderStopFirst, FailureAction: swarm.UpdateFailureActionPause}, web.RollbackConfig)
	assert.Equal(t, &swarm.Placement{Constraints: []string{"node.role == worker", "node.labels.zone != east"},
		Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}}, MaxReplicas: 2},
		web.TaskTemplate.Placement)

	worker := byName(st, "lab_worker")
	four := uint64(4)
	assert.Equal(t, &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &four},
		worker.TaskTemplate.RestartPolicy, "restart: on-failure:4 stands in for restart_policy")
	assert.Equal(t, []swarm.NetworkAttachmentConfig{{Target: "host-net", Aliases: []string{"worker"}}}, worker.TaskTemplate.Networks)
}

func TestInterpolationFromEnvironmentAndDotEnv(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("TAG=from-dotenv\nREPLICAS=2\n"), 0o644))
	f := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(f, []byte("version: \"3\"\nservices:\n  web:\n    image: app:${TAG}\n    deploy:\n      replicas: ${REPLICAS}\n"), 0o644))

	p, err := Load(context.Background(), []string{f}, dir, nil)
	require.NoError(t, err)
	st, err := Convert(p, "lab")
	require.NoError(t, err)
	assert.Equal(t, "app:from-dotenv", st.Services[0].TaskTemplate.ContainerSpec.Image)
	assert.Equal(t, uint64(2), *st.Services[0].Mode.Replicated.Replicas)

	p, err = Load(context.Background(), []string{f}, dir, []string{"TAG=from-env"})
	require.NoError(t, err)
	st, err = Convert(p, "lab")
	require.NoError(t, err)
	assert.Equal(t, "app:from-env", st.Services[0].TaskTemplate.ContainerSpec.Image, "the environment wins over .env")
}

func TestProjectDirectoryIsTheFirstFilesDirectory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "app")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "docker-compose.yml"),
		[]byte("services:\n  web:\n    image: x\n    volumes: [./static:/static]\n"), 0o644))
	p, err := Load(context.Background(), []string{"app/docker-compose.yml"}, dir, nil)
	require.NoError(t, err)
	st, err := Convert(p, "lab")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(sub, "static"), st.Services[0].TaskTemplate.ContainerSpec.Mounts[0].Source)
}

func TestOverrideFile(t *testing.T) {
	dir := t.TempDir()
	base, over := filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "prod.yml")
	require.NoError(t, os.WriteFile(base, []byte("services:\n  web:\n    image: x:1\n    deploy:\n      replicas: 1\n"), 0o644))
	require.NoError(t, os.WriteFile(over, []byte("services:\n  web:\n    image: x:2\n    deploy:\n      mode: sometimes\n"), 0o644))
	p, err := Load(context.Background(), []string{base, over}, dir, nil)
	require.NoError(t, err)
	_, err = Convert(p, "lab")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "prod.yml:5: services.web.deploy.mode", "the override that set the key is named")
}

func TestWarnings(t *testing.T) {
	st, err := load(t, `
services:
  web:
    image: app
    build: .
    container_name: web1
    links: [db]
    privileged: true
    x-mine: whatever
    ports:
      - 127.0.0.1:80:80
    networks:
      n:
        ipv4_address: 10.0.0.9
    restart: always
    deploy:
      restart_policy:
        condition: any
  db:
    image: redis
    security_opt: [no-new-privileges]
    shm_size: 64m
networks:
  n:
    enable_ipv6: true
x-anchors: {}
`)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"Ignoring unsupported options for service db: security_opt, shm_size",
		"Ignoring unsupported options for service web: build, container_name, links, networks.n.ipv4_address, ports.[].host_ip, privileged",
		"Ignoring unsupported options: networks.n.enable_ipv6",
		"Ignoring restart for service web: deploy.restart_policy takes precedence",
	}, st.Warnings)
	// What can be converted still is.
	assert.Equal(t, uint32(80), byName(st, "lab_web").EndpointSpec.Ports[0].PublishedPort)
}

func TestBadFilesHaveFileLineAndKey(t *testing.T) {
	for name, tc := range map[string]struct{ yml, want string }{
		"yaml syntax":     {"services:\n  web:\n    image: [unclosed\n", "docker-compose.yml: yaml: line 2"},
		"unknown key":     {"services:\n  web:\n    image: x\n    replicaz: 3\n", "docker-compose.yml:4: services.web.replicaz: unknown key"},
		"wrong type":      {"services:\n  web:\n    image: x\n    deploy:\n      labels: 3\n", "docker-compose.yml:5: services.web.deploy.labels: must be a"},
		"bad int":         {"services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n", "docker-compose.yml:5: services.web.deploy.replicas: invalid value \"many\""},
		"bad memory":      {"services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits:\n          memory: lots\n", "docker-compose.yml:7: services.web.deploy.resources.limits.memory"},
		"bad duration":    {"services:\n  web:\n    image: x\n    healthcheck:\n      interval: soon\n", "docker-compose.yml:5: services.web.healthcheck.interval"},
		"bad port":        {"services:\n  web:\n    image: x\n    ports:\n      - \"80:80:80:80\"\n", "docker-compose.yml:5: services.web.ports"},
		"port range":      {"services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        published: 8000-8010\n", "docker-compose.yml:4: services.web.ports: port 0: published port \"8000-8010\""},
		"no image":        {"services:\n  web:\n    command: [\"true\"]\n", "docker-compose.yml:2: services.web: no image"},
		"cycle":           {"services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", "cycle"},
		"bad mode":        {"services:\n  web:\n    image: x\n    deploy:\n      mode: everywhere\n", "docker-compose.yml:5: services.web.deploy.mode: unknown mode"},
		"bad condition":   {"services:\n  web:\n    image: x\n    deploy:\n      restart_policy:\n        condition: sometimes\n", "docker-compose.yml:6: services.web.deploy.restart_policy.condition"},
		"bad order":       {"services:\n  web:\n    image: x\n    deploy:\n      update_config:\n        order: random\n", "services.web.deploy.update_config.order"},
		"global replicas": {"services:\n  web:\n    image: x\n    deploy:\n      mode: global\n      replicas: 2\n", "docker-compose.yml:6: services.web.deploy.replicas"},
		"undefined net":   {"services:\n  web:\n    image: x\n    networks: [nope]\n", "docker-compose.yml:4: services.web.networks: network \"nope\" is not declared"},
		"missing var":     {"services:\n  web:\n    image: ${IMAGE?set IMAGE}\n", "IMAGE"},
		"missing secret":  {"services:\n  web:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./nope.txt\n", "docker-compose.yml:6: secrets.pw"},
		"bad restart":     {"services:\n  web:\n    image: x\n    restart: sometimes\n", "restart"},
		"empty file":      {"", "empty"},
		"not a mapping":   {"- a\n- b\n", ""},
		"bad endpoint":    {"services:\n  web:\n    image: x\n    deploy:\n      endpoint_mode: magic\n", "endpoint_mode"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.yml)
			require.Error(t, err)
			assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestExplicitNames(t *testing.T) {
	st, err := load(t, `
services:
  web:
    image: x
    networks: [net]
    volumes: [data:/data]
    secrets: [pw]
networks:
  net:
    name: shared-net
volumes:
  data:
    name: my-data
secrets:
  pw:
    name: my-pw
    environment: PW
`, "PW=hunter2")
	require.NoError(t, err)
	assert.Equal(t, "shared-net", st.Networks[0].Name, "an explicit name is used as written")
	assert.False(t, st.Networks[0].External)
	assert.Equal(t, "my-data", st.Services[0].TaskTemplate.ContainerSpec.Mounts[0].Source)
	require.Len(t, st.Secrets, 1)
	assert.Equal(t, "my-pw", st.Secrets[0].Name)
	assert.Equal(t, []byte("hunter2"), st.Secrets[0].Data, "secret from an environment variable")
	assert.Equal(t, "my-pw", st.Services[0].TaskTemplate.ContainerSpec.Secrets[0].SecretName)
}

func TestDefaultNetworkAndAnonymousVolume(t *testing.T) {
	st, err := load(t, "services:\n  a:\n    image: x\n    volumes: [/scratch]\n  b:\n    image: y\n")
	require.NoError(t, err)
	require.Len(t, st.Networks, 1)
	assert.Equal(t, "lab_default", st.Networks[0].Name, "services without networks share <stack>_default")
	for _, s := range st.Services {
		assert.Equal(t, "lab_default", s.TaskTemplate.Networks[0].Target)
	}
	assert.Equal(t, []mount.Mount{{Type: mount.TypeVolume, Target: "/scratch"}}, st.Services[0].TaskTemplate.ContainerSpec.Mounts)
	assert.Nil(t, st.Services[0].EndpointSpec, "no ports, no endpoint spec")
}

func TestRestartKey(t *testing.T) {
	three := uint64(3)
	for in, want := range map[string]*swarm.RestartPolicy{
		"no":             {Condition: swarm.RestartPolicyConditionNone},
		"always":         {Condition: swarm.RestartPolicyConditionAny},
		"unless-stopped": {Condition: swarm.RestartPolicyConditionAny},
		"on-failure":     {Condition: swarm.RestartPolicyConditionOnFailure},
		"on-failure:3":   {Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &three},
	} {
		got, ok := restartFromKey(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"sometimes", "on-failure:x"} {
		_, ok := restartFromKey(bad)
		assert.False(t, ok, bad)
	}
}

func TestTmpfsKey(t *testing.T) {
	m, err := tmpfsMount("/tmp:size=1m,mode=700,noexec")
	require.NoError(t, err)
	assert.Equal(t, mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp",
		TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700, Options: [][]string{{"noexec"}}}}, m)
	_, err = tmpfsMount("/tmp:size=huge")
	assert.Error(t, err)
}

func TestJobModesAndDNSRR(t *testing.T) {
	st, err := load(t, "services:\n  once:\n    image: x\n    deploy:\n      mode: replicated-job\n      replicas: 4\n      endpoint_mode: dnsrr\n")
	require.NoError(t, err)
	s := st.Services[0]
	require.NotNil(t, s.Mode.ReplicatedJob)
	assert.Equal(t, uint64(4), *s.Mode.ReplicatedJob.TotalCompletions)
	assert.Equal(t, swarm.ResolutionModeDNSRR, s.EndpointSpec.Mode)
}

func FuzzLoad(f *testing.F) {
	for _, file := range []string{"testdata/getstarted-part3.yml", "testdata/full.yml"} {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("services:\n  web:\n    image: x\n    ports: [\"80:80/udp\"]\n    deploy:\n      mode: global\n"))
	f.Add([]byte("services:\n  a:\n    image: x\n    depends_on: [a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "docker-compose.yml")
		require.NoError(t, os.WriteFile(file, data, 0o644))
		p, err := Load(context.Background(), []string{file}, dir, nil)
		if err != nil {
			require.True(t, errdefs.IsInvalidArgument(err), "%v", err)
			return
		}
		st, err := Convert(p, "fuzz")
		if err != nil {
			require.True(t, errdefs.IsInvalidArgument(err), "%v", err)
			return
		}
		for _, s := range st.Services {
			require.Equal(t, "fuzz", s.Labels[LabelNamespace])
		}
	})
}

// TestLoadFromStdin: `stack deploy -c -` reads the file from stdin and
// gets the same stack as from the file; bad input still points at the key.
func TestLoadFromStdin(t *testing.T) {
	ctx := context.Background()
	fromFile, err := Load(ctx, []string{"testdata/full.yml"}, ".", []string{"MODE=prod"})
	require.NoError(t, err)
	want, err := Convert(fromFile, "lab")
	require.NoError(t, err)

	data, err := os.ReadFile("testdata/full.yml")
	require.NoError(t, err)
	wd, err := filepath.Abs("testdata")
	require.NoError(t, err)
	p, err := LoadFrom(ctx, []string{"-"}, wd, []string{"MODE=prod"}, bytes.NewReader(data))
	require.NoError(t, err)
	got, err := Convert(p, "lab")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	_, err = LoadFrom(ctx, []string{"-"}, wd, nil, strings.NewReader("services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n"))
	require.Error(t, err)
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
	assert.Contains(t, err.Error(), "-:5: services.web.deploy.replicas")

	_, err = Load(ctx, []string{"-"}, wd, nil)
	assert.True(t, errdefs.IsInvalidArgument(err), "no stdin: %v", err)
	_, err = LoadFrom(ctx, []string{"-", "-"}, wd, nil, strings.NewReader("services: {}\n"))
	assert.True(t, errdefs.IsInvalidArgument(err), "stdin twice: %v", err)
}
