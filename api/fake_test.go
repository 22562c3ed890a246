package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

// fakeBackend records calls and answers from small tables; hooks override
// single methods for a test. Unknown names are errdefs.ErrNotFound.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string

	containers map[string]*container.InspectResponse
	images     map[string]image.InspectResponse
	execs      map[string]*container.ExecInspectResponse
	networks   map[string]*network.Inspect // by ID

	created      *container.CreateRequest // last ContainerCreate body
	netCreated   []network.CreateRequest
	netFilters   engine.Filters
	netConnected *network.EndpointSettings

	errFor map[string]error // method name → error to return

	attach   func(ctx context.Context, id string, s engine.AttachStreams) error
	execRun  func(ctx context.Context, id string, s engine.AttachStreams) error
	logs     func(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error
	wait     func(ctx context.Context, id string, c container.WaitCondition) (<-chan container.WaitResponse, error)
	events   func(ctx context.Context, o engine.EventsOptions) ([]events.Message, <-chan events.Message, func())
	pull     func(ctx context.Context, ref string, out io.Writer) error
	load     func(ctx context.Context, src io.Reader, progress func(string)) error
	imported func(repo, tag string, changes []string, message string, body []byte)
	list     func(o engine.ListOptions)
	panicOn  string
}

func newFake() *fakeBackend {
	return &fakeBackend{
		containers: map[string]*container.InspectResponse{
			"c1":  {ID: "c1", Name: "/c1", Config: &container.Config{Image: "busybox"}},
			"tty": {ID: "tty", Name: "/tty", Config: &container.Config{Image: "busybox", Tty: true}},
		},
		images: map[string]image.InspectResponse{
			"busybox:local":           {ID: "sha256:aaaa"},
			"127.0.0.1:5000/a/b:1":    {ID: "sha256:bbbb"},
			"127.0.0.1:5002/john/t:1": {ID: "sha256:cccc"},
		},
		execs: map[string]*container.ExecInspectResponse{
			"e1": {ID: "e1", ContainerID: "c1", OpenStdin: true, OpenStdout: true, OpenStderr: true, ProcessConfig: &container.ExecProcessConfig{}},
		},
		networks: map[string]*network.Inspect{
			"b1": {Network: network.Network{Name: "bridge", ID: "b1", Driver: "bridge", Scope: "local"},
				Containers: map[string]network.EndpointResource{}},
		},
		errFor: map[string]error{},
	}
}

func (f *fakeBackend) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if f.panicOn == call {
		panic("fake backend asked to panic in " + call)
	}
	return f.errFor[call]
}

func (f *fakeBackend) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

func (f *fakeBackend) container(id string) (*container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
}

func (f *fakeBackend) ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error) {
	if err := f.record("ContainerCreate"); err != nil {
		return container.CreateResponse{}, err
	}
	f.mu.Lock()
	f.created = req
	f.mu.Unlock()
	if _, ok := f.images[req.Image]; !ok {
		return container.CreateResponse{}, fmt.Errorf("image %s: %w", req.Image, errdefs.ErrNotFound)
	}
	return container.CreateResponse{ID: "new-" + name}, nil
}

func (f *fakeBackend) ContainerList(ctx context.Context, opts engine.ListOptions) ([]container.Summary, error) {
	if err := f.record("ContainerList"); err != nil {
		return nil, err
	}
	if f.list != nil {
		f.list(opts)
	}
	return nil, nil
}

func (f *fakeBackend) ContainerInspect(ctx context.Context, id string, size bool) (*container.InspectResponse, error) {
	if err := f.record("ContainerInspect"); err != nil {
		return nil, err
	}
	return f.container(id)
}

func (f *fakeBackend) simple(call, id string) error {
	if err := f.record(call); err != nil {
		return err
	}
	_, err := f.container(id)
	return err
}

func (f *fakeBackend) ContainerStart(ctx context.Context, id string) error {
	return f.simple("ContainerStart", id)
}

func (f *fakeBackend) ContainerStop(ctx context.Context, id, signal string, timeout *int) error {
	return f.simple("ContainerStop", id)
}

func (f *fakeBackend) ContainerRestart(ctx context.Context, id, signal string, timeout *int) error {
	return f.simple("ContainerRestart", id)
}

func (f *fakeBackend) ContainerKill(ctx context.Context, id, signal string) error {
	return f.simple("ContainerKill", id)
}

