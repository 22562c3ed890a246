package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitCode(t *testing.T) {
	assert.Equal(t, 0, ExitCode(nil))
	assert.Equal(t, 1, ExitCode(errors.New("boom")))
	assert.Equal(t, 125, ExitCode(StatusError{StatusCode: 125}))
	assert.Equal(t, 1, ExitCode(StatusError{Status: "x"}))
	assert.Equal(t, 3, ExitCode(fmt.Errorf("wrapped: %w", StatusError{StatusCode: 3})))
	assert.Equal(t, 130, ExitCode(context.Canceled))
}

func TestRunErrExitCode(t *testing.T) {
	for msg, want := range map[string]int{
		`Error response from daemon: exec: "nope": executable file not found in $PATH`: 127,
		"Error response from daemon: open /bin/x: no such file or directory":           127,
		"Error response from daemon: exec /etc/passwd: permission denied":              126,
		"Error response from daemon: conflict":                                         125,
	} {
		assert.Equal(t, want, runErrExitCode(errors.New(msg)), msg)
	}
}

func TestHostFromEnv(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	assert.Equal(t, DefaultHost, hostFromEnv("", get))
	env["DOCKER_HOST"] = "unix:///docker.sock"
	assert.Equal(t, "unix:///docker.sock", hostFromEnv("", get))
	env["WHARF_HOST"] = "unix:///wharf.sock"
	assert.Equal(t, "unix:///wharf.sock", hostFromEnv("", get))
	assert.Equal(t, "tcp://1.2.3.4:2375", hostFromEnv("tcp://1.2.3.4:2375", get))
}

func TestFindDaemon(t *testing.T) {
	dir := t.TempDir()
	self := func() (string, error) { return filepath.Join(dir, "wharf"), nil }
	onPath := func(string) (string, error) { return "/usr/bin/wharfd", nil }
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }

	got, err := findDaemon(self, onPath)
	require.NoError(t, err)
	assert.Equal(t, "/usr/bin/wharfd", got)

	_, err = findDaemon(self, notOnPath)
	assert.True(t, errdefs.IsNotFound(err))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "wharfd"), []byte("#!/bin/sh\n"), 0o755))
	got, err = findDaemon(self, onPath)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "wharfd"), got)
}

func TestWriteEvent(t *testing.T) {
	var buf bytes.Buffer
	ts := time.Date(2026, 1, 2, 15, 4, 5, 6, time.UTC)
	writeEvent(&buf, events.Message{Type: "container", Action: "start", TimeNano: ts.UnixNano(),
		Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "busybox"}}})
	got := buf.String()
	assert.True(t, strings.HasSuffix(got, " container start abc (image=busybox, name=web)\n"), got)
	assert.Contains(t, got, ".000000006")
}

// fakeAPI implements only what a test calls; anything else panics via the nil embed.
type fakeAPI struct {
	APIClient
	list    client.ContainerListOptions
	created []client.ContainerCreateOptions
	pulled  []string
	started []string
	exit    int64
	create  func(n int) error
}

func (f *fakeAPI) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	f.list = o
	return client.ContainerListResult{Items: []container.Summary{{ID: strings.Repeat("a", 64), Names: []string{"/web"}, Image: "busybox", Command: "sh", State: "running", Status: "Up 1 second"}}}, nil
}

func (f *fakeAPI) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	f.created = append(f.created, o)
	if f.create != nil {
		if err := f.create(len(f.created)); err != nil {
			return client.ContainerCreateResult{}, err
		}
	}
	return client.ContainerCreateResult{ID: strings.Repeat("b", 64)}, nil
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

type pullResp struct {
	nopCloser
	client.ImagePullResponse
}

func (p pullResp) Read(b []byte) (int, error) { return p.nopCloser.Read(b) }
func (p pullResp) Close() error               { return nil }

func (f *fakeAPI) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	f.pulled = append(f.pulled, ref)
	return pullResp{nopCloser: nopCloser{strings.NewReader(`{"status":"Pulled"}` + "\n")}}, nil
}

func (f *fakeAPI) ContainerStart(_ context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	f.started = append(f.started, id)
	return client.ContainerStartResult{}, nil
}

func (f *fakeAPI) ContainerWait(context.Context, string, client.ContainerWaitOptions) client.ContainerWaitResult {
	r := make(chan container.WaitResponse, 1)
	r <- container.WaitResponse{StatusCode: f.exit}
	return client.ContainerWaitResult{Result: r, Error: make(chan error)}
}

func runCLI(t *testing.T, api APIClient, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CLI{Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errOut},
		newClient: func(globalOptions) (APIClient, error) { return api, nil }}
	// The tree main builds: only the command asked for (see NewRootCommandFor).
	root := newRootTree(c, commandName(args))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// The client builds only the command it runs: the table it picks from must
