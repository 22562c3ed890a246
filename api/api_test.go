package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

// do sends a raw request to h and returns the recorded response.
func do(h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorBody(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "body: %s", rec.Body.String())
	var e common.ErrorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	return e.Message
}

func TestPingAndNegotiation(t *testing.T) {
	_, sock, cli := setup(t)
	ctx := context.Background()

	ping, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	require.NoError(t, err)
	assert.Equal(t, APIVersion, ping.APIVersion)
	assert.Equal(t, "linux", ping.OSType)
	assert.Equal(t, APIVersion, cli.ClientVersion())

	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	require.NoError(t, err)
	assert.Equal(t, APIVersion, v.APIVersion)
	assert.Equal(t, MinAPIVersion, v.MinAPIVersion)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, "http://d/_ping", nil)
		resp, err := rawClient(sock).Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		if method == http.MethodGet {
			assert.Equal(t, "OK", string(body))
		}
		for k, want := range map[string]string{
			"Api-Version": APIVersion, "Docker-Experimental": "false", "Ostype": "linux",
			"Server": "Wharf/9.9.9-test (linux)", "Builder-Version": "1", "Swarm": "inactive",
		} {
			assert.Equal(t, want, resp.Header.Get(k), "%s %s", method, k)
		}
		assert.Contains(t, resp.Header.Get("Cache-Control"), "no-cache")
	}
}

func TestVersionBounds(t *testing.T) {
	h := New(newFake())
	rec := do(h, "GET", "/v1.99/version", nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "client version 1.99 is too new. Maximum supported API version is 1.52", errorBody(t, rec))
	assert.Equal(t, APIVersion, rec.Header().Get("Api-Version"))

	rec = do(h, "GET", "/v1.12/version", nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, errorBody(t, rec), "client version 1.12 is too old. Minimum supported API version is 1.24")

	for _, p := range []string{"/v1.24/version", "/v1.52/version", "/version", "/v1.41/_ping"} {
		assert.Equal(t, http.StatusOK, do(h, "GET", p, nil).Code, p)
	}
}

func TestNotFoundAndNotImplemented(t *testing.T) {
	h := New(newFake())
	for _, c := range []struct{ method, path string }{
		{"GET", "/nope"}, {"GET", "/v1.52/nope"}, {"PUT", "/containers/c1/start"}, {"GET", "/vfoo/version"},
	} {
		rec := do(h, c.method, c.path, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, c.path)
		assert.Equal(t, "page not found", errorBody(t, rec), c.path)
	}
	for _, p := range []string{"/build", "/swarm/init", "/services/create", "/auth"} {
		rec := do(h, "POST", p, nil)
		assert.Equal(t, http.StatusNotImplemented, rec.Code, p)
		assert.Contains(t, errorBody(t, rec), "not implemented", p)
	}
}

func TestEventsRejectsUnknownFilter(t *testing.T) {
	f := newFake()
	rec := do(New(f), "GET", `/events?filters={"nope":{"x":true}}`, nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, errorBody(t, rec), "invalid filter 'nope'")
}

func TestNetworkRoutes(t *testing.T) {
	f := newFake()
	h := New(f)
	rec := do(h, "GET", "/v1.52/networks", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "POST", "/networks/create", strings.NewReader(`{"Name":"appnet"}`))
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Contains(t, rec.Body.String(), `"Id":"net-appnet"`)
	for _, body := range []string{`{}`, `{"Name":`, `[]`} {
		rec = do(h, "POST", "/networks/create", strings.NewReader(body))
		assert.Equal(t, http.StatusBadRequest, rec.Code, body)
	}
	rec = do(h, "GET", "/networks/nope", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	rec = do(h, "POST", "/networks/bridge/connect", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code, "connect without a container")
	rec = do(h, "POST", "/networks/bridge/connect", strings.NewReader(`{"Container":"c1"}`))
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "POST", "/networks/bridge/disconnect", strings.NewReader(`{"Container":"c1","Force":true}`))
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "DELETE", "/networks/b1", nil)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	rec = do(h, "POST", "/networks/prune", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
}

func TestErrorMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{errdefs.ErrNotFound, 404},
		{errdefs.ErrInvalidArgument, 400},
		{errdefs.ErrConflict, 409},
		{errdefs.ErrAlreadyExists, 409},
		{errdefs.ErrUnauthenticated, 401},
		{errdefs.ErrPermissionDenied, 403},
		{errdefs.ErrUnavailable, 503},
		{errdefs.ErrNotImplemented, 501},
		{errdefs.ErrFailedPrecondition, 400},
		{errdefs.ErrInternal, 500},
	} {
		f := newFake()
		f.errFor["ContainerStart"] = fmt.Errorf("container c1 is busy: %w", c.err)
		rec := do(New(f), "POST", "/v1.52/containers/c1/start", nil)
		assert.Equal(t, c.code, rec.Code, c.err.Error())
		assert.Equal(t, "container c1 is busy", errorBody(t, rec))
	}
	f := newFake()
	f.errFor["ContainerStart"] = fmt.Errorf("container c1: %w", io.ErrUnexpectedEOF)
	rec := do(New(f), "POST", "/containers/c1/start", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "container c1: unexpected EOF", errorBody(t, rec))

	f.errFor["ContainerStart"] = fmt.Errorf("already started: %w", errdefs.ErrNotModified)
	rec = do(New(f), "POST", "/containers/c1/start", nil)
	assert.Equal(t, http.StatusNotModified, rec.Code)

	// Through the real client, the class survives the round trip.
	_, _, cli := setup(t)
	_, err := cli.ContainerInspect(context.Background(), "missing", client.ContainerInspectOptions{})
	require.Error(t, err)
	assert.True(t, errdefs.IsNotFound(err), err)
	assert.Contains(t, err.Error(), "No such container: missing")
}

func TestPanicIsRecovered(t *testing.T) {
	f := newFake()
	f.panicOn = "Info"
	rec := do(New(f), "GET", "/info", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "internal server error", errorBody(t, rec))
}

func TestBadInputIs400WithoutBackendCall(t *testing.T) {
	cases := []struct {
		method, path, body, call string
	}{
		{"POST", "/containers/create", `{"Image":`, "ContainerCreate"},
		{"POST", "/containers/create", ``, "ContainerCreate"},
		{"POST", "/containers/create", `{"Image":"x"} trailing`, "ContainerCreate"},
		{"POST", "/containers/create", `{"Image":5}`, "ContainerCreate"},
		{"GET", "/containers/json?limit=abc", "", "ContainerList"},
		{"GET", "/containers/json?filters=%7Bbad", "", "ContainerList"},
		{"GET", `/containers/json?filters={"status":"running"}`, "", "ContainerList"},
		{"POST", "/containers/c1/stop?t=soon", "", "ContainerStop"},
		{"POST", "/containers/c1/wait?condition=whenever", "", "ContainerWait"},
		{"POST", "/containers/c1/resize?h=x&w=1", "", "ContainerResize"},
		{"POST", "/containers/c1/resize?h=-1&w=1", "", "ContainerResize"},
		{"POST", "/containers/c1/rename", "", "ContainerRename"},
		{"GET", "/containers/c1/logs?stdout=1&since=yesterday", "", "ContainerLogs"},
		{"GET", "/containers/c1/logs", "", "ContainerLogs"},
		{"GET", "/containers/c1/logs?stdout=1&tail=many", "", "ContainerLogs"},
		{"GET", "/containers/c1/stats?stream=1&one-shot=1", "", "ContainerStats"},
		{"POST", "/containers/c1/exec", `{"Cmd":`, "ExecCreate"},
		{"POST", "/containers/c1/exec", `{}`, "ExecCreate"},
		{"POST", "/exec/e1/start", `nope`, "ExecStart"},
		{"GET", "/events?since=abc", "", "Events"},
		{"GET", "/events?since=20&until=10", "", "Events"},
		{"POST", "/images/busybox:local/tag?repo=UPPER", "", "ImageTag"},
		{"POST", "/images/busybox:local/tag?repo=ok&tag=bad%20tag", "", "ImageTag"},
		{"POST", "/images/busybox:local/tag", "", "ImageTag"},
		{"POST", "/images/create?fromImage=Bad%20Name", "", "ImagePull"},
		{"POST", "/images/create", "", "ImageImport"},
		{"POST", "/volumes/create", `[1,2]`, "VolumeCreate"},
		{"POST", "/containers/create", `{"Image":"x","Env":["` + strings.Repeat("A", maxJSONBody) + `"]}`, "ContainerCreate"},
	}
	for _, c := range cases {
		f := newFake()
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		rec := do(New(f), c.method, "/v1.52"+c.path, body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s %s: %s", c.method, c.path, rec.Body.String())
		assert.NotEmpty(t, errorBody(t, rec))
		assert.False(t, f.called(c.call), "%s %s reached the backend", c.method, c.path)
	}
}

func TestFiltersBothForms(t *testing.T) {
	f := newFake()
	var got engine.Filters
	f.list = func(o engine.ListOptions) { got = o.Filters }
	h := New(f)

	rec := do(h, "GET", `/containers/json?filters={"status":{"running":true,"exited":true},"label":{"a=b":true}}`, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, engine.Filters{"status": {"exited", "running"}, "label": {"a=b"}}, got)
	assert.Equal(t, "[]\n", rec.Body.String())

	rec = do(h, "GET", `/containers/json?filters={"status":["running","running"]}`, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, engine.Filters{"status": {"running"}}, got)

	// And as the real client encodes them.
	_, sock, _ := setup(t)
	_ = sock
	f2 := newFake()
	f2.list = func(o engine.ListOptions) { got = o.Filters }
	cli := newClient(t, serveUnix(t, New(f2)))
	_, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("name", "web").Add("label", "x=1", "y"),
	})
	require.NoError(t, err)
	assert.Equal(t, engine.Filters{"name": {"web"}, "label": {"x=1", "y"}}, got)
}

