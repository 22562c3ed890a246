package builder

import (
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// apply parses a one-stage Dockerfile and applies its config instructions
// to a fresh state, as a build would after FROM.
func apply(t *testing.T, st *state, dockerfile string) []string {
	t.Helper()
	df, err := Parse("Dockerfile", []byte("FROM scratch\n"+dockerfile))
	require.NoError(t, err)
	var history []string
	for _, c := range df.Stages[0].Commands {
		by, ok, err := st.applyConfig(c.Cmd)
		require.NoError(t, err, c.Source)
		require.True(t, ok, c.Source)
		history = append(history, by)
	}
	return history
}

func newState() *state {
	return &state{argVals: map[string]string{}, escape: '\\', used: map[string]bool{}}
}

func TestEnv(t *testing.T) {
	st := newState()
	h := apply(t, st, "ENV A=1 B=\"two words\"\nENV C $A-x\nENV A=3\n")
	assert.Equal(t, []string{"A=3", "B=two words", "C=1-x"}, st.cfg.Config.Env)
	assert.Equal(t, "/bin/sh -c #(nop)  ENV A=1 B=two words", h[0])
}

func TestLabelMaintainer(t *testing.T) {
	st := newState()
	apply(t, st, "ENV V=1.0\nLABEL version=$V \"com.example.x\"=\"y z\"\nMAINTAINER someone <a@b.c>\n")
	assert.Equal(t, map[string]string{"version": "1.0", "com.example.x": "y z"}, st.cfg.Config.Labels)
	assert.Equal(t, "someone <a@b.c>", st.cfg.Author)
}

func TestCmdEntrypointShell(t *testing.T) {
	st := newState()
	apply(t, st, "CMD echo hi\n")
	assert.Equal(t, []string{"/bin/sh", "-c", "echo hi"}, st.cfg.Config.Cmd)
	apply(t, st, "ENTRYPOINT [\"/bin/app\"]\n")
	assert.Equal(t, []string{"/bin/app"}, st.cfg.Config.Entrypoint)
	assert.Equal(t, []string{"/bin/sh", "-c", "echo hi"}, st.cfg.Config.Cmd, "CMD of the same stage survives ENTRYPOINT")

	st = newState()
	st.cfg.Config.Cmd = []string{"inherited"}
	apply(t, st, "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nENTRYPOINT run me\n")
	assert.Equal(t, []string{"/bin/bash", "-o", "pipefail", "-c", "run me"}, st.cfg.Config.Entrypoint)
	assert.Nil(t, st.cfg.Config.Cmd, "an inherited CMD is dropped by ENTRYPOINT")
	assert.Equal(t, []string{"/bin/bash", "-o", "pipefail", "-c"}, st.cfg.Config.Shell)
}

func TestExposeVolumeUserStopsignal(t *testing.T) {
	st := newState()
	apply(t, st, "ARG P=80\nEXPOSE $P 53/udp 8000-8001\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /x\nUSER app:app\nSTOPSIGNAL SIGQUIT\n")
	assert.Equal(t, map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}, st.cfg.Config.ExposedPorts)
	assert.Equal(t, map[string]struct{}{"/data": {}, "/logs": {}, "/x": {}}, st.cfg.Config.Volumes)
	assert.Equal(t, "app:app", st.cfg.Config.User)
	assert.Equal(t, "SIGQUIT", st.cfg.Config.StopSignal)

	for _, bad := range []string{"EXPOSE abc\n", "EXPOSE 80/xyz\n", "EXPOSE 90-80\n", "STOPSIGNAL SIGNOPE\n"} {
		df, err := Parse("Dockerfile", []byte("FROM scratch\n"+bad))
		require.NoError(t, err)
		_, _, err = newState().applyConfig(df.Stages[0].Commands[0].Cmd)
		assert.Error(t, err, bad)
	}
}

func TestHealthcheck(t *testing.T) {
	st := newState()
	apply(t, st, "HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost || exit 1\n")
	hc := st.cfg.Config.Healthcheck
	require.NotNil(t, hc)
	assert.Equal(t, []string{"CMD-SHELL", "wget -q localhost || exit 1"}, hc.Test)
	assert.Equal(t, 3, hc.Retries)
	apply(t, st, "HEALTHCHECK NONE\n")
	assert.Equal(t, []string{"NONE"}, st.cfg.Config.Healthcheck.Test)
}

