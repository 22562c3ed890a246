package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/config"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// registryFake answers login (alice/secret) and records pulls and pushes.
type registryFake struct {
	fakeAPI
	logins   []client.RegistryLoginOptions
	pushes   []client.ImagePushOptions
	pushRefs []string
	pulls    []client.ImagePullOptions
}

func (f *registryFake) RegistryLogin(_ context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	f.logins = append(f.logins, o)
	if o.Username != "alice" || o.Password != "secret" {
		return client.RegistryLoginResult{}, errdefs.ErrUnauthenticated.WithMessage("login attempt to http://" + o.ServerAddress + "/v2/ failed with status: 401 Unauthorized")
	}
	return client.RegistryLoginResult{Auth: registry.AuthResponse{Status: "Login Succeeded"}}, nil
}

type pushResp struct {
	nopCloser
	client.ImagePushResponse
}

func (p pushResp) Read(b []byte) (int, error) { return p.nopCloser.Read(b) }
func (p pushResp) Close() error               { return nil }

func (f *registryFake) ImagePush(_ context.Context, ref string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	f.pushes, f.pushRefs = append(f.pushes, o), append(f.pushRefs, ref)
	return pushResp{nopCloser: nopCloser{strings.NewReader(`{"status":"The push refers to repository [x]"}` + "\n")}}, nil
}

func (f *registryFake) ImagePull(ctx context.Context, ref string, o client.ImagePullOptions) (client.ImagePullResponse, error) {
	f.pulls = append(f.pulls, o)
	return f.fakeAPI.ImagePull(ctx, ref, o)
}

// useConfigDir points the docker config at a fresh dir for one test.
func useConfigDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := config.Dir()
	config.SetDir(dir)
	t.Cleanup(func() { config.SetDir(old) })
	return dir
}

func runCLIWithInput(t *testing.T, api APIClient, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CLI{Streams: Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut},
		newClient: func(globalOptions) (APIClient, error) { return api, nil }}
	root := newRootCommand(c)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func readAuths(t *testing.T, dir string) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var cf struct {
		Auths map[string]map[string]string `json:"auths"`
	}
	require.NoError(t, json.Unmarshal(data, &cf))
	return cf.Auths
}

func TestLoginLogout(t *testing.T) {
	dir := useConfigDir(t)
	api := &registryFake{}

	_, _, err := runCLIWithInput(t, api, "nope\n", "login", "-u", "alice", "--password-stdin", "127.0.0.1:5000")
	require.Error(t, err)
	assert.True(t, errdefs.IsUnauthorized(err))
	assert.Empty(t, readAuths(t, dir)["127.0.0.1:5000"], "a refused login stored credentials")

	out, _, err := runCLIWithInput(t, api, "secret\n", "login", "-u", "alice", "--password-stdin", "http://127.0.0.1:5000/v2/")
	require.NoError(t, err)
	assert.Contains(t, out, "Login Succeeded")
	assert.Equal(t, "127.0.0.1:5000", api.logins[1].ServerAddress)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("alice:secret")), readAuths(t, dir)["127.0.0.1:5000"]["auth"])

	// Stored credentials are tried when none are given.
	out, _, err = runCLIWithInput(t, api, "", "login", "127.0.0.1:5000")
	require.NoError(t, err)
	assert.Contains(t, out, "Authenticating with existing credentials...")

	// Pull and push send them as X-Registry-Auth.
	_, _, err = runCLI(t, api, "push", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	ac, err := authconfig.Decode(api.pushes[0].RegistryAuth)
	require.NoError(t, err)
	assert.Equal(t, registry.AuthConfig{Username: "alice", Password: "secret", ServerAddress: "127.0.0.1:5000"}, *ac)
	_, _, err = runCLI(t, api, "pull", "127.0.0.1:5000/alice/app")
	require.NoError(t, err)
	assert.Equal(t, api.pushes[0].RegistryAuth, api.pulls[0].RegistryAuth)
	_, _, err = runCLI(t, api, "pull", "busybox")
	require.NoError(t, err)
	assert.Empty(t, api.pulls[1].RegistryAuth, "credentials sent to another registry")

	out, _, err = runCLI(t, api, "logout", "127.0.0.1:5000")
	require.NoError(t, err)
	assert.Equal(t, "Removing login credentials for 127.0.0.1:5000\n", out)
	assert.NotContains(t, readAuths(t, dir), "127.0.0.1:5000")
	out, _, err = runCLI(t, api, "logout", "127.0.0.1:5000")
	require.NoError(t, err)
	assert.Equal(t, "Not logged in to 127.0.0.1:5000\n", out)
}