func TestCreateMissingImageMessage(t *testing.T) {
	_, _, cli := setup(t)
	ctx := context.Background()
	_, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox"}})
	require.Error(t, err)
	assert.True(t, errdefs.IsNotFound(err))
	assert.Contains(t, err.Error(), "No such image: busybox:latest")

	resp, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "web", Config: &container.Config{Image: "busybox:local"}})
	require.NoError(t, err)
	assert.Equal(t, "new-web", resp.ID)
	assert.NotNil(t, resp.Warnings)
}

func TestImagesWithSlashes(t *testing.T) {
	f, _, cli := setup(t)
	ctx := context.Background()

	img, err := cli.ImageInspect(ctx, "127.0.0.1:5000/a/b:1")
	require.NoError(t, err)
	assert.Equal(t, "sha256:bbbb", img.ID)

	hist, err := cli.ImageHistory(ctx, "127.0.0.1:5000/a/b:1")
	require.NoError(t, err)
	assert.Len(t, hist.Items, 1)

	_, err = cli.ImageTag(ctx, client.ImageTagOptions{Source: "127.0.0.1:5000/a/b:1", Target: "127.0.0.1:5002/john/trace:2"})
	require.NoError(t, err)
	_, err = f.image("127.0.0.1:5002/john/trace:2")
	require.NoError(t, err)

	rm, err := cli.ImageRemove(ctx, "127.0.0.1:5002/john/t:1", client.ImageRemoveOptions{})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5002/john/t:1", rm.Items[0].Untagged)

	_, err = cli.ImageInspect(ctx, "127.0.0.1:5000/a/missing:1")
	assert.True(t, errdefs.IsNotFound(err), err)

	// The raw path docker uses, with and without a version prefix.
	h := New(f)
	rec := do(h, "GET", "/v1.41/images/127.0.0.1:5000/a/b:1/json", nil)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = do(h, "GET", "/images/127.0.0.1:5000/a/b:1/get", nil)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/x-tar", rec.Header().Get("Content-Type"))
	assert.Equal(t, "tar:[127.0.0.1:5000/a/b:1]", rec.Body.String())
	rec = do(h, "GET", "/images/get?names=busybox:local&names=127.0.0.1:5000/a/b:1", nil)
	assert.Equal(t, "tar:[busybox:local 127.0.0.1:5000/a/b:1]", rec.Body.String())
	rec = do(h, "GET", "/images/get?names=nope", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	rec = do(h, "POST", "/images/127.0.0.1:5002/john/t/push?tag=1", nil)
	assert.Equal(t, http.StatusNotImplemented, rec.Code)
	rec = do(h, "GET", "/images/busybox:local/unknown", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestImageLoadImportPull(t *testing.T) {
	f, _, cli := setup(t)
	ctx := context.Background()

	res, err := cli.ImageLoad(ctx, strings.NewReader("tarball"))
	require.NoError(t, err)
	out, _ := io.ReadAll(res)
	res.Close()
	assert.Equal(t, "{\"stream\":\"Loaded image: busybox:local\\n\"}\r\n", string(out))

	var gotRepo, gotTag, gotMsg string
	var gotChanges []string
	var gotBody []byte
	f.imported = func(repo, tag string, changes []string, message string, body []byte) {
		gotRepo, gotTag, gotChanges, gotMsg, gotBody = repo, tag, changes, message, body
	}
	imp, err := cli.ImageImport(ctx, client.ImageImportSource{Source: strings.NewReader("rootfs"), SourceName: "-"},
		"example/img", client.ImageImportOptions{Tag: "v1", Message: "hi", Changes: []string{"CMD [\"sh\"]", "ENV A=1"}})
	require.NoError(t, err)
	out, _ = io.ReadAll(imp)
	imp.Close()
	assert.Equal(t, "{\"status\":\"sha256:1234\"}\r\n", string(out))
	assert.Equal(t, "example/img", gotRepo)
	assert.Equal(t, "v1", gotTag)
	assert.Equal(t, "hi", gotMsg)
	assert.Equal(t, []string{"CMD [\"sh\"]", "ENV A=1"}, gotChanges)
	assert.Equal(t, "rootfs", string(gotBody))

	// A pull failing before any output is a proper HTTP error…
	_, err = cli.ImagePull(ctx, "busybox:latest", client.ImagePullOptions{})
	require.Error(t, err)
	assert.True(t, errdefs.IsNotImplemented(err), err)

	// …and one failing midway is reported in the stream.
	var gotRef string
	f.pull = func(ctx context.Context, ref string, out io.Writer) error {
		gotRef = ref
		fmt.Fprint(out, "{\"status\":\"Pulling from library/busybox\"}\r\n")
		return fmt.Errorf("registry went away: %w", errdefs.ErrUnavailable)
	}
	pull, err := cli.ImagePull(ctx, "127.0.0.1:5002/john/trace:1", client.ImagePullOptions{})
	require.NoError(t, err)
	err = pull.Wait(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "registry went away")
	assert.Equal(t, "127.0.0.1:5002/john/trace:1", gotRef)
}

func TestAttachMultiplexedWithStdin(t *testing.T) {
	f, _, cli := setup(t)
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		if s.Stdout == nil || s.Stderr == nil || s.Stdin == nil || !s.Stream {
			return fmt.Errorf("streams missing: %w", errdefs.ErrInvalidArgument)
		}
		fmt.Fprint(s.Stdout, "out1\n")
		fmt.Fprint(s.Stderr, "err1\n")
		// Echo stdin until the client half-closes it.
		if _, err := io.Copy(s.Stdout, s.Stdin); err != nil {
			return err
		}
		fmt.Fprint(s.Stderr, "stdin closed\n")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.ContainerAttach(ctx, "c1", client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	require.NoError(t, err)
	defer res.Close()
	mt, ok := res.MediaType()
	require.True(t, ok)
	assert.Equal(t, types.MediaTypeMultiplexedStream, mt)

	_, err = res.Conn.Write([]byte("hello from stdin\n"))
	require.NoError(t, err)
	require.NoError(t, res.CloseWrite())

	var stdout, stderr strings.Builder
	_, err = stdcopy.StdCopy(&stdout, &stderr, res.Reader)
	require.NoError(t, err)
	assert.Equal(t, "out1\nhello from stdin\n", stdout.String())
	assert.Equal(t, "err1\nstdin closed\n", stderr.String())
}

func TestAttachTTYIsRaw(t *testing.T) {
	f, _, cli := setup(t)
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		fmt.Fprint(s.Stdout, "raw bytes\r\n")
		return nil
	}
	res, err := cli.ContainerAttach(context.Background(), "tty", client.ContainerAttachOptions{Stream: true, Stdout: true})
	require.NoError(t, err)
	defer res.Close()
	mt, _ := res.MediaType()
	assert.Equal(t, types.MediaTypeRawStream, mt)
	out, err := io.ReadAll(res.Reader)
	require.NoError(t, err)
	assert.Equal(t, "raw bytes\r\n", string(out))
}

func TestAttachErrors(t *testing.T) {
	f, _, cli := setup(t)
	// Before the hijack: an ordinary JSON error.
	_, err := cli.ContainerAttach(context.Background(), "missing", client.ContainerAttachOptions{Stream: true, Stdout: true})
	require.Error(t, err)

	// After the hijack: a Systemerr frame, which StdCopy returns as an error.
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		fmt.Fprint(s.Stdout, "partial")
		return fmt.Errorf("shim went away: %w", errdefs.ErrUnavailable)
	}
	res, err := cli.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	require.NoError(t, err)
	defer res.Close()
	var stdout strings.Builder
	_, err = stdcopy.StdCopy(&stdout, io.Discard, res.Reader)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shim went away")
	assert.Equal(t, "partial", stdout.String())
}

func TestAttachClientGoneCancelsBackend(t *testing.T) {
	f, _, cli := setup(t)
	ended := make(chan error, 1)
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
	res, err := cli.ContainerAttach(context.Background(), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	require.NoError(t, err)
	res.Close()
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("backend attach was not cancelled when the client closed the connection")
	}
}

func TestAttachWithoutUpgradeHeader(t *testing.T) {
	f, sock, _ := setup(t)
	f.attach = func(ctx context.Context, id string, s engine.AttachStreams) error {
		fmt.Fprint(s.Stdout, "x")
		return nil
	}
	conn, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1.52/containers/c1/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, types.MediaTypeMultiplexedStream, resp.Header.Get("Content-Type"))
	assert.Equal(t, APIVersion, resp.Header.Get("Api-Version"))
	rest, _ := io.ReadAll(br)
	assert.Equal(t, []byte{1, 0, 0, 0, 0, 0, 0, 1, 'x'}, rest)
}

func TestExecStartHijackAndDetach(t *testing.T) {
	f, _, cli := setup(t)
	ctx := context.Background()
	created, err := cli.ExecCreate(ctx, "c1", client.ExecCreateOptions{Cmd: []string{"hostname"}, AttachStdout: true, AttachStderr: true})
	require.NoError(t, err)
	assert.Equal(t, "e1", created.ID)

	f.execRun = func(ctx context.Context, id string, s engine.AttachStreams) error {
		if s.Stdout == nil {
			return nil // detached
		}
		fmt.Fprint(s.Stdout, "host1\n")
		fmt.Fprint(s.Stderr, "warn\n")
		return nil
	}
	res, err := cli.ExecAttach(ctx, "e1", client.ExecAttachOptions{})
	require.NoError(t, err)
	defer res.Close()
	var stdout, stderr strings.Builder
	_, err = stdcopy.StdCopy(&stdout, &stderr, res.Reader)
	require.NoError(t, err)
	assert.Equal(t, "host1\n", stdout.String())
	assert.Equal(t, "warn\n", stderr.String())

	_, err = cli.ExecStart(ctx, "e1", client.ExecStartOptions{Detach: true})
	require.NoError(t, err)
	_, err = cli.ExecStart(ctx, "nope", client.ExecStartOptions{Detach: true})
	assert.True(t, errdefs.IsNotFound(err), err)

	x, err := cli.ExecInspect(ctx, "e1", client.ExecInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "c1", x.ContainerID)
}

func TestWaitSendsHeaderBeforeResult(t *testing.T) {
	f, sock, cli := setup(t)
	result := make(chan container.WaitResponse, 1)
	f.wait = func(ctx context.Context, id string, c container.WaitCondition) (<-chan container.WaitResponse, error) {
		if c != container.WaitConditionNextExit {
			return nil, fmt.Errorf("condition %q: %w", c, errdefs.ErrInvalidArgument)
		}
		return result, nil
	}
	conn, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1.52/containers/c1/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	// The header arrives while the container is still running.
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	result <- container.WaitResponse{StatusCode: 3}
	var wr container.WaitResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&wr))
	assert.Equal(t, int64(3), wr.StatusCode)

	// The real client sees the same.
	result <- container.WaitResponse{StatusCode: 7}
	w := cli.ContainerWait(context.Background(), "c1", client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	select {
	case r := <-w.Result:
		assert.Equal(t, int64(7), r.StatusCode)
	case err := <-w.Error:
		t.Fatal(err)
	}
}