// TestHealthcheckOptionsInKey: each option is part of the history text,
// hence of the cache key, and reaches the image config.
func TestHealthcheckOptionsInKey(t *testing.T) {
	base := "HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=2s --retries=3 CMD true\n"
	st := newState()
	h := apply(t, st, base)
	assert.Equal(t, `/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "3s" "10s" "2s" '\x03'}`, h[0])
	keys := map[string]string{cacheKey("sha256:p", h[0], ""): base}
	for _, variant := range []string{
		"HEALTHCHECK --interval=6s --timeout=3s --start-period=10s --start-interval=2s --retries=3 CMD true\n",
		"HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --start-interval=2s --retries=3 CMD true\n",
		"HEALTHCHECK --interval=5s --timeout=3s --start-period=11s --start-interval=2s --retries=3 CMD true\n",
		"HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=3s --retries=3 CMD true\n",
		"HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=2s --retries=4 CMD true\n",
		"HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=2s --retries=3 CMD false\n",
	} {
		st := newState()
		key := cacheKey("sha256:p", apply(t, st, variant)[0], "")
		assert.NotContains(t, keys, key, "%s has the key of %s", variant, keys[key])
		keys[key] = variant
	}

	st = newState()
	apply(t, st, "HEALTHCHECK --interval=6s --timeout=4s --start-period=11s --start-interval=3s --retries=7 CMD true\n")
	hc := st.cfg.Config.Healthcheck
	assert.Equal(t, 6*time.Second, hc.Interval)
	assert.Equal(t, 4*time.Second, hc.Timeout)
	assert.Equal(t, 11*time.Second, hc.StartPeriod)
	assert.Equal(t, 3*time.Second, hc.StartInterval)
	assert.Equal(t, 7, hc.Retries)
}

func TestWorkdir(t *testing.T) {
	st := newState()
	apply(t, st, "WORKDIR /a\nWORKDIR b\nENV D=c\nWORKDIR $D/../d\n")
	assert.Equal(t, "/a/b/d", st.cfg.Config.WorkingDir)
	assert.Equal(t, "/x", workdir("", "x"))
}

func TestArgs(t *testing.T) {
	v := "given"
	st := newState()
	st.buildArgs = map[string]*string{"B": &v, "HTTP_PROXY": &v}
	apply(t, st, "ARG A=default\nARG B=ignored\nARG C\nENV A=env\n")
	assert.Equal(t, map[string]string{"A": "default", "B": "given"}, st.argVals)
	assert.True(t, st.used["B"])
	keyed, proxies := st.runArgs()
	// ENV A shadows ARG A; C has no value; proxies stay out of the key.
	assert.Equal(t, []string{"B=given"}, keyed)
	assert.Equal(t, []string{"HTTP_PROXY=given"}, proxies)
	assert.Empty(t, st.cfg.Config.Env[1:], "ARG values never reach the image config")
}

func TestOnbuild(t *testing.T) {
	st := newState()
	apply(t, st, "ONBUILD RUN echo hi\nONBUILD COPY . /src\n")
	assert.Equal(t, []string{"RUN echo hi", "COPY . /src"}, st.cfg.Config.OnBuild)
	cmd, err := parseTrigger(st.cfg.Config.OnBuild[1])
	require.NoError(t, err)
	assert.IsType(t, &instructions.CopyCommand{}, cmd)
}

func TestRunCommandLine(t *testing.T) {
	df, err := Parse("Dockerfile", []byte("FROM scratch\nRUN echo $HOME\nRUN [\"/bin/true\", \"x\"]\nRUN <<EOT\necho a\nEOT\nRUN cat <<EOT > /f\nbody\nEOT\n"))
	require.NoError(t, err)
	st := newState()
	var got [][]string
	for _, c := range df.Stages[0].Commands {
		got = append(got, st.commandLine(c.Cmd.(*instructions.RunCommand).ShellDependantCmdLine))
	}
	assert.Equal(t, [][]string{
		{"/bin/sh", "-c", "echo $HOME"}, // the shell expands, not the builder
		{"/bin/true", "x"},
		{"/bin/sh", "-c", "echo a\n"},
		{"/bin/sh", "-c", "cat <<EOT > /f\nbody\nEOT"},
	}, got)
}
