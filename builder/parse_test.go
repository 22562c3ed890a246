package builder

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStages(t *testing.T) {
	df, err := Parse("Dockerfile", []byte("ARG V=1\nFROM busybox:$V AS Build\nRUN true\nFROM --platform=linux/amd64 scratch\nCOPY --from=build /a /b\n"))
	require.NoError(t, err)
	require.Len(t, df.Stages, 2)
	assert.Len(t, df.MetaArgs, 1)
	assert.Equal(t, "build", df.Stages[0].Name, "stage names are case-insensitive")
	assert.Equal(t, "busybox:$V", df.Stages[0].BaseName)
	assert.Equal(t, "linux/amd64", df.Stages[1].Platform)
	assert.Equal(t, 5, df.Stages[1].Commands[0].Line)
	i, ok := df.stageByName("BUILD", 1)
	assert.True(t, ok)
	assert.Equal(t, 0, i)
	_, ok = df.stageByName("build", 0)
	assert.False(t, ok, "a stage cannot refer to itself or later ones")
	i, ok = df.stageByName("0", 1)
	assert.True(t, ok)
	assert.Equal(t, 0, i)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"FROM busybox\nRUN true\nFOO bar\n", "Dockerfile:3: unknown instruction: FOO"},
		{"RUN true\n", "Dockerfile:1: no build stage"},
		{"", "Dockerfile: file with no instructions"},
		{"# only a comment\n", "Dockerfile:"},
		{"FROM a AS x\nFROM b AS x\n", "Dockerfile:2: duplicate stage name"},
		{"FROM busybox\nHEALTHCHECK --interval=bad CMD true\n", "Dockerfile:2:"},
		{"FROM busybox\nONBUILD FROM x\n", "Dockerfile:2:"},
		{"FROM busybox\nCOPY onlyone\n", "Dockerfile:2:"},
		// Flags only BuildKit implements are refused, not ignored.
		{"FROM busybox\nRUN --mount=type=cache,target=/c true\n", "Dockerfile:2: the --mount option requires BuildKit"},
		{"FROM busybox\nRUN --network=none true\n", "Dockerfile:2: the --network option requires BuildKit"},
		{"FROM busybox\nRUN --security=insecure true\n", "Dockerfile:2: the --security option requires BuildKit"},
		{"FROM busybox\nADD --checksum=sha256:00 http://x/y /z\n", "Dockerfile:2: the --checksum option requires BuildKit"},
		{"FROM busybox\nADD --keep-git-dir=true https://x/y.git /z\n", "Dockerfile:2: the --keep-git-dir option requires BuildKit"},
		{"FROM busybox\nADD --unpack=false a.tar /z\n", "Dockerfile:2: the --unpack option requires BuildKit"},
		{"FROM busybox\nADD --link a /z\n", "Dockerfile:2: the --link option requires BuildKit"},
		{"FROM busybox\nADD --exclude=*.tmp a /z\n", "Dockerfile:2: the --exclude option requires BuildKit"},
		{"FROM busybox\nCOPY --link a /z\n", "Dockerfile:2: the --link option requires BuildKit"},
		{"FROM busybox\nCOPY --parents a/b /z/\n", "Dockerfile:2: the --parents option requires BuildKit"},
		{"FROM busybox\nCOPY --exclude=*.tmp a /z\n", "Dockerfile:2: the --exclude option requires BuildKit"},
	} {
		_, err := Parse("Dockerfile", []byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
		assert.True(t, errdefs.IsInvalidArgument(err), tc.in)
	}
}

func TestParseClassicFlags(t *testing.T) {
	// --link=false asks for nothing BuildKit-only; --chown/--chmod/--from are ours.
	_, err := Parse("Dockerfile", []byte("FROM busybox\nCOPY --link=false --chown=1 --chmod=600 a /z\nADD --chmod=644 b /y\n"))
	require.NoError(t, err)
	_, err = parseTrigger("RUN --mount=type=cache,target=/c true")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the --mount option requires BuildKit")
	assert.True(t, errdefs.IsInvalidArgument(err))
}

func TestExpandPorts(t *testing.T) {
	p, err := expandPorts("7000-7002/UDP")
	require.NoError(t, err)
	assert.Equal(t, []string{"7000/udp", "7001/udp", "7002/udp"}, p)
	for _, bad := range []string{"", "0", "65536", "a-b", "80/", "1-"} {
		_, err := expandPorts(bad)
		assert.Error(t, err, bad)
	}
}

// FuzzDockerfile feeds arbitrary text through the parser and the
// instruction conversion and applies every config instruction: nothing
// may panic, and errors are InvalidArgument.
func FuzzDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM busybox\nRUN echo hi\n",
		"ARG B=busybox\nFROM $B AS x\nENV A=1 B=$A\nLABEL a=b\nEXPOSE 80/tcp 1-3\nWORKDIR /a\nUSER 1:2\nVOLUME /v\nSTOPSIGNAL 9\n",
		"FROM scratch\nCOPY --from=x --chown=1:2 --chmod=644 a b /c/\nADD http://x/y /z\nHEALTHCHECK CMD true\nONBUILD RUN x\nSHELL [\"a\"]\nCMD [\"x\"]\nENTRYPOINT y\nMAINTAINER m\n",
		"# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN <<EOT\necho `\nEOT\n",
		"FROM a\nRUN [\"broken\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		df, err := Parse("Dockerfile", []byte(in))
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error is not InvalidArgument: %v", err)
			}
			return
		}
		for _, s := range df.Stages {
			st := &state{argVals: map[string]string{}, escape: df.Escape, used: map[string]bool{}}
			for _, c := range s.Commands {
				if _, _, err := st.applyConfig(c.Cmd); err != nil && !errdefs.IsInvalidArgument(err) {
					t.Fatalf("%q: error is not InvalidArgument: %v", c.Source, err)
				}
			}
		}
	})
}