func TestLoginFlagErrors(t *testing.T) {
	useConfigDir(t)
	api := &registryFake{}
	_, _, err := runCLIWithInput(t, api, "secret", "login", "--password-stdin", "r:5000")
	assert.ErrorContains(t, err, "Must provide --username with --password-stdin")
	_, errOut, err := runCLIWithInput(t, api, "secret", "login", "-u", "alice", "-p", "x", "--password-stdin", "r:5000")
	assert.ErrorContains(t, err, "mutually exclusive")
	assert.Contains(t, errOut, "Using --password via the CLI is insecure")
	_, _, err = runCLIWithInput(t, api, "", "login", "-u", "alice", "r:5000")
	assert.ErrorContains(t, err, "non TTY device")
	assert.Empty(t, api.logins)
}

func TestPushPullArguments(t *testing.T) {
	useConfigDir(t)
	api := &registryFake{}
	out, _, err := runCLI(t, api, "push", "127.0.0.1:5000/a/b")
	require.NoError(t, err)
	assert.Contains(t, out, "Using default tag: latest")
	assert.Equal(t, "127.0.0.1:5000/a/b:latest", api.pushRefs[0])
	_, _, err = runCLI(t, api, "push", "-a", "127.0.0.1:5000/a/b")
	require.NoError(t, err)
	assert.True(t, api.pushes[1].All)
	assert.Equal(t, "127.0.0.1:5000/a/b", api.pushRefs[1])
	_, _, err = runCLI(t, api, "push", "-a", "127.0.0.1:5000/a/b:1")
	assert.ErrorContains(t, err, "tag can't be used with --all-tags/-a")
	_, _, err = runCLI(t, api, "pull", "-a", "busybox:1")
	assert.ErrorContains(t, err, "tag can't be used with --all-tags/-a")
	out, _, err = runCLI(t, api, "image", "pull", "-q", "busybox")
	require.NoError(t, err)
	assert.Equal(t, "docker.io/library/busybox:latest\n", out)
	out, _, err = runCLI(t, api, "image", "push", "-q", "127.0.0.1:5000/a/b:2")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000/a/b:2\n", out)
}

func TestServerKey(t *testing.T) {
	for in, want := range map[string]string{
		"":                            defaultRegistryServer,
		"docker.io":                   defaultRegistryServer,
		"https://index.docker.io/v1/": defaultRegistryServer,
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"https://reg.example/v2/":     "reg.example",
	} {
		assert.Equal(t, want, serverKey(in), in)
	}
}

func FuzzServerKey(f *testing.F) {
	for _, s := range []string{"", "docker.io", "http://127.0.0.1:5000/v2/", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := serverKey(s)
		if k != defaultRegistryServer && strings.Contains(k, "/") {
			t.Fatalf("serverKey(%q) = %q", s, k)
		}
	})
}