func (f *fakeBackend) ContainerRemove(ctx context.Context, id string, force, v bool) error {
	return f.simple("ContainerRemove", id)
}

func (f *fakeBackend) ContainerRename(ctx context.Context, id, newName string) error {
	return f.simple("ContainerRename", id)
}

func (f *fakeBackend) ContainerPause(ctx context.Context, id string) error {
	return f.simple("ContainerPause", id)
}

func (f *fakeBackend) ContainerUnpause(ctx context.Context, id string) error {
	return f.simple("ContainerUnpause", id)
}

func (f *fakeBackend) ContainerWait(ctx context.Context, id string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	if err := f.simple("ContainerWait", id); err != nil {
		return nil, err
	}
	if f.wait != nil {
		return f.wait(ctx, id, cond)
	}
	ch := make(chan container.WaitResponse, 1)
	ch <- container.WaitResponse{StatusCode: 0}
	return ch, nil
}

func (f *fakeBackend) ContainerAttach(ctx context.Context, id string, s engine.AttachStreams) error {
	if err := f.simple("ContainerAttach", id); err != nil {
		return err
	}
	// Like the engine: answer the upgrade once the attachment is registered.
	if s.Attached != nil {
		if err := s.Attached(); err != nil {
			return err
		}
	}
	if f.attach != nil {
		return f.attach(ctx, id, s)
	}
	return nil
}

func (f *fakeBackend) ContainerResize(ctx context.Context, id string, h, w uint) error {
	return f.simple("ContainerResize", id)
}

func (f *fakeBackend) ContainerLogs(ctx context.Context, id string, o engine.LogsOptions, stdout, stderr io.Writer) error {
	if err := f.simple("ContainerLogs", id); err != nil {
		return err
	}
	if f.logs != nil {
		return f.logs(ctx, id, o, stdout, stderr)
	}
	return nil
}

func (f *fakeBackend) ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error) {
	return container.TopResponse{Titles: []string{"PID"}}, f.simple("ContainerTop", id)
}

func (f *fakeBackend) ContainerStats(ctx context.Context, id string, stream bool, emit func(*container.StatsResponse) error) error {
	if err := f.simple("ContainerStats", id); err != nil {
		return err
	}
	return emit(&container.StatsResponse{ID: id})
}

func (f *fakeBackend) ContainerPrune(ctx context.Context, filters engine.Filters) (container.PruneReport, error) {
	return container.PruneReport{}, f.record("ContainerPrune")
}

func (f *fakeBackend) ExecCreate(ctx context.Context, id string, req *container.ExecCreateRequest) (string, error) {
	if err := f.simple("ExecCreate", id); err != nil {
		return "", err
	}
	return "e1", nil
}

func (f *fakeBackend) exec(id string) (*container.ExecInspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x, ok := f.execs[id]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
}

func (f *fakeBackend) ExecStart(ctx context.Context, id string, detach bool, s engine.AttachStreams) error {
	if err := f.record("ExecStart"); err != nil {
		return err
	}
	if _, err := f.exec(id); err != nil {
		return err
	}
	if f.execRun != nil {
		return f.execRun(ctx, id, s)
	}
	return nil
}

func (f *fakeBackend) ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error) {
	if err := f.record("ExecInspect"); err != nil {
		return nil, err
	}
	return f.exec(id)
}

func (f *fakeBackend) ExecResize(ctx context.Context, id string, h, w uint) error {
	if err := f.record("ExecResize"); err != nil {
		return err
	}
	_, err := f.exec(id)
	return err
}

func (f *fakeBackend) image(ref string) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	return image.InspectResponse{}, fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeBackend) ImageList(ctx context.Context, all bool, filters engine.Filters) ([]image.Summary, error) {
	return nil, f.record("ImageList")
}

func (f *fakeBackend) ImageInspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	if err := f.record("ImageInspect"); err != nil {
		return image.InspectResponse{}, err
	}
	return f.image(ref)
}

func (f *fakeBackend) ImageDelete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteResponse, error) {
	if err := f.record("ImageDelete"); err != nil {
		return nil, err
	}
	if _, err := f.image(ref); err != nil {
		return nil, err
	}
	return []image.DeleteResponse{{Untagged: ref}}, nil
}

func (f *fakeBackend) ImageTag(ctx context.Context, src, repo, tag string) error {
	if err := f.record("ImageTag"); err != nil {
		return err
	}
	if _, err := f.image(src); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[repo+":"+tag] = f.images[src]
	return nil
}