func TestLogsFraming(t *testing.T) {
	f, _, cli := setup(t)
	var gotOpts engine.LogsOptions
	f.logs = func(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error {
		gotOpts = o
		fmt.Fprint(stdout, "line 1\n")
		fmt.Fprint(stderr, "oops\n")
		fmt.Fprint(stdout, "line 2\n")
		return nil
	}
	ctx := context.Background()
	rc, err := cli.ContainerLogs(ctx, "c1", client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "all", Since: "1700000000.5"})
	require.NoError(t, err)
	var stdout, stderr strings.Builder
	_, err = stdcopy.StdCopy(&stdout, &stderr, rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, "line 1\nline 2\n", stdout.String())
	assert.Equal(t, "oops\n", stderr.String())
	assert.Equal(t, -1, gotOpts.Tail)
	assert.Equal(t, time.Unix(1700000000, 500000000), gotOpts.Since)

	rec := do(New(f), "GET", "/v1.52/containers/c1/logs?stdout=1&tail=5", nil)
	assert.Equal(t, types.MediaTypeMultiplexedStream, rec.Header().Get("Content-Type"))
	assert.Equal(t, 5, gotOpts.Tail)
	rec = do(New(f), "GET", "/v1.41/containers/tty/logs?stdout=1", nil)
	assert.Equal(t, types.MediaTypeRawStream, rec.Header().Get("Content-Type"))
	assert.Equal(t, "line 1\noops\nline 2\n", rec.Body.String())
	rec = do(New(f), "GET", "/containers/missing/logs?stdout=1", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestEventsStreaming(t *testing.T) {
	f, _, cli := setup(t)
	live := make(chan events.Message)
	var got engine.EventsOptions
	unsubscribed := make(chan struct{})
	f.events = func(ctx context.Context, o engine.EventsOptions) ([]events.Message, <-chan events.Message, func()) {
		got = o
		return []events.Message{{Type: events.ContainerEventType, Action: events.ActionCreate, Actor: events.Actor{ID: "c1"}}},
			live, func() { close(unsubscribed) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := cli.Events(ctx, client.EventsListOptions{Since: "1700000000", Filters: make(client.Filters).Add("type", "container")})

	next := func() events.Message {
		select {
		case m := <-res.Messages:
			return m
		case err := <-res.Err:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return events.Message{}
	}
	assert.Equal(t, events.ActionCreate, next().Action)
	live <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "c1"}}
	assert.Equal(t, events.ActionStart, next().Action)
	assert.Equal(t, engine.Filters{"type": {"container"}}, got.Filters)
	assert.Equal(t, time.Unix(1700000000, 0), got.Since)

	cancel()
	select {
	case <-unsubscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not released after the client left")
	}
}

func TestEventsUntilInThePast(t *testing.T) {
	f := newFake()
	f.events = func(ctx context.Context, o engine.EventsOptions) ([]events.Message, <-chan events.Message, func()) {
		return []events.Message{{Action: events.ActionDie}}, nil, func() {}
	}
	rec := do(New(f), "GET", "/events?since=1&until=2", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	var m events.Message
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	assert.Equal(t, events.ActionDie, m.Action)
}

func TestSimpleRoutes(t *testing.T) {
	h := New(newFake())
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/containers/c1/start", 204},
		{"POST", "/containers/c1/stop?t=5&signal=SIGINT", 204},
		{"POST", "/containers/c1/stop?t=-1", 204},
		{"POST", "/containers/c1/restart?t=1", 204},
		{"POST", "/containers/c1/kill?signal=HUP", 204},
		{"POST", "/containers/c1/pause", 204},
		{"POST", "/containers/c1/unpause", 204},
		{"POST", "/containers/c1/rename?name=new", 204},
		{"DELETE", "/containers/c1?force=1&v=1", 204},
		{"DELETE", "/containers/missing", 404},
		{"POST", "/containers/c1/resize?h=24&w=80", 200},
		{"GET", "/containers/c1/top?ps_args=aux", 200},
		{"GET", "/containers/c1/stats?stream=false", 200},
		{"GET", "/containers/c1/json?size=1", 200},
		{"POST", "/containers/prune", 200},
		{"POST", "/exec/e1/resize?h=1&w=2", 200},
		{"GET", "/images/json?all=1", 200},
		{"POST", "/images/prune", 200},
		{"GET", "/volumes", 200},
		{"POST", "/volumes/create", 201},
		{"GET", "/volumes/v1", 200},
		{"GET", "/volumes/v2", 404},
		{"DELETE", "/volumes/v1?force=1", 204},
		{"POST", "/volumes/prune", 200},
		{"GET", "/info", 200},
		{"GET", "/system/df", 200},
	} {
		rec := do(h, c.method, "/v1.52"+c.path, nil)
		assert.Equal(t, c.code, rec.Code, "%s %s: %s", c.method, c.path, rec.Body.String())
	}
	rec := do(h, "GET", "/volumes", nil)
	assert.JSONEq(t, `{"Volumes":[],"Warnings":[]}`, rec.Body.String())
}