// credentialHelper puts docker-credential-NAME on PATH: a shell script
// keeping one credential in DIR/store.json (as the docker credential
// helpers protocol has it) and logging each call to DIR/log. A helper
// named "broken" fails every call.
func credentialHelper(t *testing.T, name string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	script := `#!/bin/sh
d='` + dir + `'
echo "$1" >> "$d/log"
case "$1" in
store) cat > "$d/store.json" ;;
get)
	read server
	if [ -f "$d/store.json" ]; then cat "$d/store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) read server; echo "$server" > "$d/erased"; rm -f "$d/store.json" ;;
list) echo '{}' ;;
esac
`
	if name == "broken" {
		script = "#!/bin/sh\necho \"helper exploded\"\nexit 1\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func TestCredentialHelper(t *testing.T) {
	cfgDir := useConfigDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"credsStore":"wharftest"}`), 0o600))
	helper := credentialHelper(t, "wharftest")
	api := &registryFake{}

	// No credentials yet: anonymous, and no error.
	_, _, err := runCLI(t, api, "pull", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	assert.Empty(t, api.pulls[0].RegistryAuth)

	_, _, err = runCLIWithInput(t, api, "secret\n", "login", "-u", "alice", "--password-stdin", "127.0.0.1:5000")
	require.NoError(t, err)
	stored, err := os.ReadFile(filepath.Join(helper, "store.json"))
	require.NoError(t, err, "login stored through the helper")
	var cred struct{ ServerURL, Username, Secret string }
	require.NoError(t, json.Unmarshal(stored, &cred))
	assert.Equal(t, "127.0.0.1:5000", cred.ServerURL)
	assert.Equal(t, "alice", cred.Username)
	assert.Equal(t, "secret", cred.Secret)
	assert.Empty(t, readAuths(t, cfgDir)["127.0.0.1:5000"]["auth"], "no password in config.json")

	_, _, err = runCLI(t, api, "push", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	ac, err := authconfig.Decode(api.pushes[0].RegistryAuth)
	require.NoError(t, err)
	assert.Equal(t, registry.AuthConfig{Username: "alice", Password: "secret", ServerAddress: "127.0.0.1:5000"}, *ac,
		"push sends the helper's credentials")
	_, _, err = runCLI(t, api, "pull", "127.0.0.1:5000/alice/app:1")
	require.NoError(t, err)
	assert.Equal(t, api.pushes[0].RegistryAuth, api.pulls[1].RegistryAuth)

	out, _, err := runCLI(t, api, "logout", "127.0.0.1:5000")
	require.NoError(t, err)
	assert.Contains(t, out, "Removing login credentials for 127.0.0.1:5000")
	erased, err := os.ReadFile(filepath.Join(helper, "erased"))
	require.NoError(t, err, "logout erased through the helper")
	assert.Equal(t, "127.0.0.1:5000\n", string(erased))
	_, err = os.Stat(filepath.Join(helper, "store.json"))
	assert.True(t, os.IsNotExist(err))
}

func TestFailingCredentialHelper(t *testing.T) {
	cfgDir := useConfigDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"credsStore":"broken"}`), 0o600))
	credentialHelper(t, "broken")
	api := &registryFake{}
	_, _, err := runCLI(t, api, "pull", "127.0.0.1:5000/alice/app:1")
	assert.ErrorContains(t, err, "helper exploded", "pull must fail, not go anonymous")
	_, _, err = runCLI(t, api, "push", "127.0.0.1:5000/alice/app:1")
	assert.ErrorContains(t, err, "helper exploded")
	// run's implicit pull, after the daemon says the image is missing.
	api.create = func(int) error { return errdefs.ErrNotFound.WithMessage("No such image: 127.0.0.1:5000/alice/app:1") }
	_, _, err = runCLI(t, api, "run", "127.0.0.1:5000/alice/app:1")
	assert.ErrorContains(t, err, "helper exploded")
	assert.Empty(t, api.pulls)
	assert.Empty(t, api.pushes)
}

func TestPullPlatformPassedThrough(t *testing.T) {
	useConfigDir(t)
	api := &registryFake{}
	_, _, err := runCLI(t, api, "pull", "--platform", "Linux/x86_64", "busybox")
	require.NoError(t, err)
	require.Len(t, api.pulls, 1)
	assert.Equal(t, []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}, api.pulls[0].Platforms)
	_, _, err = runCLI(t, api, "pull", "--platform", "linux/arm", "busybox")
	require.NoError(t, err)
	assert.Equal(t, []ocispec.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}}, api.pulls[1].Platforms)
	_, _, err = runCLI(t, api, "pull", "--platform", "linux/amd64/v2/x", "busybox")
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
	assert.Len(t, api.pulls, 2, "a bad platform is refused before the daemon is asked")
}
