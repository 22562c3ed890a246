package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func load(t *testing.T, yml string) (*Stack, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(yml), 0o644))
	p, err := Load(context.Background(), []string{f}, dir, nil)
	if err != nil {
		return nil, err
	}
	return Convert(p, "getstartedlab")
}

func TestTutorialPart3(t *testing.T) {
	p, err := Load(context.Background(), []string{"testdata/getstarted-part3.yml"}, "testdata", nil)
	require.NoError(t, err)
	st, err := Convert(p, "getstartedlab")
	require.NoError(t, err)

	require.Len(t, st.Networks, 1)
	assert.Equal(t, "getstartedlab_webnet", st.Networks[0].Name)
	assert.Equal(t, "overlay", st.Networks[0].Create.Driver)
	assert.Equal(t, "getstartedlab", st.Networks[0].Create.Labels[LabelNamespace])

	require.Len(t, st.Services, 1)
	s := st.Services[0]
	assert.Equal(t, "getstartedlab_web", s.Name)
	assert.Equal(t, "getstartedlab", s.Labels[LabelNamespace])
	assert.Equal(t, "username/repo:tag", s.TaskTemplate.ContainerSpec.Image)
	require.NotNil(t, s.Mode.Replicated)
	assert.Equal(t, uint64(5), *s.Mode.Replicated.Replicas)
	assert.Equal(t, int64(100_000_000), s.TaskTemplate.Resources.Limits.NanoCPUs)
	assert.Equal(t, int64(50<<20), s.TaskTemplate.Resources.Limits.MemoryBytes)
	assert.Equal(t, swarm.RestartPolicyConditionOnFailure, s.TaskTemplate.RestartPolicy.Condition)
	require.Len(t, s.EndpointSpec.Ports, 1)
	assert.Equal(t, swarm.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeIngress}, s.EndpointSpec.Ports[0])
	assert.Equal(t, []swarm.NetworkAttachmentConfig{{Target: "getstartedlab_webnet", Aliases: []string{"web"}}}, s.TaskTemplate.Networks)
	assert.Empty(t, st.Warnings)
}

func TestDependsOnOrderAndWarnings(t *testing.T) {
	st, err := load(t, `
services:
  web:
    image: app
    build: .
    restart: always
    depends_on:
      redis:
        condition: service_healthy
  redis:
    image: redis
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
    deploy:
      mode: global
      placement:
        constraints: [node.role == manager]
`)
	require.NoError(t, err)
	require.Len(t, st.Services, 2)
	assert.Equal(t, "getstartedlab_redis", st.Services[0].Name, "dependencies first")
	assert.Equal(t, map[string]map[string]string{"getstartedlab_web": {"getstartedlab_redis": "service_healthy"}}, st.DependsOn)
	assert.NotNil(t, st.Services[0].Mode.Global)
	assert.Equal(t, []string{"node.role == manager"}, st.Services[0].TaskTemplate.Placement.Constraints)
	assert.Equal(t, []string{"CMD", "redis-cli", "ping"}, st.Services[0].TaskTemplate.ContainerSpec.Healthcheck.Test)
	assert.Contains(t, st.Warnings, "Ignoring unsupported options: build")
	assert.Contains(t, st.Warnings, "Ignoring unsupported options: restart")
	assert.Equal(t, "getstartedlab_default", st.Networks[0].Name, "services without networks share <stack>_default")
}

func TestBadFiles(t *testing.T) {
	for name, yml := range map[string]string{
		"syntax":        "services:\n  web:\n    image: [unclosed\n",
		"unknown key":   "services:\n  web:\n    image: x\n    replicaz: 3\n",
		"no image":      "services:\n  web:\n    command: true\n",
		"cycle":         "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
		"bad mode":      "services:\n  web:\n    image: x\n    deploy:\n      mode: everywhere\n",
		"undefined net": "services:\n  web:\n    image: x\n    networks: [nope]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, yml)
			require.Error(t, err)
			assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
		})
	}
}

func FuzzLoad(f *testing.F) {
	b, _ := os.ReadFile("testdata/getstarted-part3.yml")
	f.Add(b)
	f.Add([]byte("services:\n  web:\n    image: x\n    ports: [\"80:80/udp\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Skip()
		}
		p, err := Load(context.Background(), []string{file}, dir, nil)
		if err != nil {
			return
		}
		_, _ = Convert(p, "fuzz")
	})
}