func (f *fakeBackend) ImageHistory(ctx context.Context, ref string) ([]image.HistoryResponseItem, error) {
	if err := f.record("ImageHistory"); err != nil {
		return nil, err
	}
	if _, err := f.image(ref); err != nil {
		return nil, err
	}
	return []image.HistoryResponseItem{{ID: "sha256:x", CreatedBy: "test"}}, nil
}

func (f *fakeBackend) ImagePrune(ctx context.Context, filters engine.Filters) (image.PruneReport, error) {
	return image.PruneReport{}, f.record("ImagePrune")
}

func (f *fakeBackend) ImageImport(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string) (string, error) {
	if err := f.record("ImageImport"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(src)
	if err != nil {
		return "", err
	}
	if f.imported != nil {
		f.imported(repo, tag, changes, message, b)
	}
	return "sha256:1234", nil
}

func (f *fakeBackend) ImageLoad(ctx context.Context, src io.Reader, progress func(line string)) error {
	if err := f.record("ImageLoad"); err != nil {
		return err
	}
	if f.load != nil {
		return f.load(ctx, src, progress)
	}
	_, _ = io.Copy(io.Discard, src)
	progress("Loaded image: busybox:local")
	return nil
}

func (f *fakeBackend) ImageSave(ctx context.Context, refs []string, w io.Writer) error {
	if err := f.record("ImageSave"); err != nil {
		return err
	}
	for _, r := range refs {
		if _, err := f.image(r); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "tar:"+fmt.Sprint(refs))
	return err
}

func (f *fakeBackend) ImagePull(ctx context.Context, ref, platform, auth string, out io.Writer) error {
	if err := f.record("ImagePull"); err != nil {
		return err
	}
	if f.pull != nil {
		return f.pull(ctx, ref, out)
	}
	return fmt.Errorf("pulling is not implemented: %w", errdefs.ErrNotImplemented)
}

// network finds a network by ID, name or unique ID prefix, as the engine does.
func (f *fakeBackend) network(idOrName string) (*network.Inspect, error) {
	var found *network.Inspect
	for _, n := range f.networks {
		if n.ID == idOrName || n.Name == idOrName {
			return n, nil
		}
		if strings.HasPrefix(n.ID, idOrName) {
			if found != nil {
				return nil, fmt.Errorf("network %s is ambiguous: %w", idOrName, errdefs.ErrInvalidArgument)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s not found: %w", idOrName, errdefs.ErrNotFound)
	}
	return found, nil
}

func (f *fakeBackend) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if err := f.record("NetworkCreate"); err != nil {
		return network.CreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netCreated = append(f.netCreated, req)
	if _, err := f.network(req.Name); err == nil {
		return network.CreateResponse{}, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
	}
	driver := req.Driver
	if driver == "" {
		driver = "bridge"
	}
	n := &network.Inspect{
		Network: network.Network{Name: req.Name, ID: "net-" + req.Name, Driver: driver, Scope: "local",
			Internal: req.Internal, Labels: req.Labels, Options: req.Options},
		Containers: map[string]network.EndpointResource{},
	}
	if req.IPAM != nil {
		n.IPAM = *req.IPAM
	}
	f.networks[n.ID] = n
	return network.CreateResponse{ID: n.ID}, nil
}

func (f *fakeBackend) NetworkList(ctx context.Context, filters engine.Filters) ([]network.Summary, error) {
	if err := f.record("NetworkList"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netFilters = filters
	var out []network.Summary
	for _, n := range f.networks {
		if names, ok := filters["name"]; ok && !slices.Contains(names, n.Name) {
			continue
		}
		out = append(out, network.Summary{Network: n.Network})
	}
	slices.SortFunc(out, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeBackend) NetworkInspect(ctx context.Context, idOrName string) (network.Inspect, error) {
	if err := f.record("NetworkInspect"); err != nil {
		return network.Inspect{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.network(idOrName)
	if err != nil {
		return network.Inspect{}, err
	}
	// A nil map must still be answered as {} (the route's job).
	out := *n
	if len(out.Containers) == 0 {
		out.Containers = nil
	}
	return out, nil
}

func (f *fakeBackend) NetworkRemove(ctx context.Context, idOrName string) error {
	if err := f.record("NetworkRemove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.network(idOrName)
	if err != nil {
		return err
	}
	if len(n.Containers) > 0 {
		return fmt.Errorf("network %s has active endpoints: %w", n.Name, errdefs.ErrConflict)
	}
	delete(f.networks, n.ID)
	return nil
}

func (f *fakeBackend) NetworkConnect(ctx context.Context, idOrName, ctr string, cfg *network.EndpointSettings) error {
	if err := f.record("NetworkConnect"); err != nil {
		return err
	}
	c, err := f.container(ctr)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.network(idOrName)
	if err != nil {
		return err
	}
	f.netConnected = cfg
	ep := network.EndpointResource{Name: strings.TrimPrefix(c.Name, "/")}
	if cfg != nil && cfg.IPAMConfig != nil && cfg.IPAMConfig.IPv4Address.IsValid() {
		ep.IPv4Address = netip.PrefixFrom(cfg.IPAMConfig.IPv4Address, 24)
	}
	n.Containers[c.ID] = ep
	return nil
}

func (f *fakeBackend) NetworkDisconnect(ctx context.Context, idOrName, ctr string, force bool) error {
	if err := f.record("NetworkDisconnect"); err != nil {
		return err
	}
	c, err := f.container(ctr)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.network(idOrName)
	if err != nil {
		return err
	}
	if _, ok := n.Containers[c.ID]; !ok && !force {
		return fmt.Errorf("container %s is not connected to network %s: %w", ctr, n.Name, errdefs.ErrFailedPrecondition)
	}
	delete(n.Containers, c.ID)
	return nil
}

func (f *fakeBackend) NetworkPrune(ctx context.Context, filters engine.Filters) (network.PruneReport, error) {
	if err := f.record("NetworkPrune"); err != nil {
		return network.PruneReport{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netFilters = filters
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for id, n := range f.networks {
		if n.Name != "bridge" && len(n.Containers) == 0 {
			rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
			delete(f.networks, id)
		}
	}
	slices.Sort(rep.NetworksDeleted)
	return rep, nil
}

func (f *fakeBackend) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	return volume.Volume{Name: req.Name, Driver: "local"}, f.record("VolumeCreate")
}

func (f *fakeBackend) VolumeList(ctx context.Context, filters engine.Filters) (volume.ListResponse, error) {
	return volume.ListResponse{}, f.record("VolumeList")
}

func (f *fakeBackend) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	if err := f.record("VolumeInspect"); err != nil {
		return volume.Volume{}, err
	}
	if name != "v1" {
		return volume.Volume{}, fmt.Errorf("volume %s: %w", name, errdefs.ErrNotFound)
	}
	return volume.Volume{Name: name, Driver: "local"}, nil
}

func (f *fakeBackend) VolumeRemove(ctx context.Context, name string, force bool) error {
	return f.record("VolumeRemove")
}

func (f *fakeBackend) VolumePrune(ctx context.Context, filters engine.Filters) (volume.PruneReport, error) {
	return volume.PruneReport{}, f.record("VolumePrune")
}

func (f *fakeBackend) Info(ctx context.Context) (system.Info, error) {
	return system.Info{ID: "fake", Name: "fakehost"}, f.record("Info")
}

func (f *fakeBackend) Version(ctx context.Context) (system.VersionResponse, error) {
	return system.VersionResponse{Version: "0.0.1-test"}, f.record("Version")
}

func (f *fakeBackend) DiskUsage(ctx context.Context) (system.DiskUsage, error) {
	return system.DiskUsage{}, f.record("DiskUsage")
}

func (f *fakeBackend) Events(ctx context.Context, opts engine.EventsOptions) ([]events.Message, <-chan events.Message, func()) {
	_ = f.record("Events")
	if f.events != nil {
		return f.events(ctx, opts)
	}
	return nil, nil, func() {}
}

var _ Backend = (*fakeBackend)(nil)

// serveUnix runs h on a unix socket in a temp dir, like the daemon does,
// and returns the socket path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// newClient returns the real moby client talking to sock, version
// negotiated like the docker CLI does.
func newClient(t *testing.T, sock string) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// rawClient is a plain HTTP client over the unix socket.
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

func setup(t *testing.T) (*fakeBackend, string, *client.Client) {
	t.Helper()
	f := newFake()
	sock := serveUnix(t, New(f, WithVersion("9.9.9-test"), WithLogger(testLogger(t))))
	return f, sock, newClient(t, sock)
}

// testLogger sends the handler's logs to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