// name every command as the command itself does.
func TestTopLevelTable(t *testing.T) {
	c := &CLI{}
	seen := map[string]bool{}
	for _, tc := range topLevel {
		assert.Equal(t, tc.name, tc.build(c).Name())
		assert.False(t, seen[tc.name], "duplicate %s", tc.name)
		seen[tc.name] = true
	}
}

func TestCommandName(t *testing.T) {
	for args, want := range map[string]string{
		"run --rm busybox echo hi":            "run",
		"-H unix:///x.sock ps -a":             "ps",
		"--host=unix:///x.sock images":        "images",
		"--log-level debug -D container ls":   "container",
		"--tlsverify --tlscacert ca.pem info": "info",
		"":                                    "",
		"--help":                              "",
		"nosuchcommand ps":                    "",
		"-- run":                              "",
	} {
		assert.Equal(t, want, commandName(strings.Fields(args)), args)
	}
}

// An unknown command gets docker's answer; the help lists every command.
func TestUnknownCommandAndHelp(t *testing.T) {
	_, _, err := runCLI(t, &fakeAPI{}, "imagse")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown command: wharf imagse")
	out, _, err := runCLI(t, &fakeAPI{}, "--help")
	require.NoError(t, err)
	for _, tc := range topLevel {
		if tc.name != "daemon" && tc.name != "registry" {
			assert.Contains(t, out, "\n  "+tc.name+" ", "help lists %s", tc.name)
		}
	}
}

func TestPsCommand(t *testing.T) {
	api := &fakeAPI{}
	out, _, err := runCLI(t, api, "ps", "-a", "--filter", "status=running", "-q")
	require.NoError(t, err)
	assert.Equal(t, "aaaaaaaaaaaa\n", out)
	assert.True(t, api.list.All)
	assert.Equal(t, client.Filters{"status": {"running": true}}, api.list.Filters)

	out, _, err = runCLI(t, api, "container", "ls", "--format", "{{.Names}} {{.Status}}")
	require.NoError(t, err)
	assert.Equal(t, "web Up 1 second\n", out)
}

func TestRunDetachedPullsMissingImage(t *testing.T) {
	api := &fakeAPI{create: func(n int) error {
		if n == 1 {
			return fmt.Errorf("no such image: %w", errdefs.ErrNotFound)
		}
		return nil
	}}
	out, errOut, err := runCLI(t, api, "run", "-d", "--name", "web", "-e", "A=1", "-p", "8080:80", "busybox", "sleep", "1")
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("b", 64)+"\n", out)
	assert.Contains(t, errOut, "Unable to find image 'busybox:latest' locally")
	assert.Equal(t, []string{"busybox"}, api.pulled)
	require.Len(t, api.created, 2)
	cfg := api.created[1]
	assert.Equal(t, "web", cfg.Name)
	assert.Equal(t, []string{"sleep", "1"}, cfg.Config.Cmd)
	assert.Equal(t, []string{"A=1"}, cfg.Config.Env)
	assert.False(t, cfg.Config.AttachStdout)
	assert.Len(t, cfg.HostConfig.PortBindings, 1)
	assert.Equal(t, []string{strings.Repeat("b", 64)}, api.started)
}

func TestRunErrors(t *testing.T) {
	api := &fakeAPI{create: func(int) error { return errors.New("Error response from daemon: conflict") }}
	_, _, err := runCLI(t, api, "run", "-d", "--pull", "never", "busybox")
	require.Error(t, err)
	assert.Equal(t, 125, ExitCode(err))
	assert.Equal(t, "wharf: Error response from daemon: conflict\nSee 'wharf run --help'.", err.Error())

	_, _, err = runCLI(t, api, "run", "--restart", "always", "--rm", "busybox")
	assert.Equal(t, 125, ExitCode(err))

	_, _, err = runCLI(t, api, "run", "--bogus", "busybox")
	assert.Equal(t, 125, ExitCode(err))
}

func TestHelpLooksLikeDocker(t *testing.T) {
	out, _, err := runCLI(t, &fakeAPI{}, "run", "--help")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "\nUsage:  wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate and run a new container from an image\n\nOptions:\n"), out)
	assert.Contains(t, out, "  -h, --hostname string")
	assert.Contains(t, out, "      --help ")

	out, _, err = runCLI(t, &fakeAPI{}, "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "Management Commands:\n  builder     Manage builds\n  config      Manage Swarm configs\n  container   Manage containers")
	assert.Contains(t, out, "Run 'wharf COMMAND --help' for more information on a command.")
}
