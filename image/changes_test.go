package image

import (
	"encoding/json"
	"testing"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplyChanges(t *testing.T) {
	var cfg dockerspec.DockerOCIImageConfig
	require.NoError(t, ApplyChanges(&cfg, []string{
		`CMD ["/bin/sh", "-c", "echo hi"]`,
		`entrypoint /docker-entrypoint.sh --flag`,
		`ENV PATH=/usr/bin:/bin GREETING="hello world" ESC=a\ b`,
		`ENV LEGACY some value here`,
		`ENV PATH=/sbin`,
		`WORKDIR /srv`,
		`WORKDIR app`,
		`EXPOSE 80 443/tcp 53/UDP 8000-8002`,
		`USER 1000:1000`,
		`LABEL a=b "with space"="v 1"`,
		`VOLUME ["/data", "/logs"]`,
		`VOLUME /cache /tmp/x`,
		`STOPSIGNAL SIGQUIT`,
		"ONBUILD RUN make\n# comment\n\nCMD [\"run\"]",
	}))
	assert.Equal(t, []string{"/bin/sh", "-c", "/docker-entrypoint.sh --flag"}, cfg.Entrypoint)
	assert.Equal(t, []string{"run"}, cfg.Cmd, "CMD after ENTRYPOINT")
	assert.Equal(t, []string{"PATH=/sbin", "GREETING=hello world", "ESC=a b", "LEGACY=some value here"}, cfg.Env)
	assert.Equal(t, "/srv/app", cfg.WorkingDir)
	assert.Equal(t, map[string]struct{}{"80/tcp": {}, "443/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}, cfg.ExposedPorts)
	assert.Equal(t, "1000:1000", cfg.User)
	assert.Equal(t, map[string]string{"a": "b", "with space": "v 1"}, cfg.Labels)
	assert.Len(t, cfg.Volumes, 4)
	assert.Equal(t, "SIGQUIT", cfg.StopSignal)
	assert.Equal(t, []string{"RUN make"}, cfg.OnBuild)

	var c2 dockerspec.DockerOCIImageConfig
	c2.Shell = []string{"/bin/bash", "-lc"}
	require.NoError(t, ApplyChanges(&c2, []string{"CMD echo $HOME", "ENTRYPOINT []"}))
	assert.Equal(t, []string{}, c2.Entrypoint)

	c3 := dockerspec.DockerOCIImageConfig{}
	require.NoError(t, ApplyChanges(&c3, []string{"CMD echo $HOME"}))
	assert.Equal(t, []string{"/bin/sh", "-c", "echo $HOME"}, c3.Cmd)
}

func TestApplyChangesErrors(t *testing.T) {
	for _, bad := range []string{
		"RUN echo", "FROM x", "COPY a b", "CMD", "ENV", "ENV =x", "ENV a=1 b", "ENV onlykey",
		"EXPOSE", "EXPOSE 0", "EXPOSE 70000", "EXPOSE 80/icmp", "EXPOSE 90-80", "USER", "USER a b",
		"STOPSIGNAL NOPE", "STOPSIGNAL", "WORKDIR", "VOLUME", `VOLUME [""]`, "ONBUILD ONBUILD x", `LABEL "unterminated`,
	} {
		var cfg dockerspec.DockerOCIImageConfig
		err := ApplyChanges(&cfg, []string{bad})
		require.Error(t, err, bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q: %v", bad, err)
	}
	var cfg dockerspec.DockerOCIImageConfig
	err := ApplyChanges(&cfg, []string{"RUN x"})
	assert.Equal(t, "RUN is not a valid change command", err.Error())
}

func FuzzImportChanges(f *testing.F) {
	for _, s := range []string{`CMD ["a"]`, "ENV a=b c='d e'", "EXPOSE 1-3/udp", "LABEL x y", "VOLUME /a", "STOPSIGNAL 9", "WORKDIR ../x", "ENV a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var cfg dockerspec.DockerOCIImageConfig
		err := ApplyChanges(&cfg, []string{s})
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: error class: %v", s, err)
			}
			return
		}
		if _, err := json.Marshal(cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.WorkingDir != "" && cfg.WorkingDir[0] != '/' {
			t.Fatalf("relative workdir %q", cfg.WorkingDir)
		}
	})
}
