package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

// The engine must keep satisfying what these routes assert at run time.
var (
	_ SwarmServiceBackend = (*engine.Engine)(nil)
	_ SwarmSecretBackend  = (*engine.Engine)(nil)
	_ SwarmSecretUpdater  = (*engine.Engine)(nil)
)

// fakeServices is the fake engine plus services, tasks, secrets and configs
// kept in maps; it records the last arguments it was given.
type fakeServices struct {
	*fakeBackend
	services map[string]swarm.Service
	tasks    map[string]swarm.Task
	secrets  map[string]swarm.Secret
	configs  map[string]swarm.Config

	auth     string
	filters  engine.Filters
	status   bool
	version  uint64
	rollback bool
	spec     swarm.ServiceSpec
	logsRef  string
	logsOpts engine.LogsOptions
	labels   map[string]string
}

func newFakeServices() *fakeServices {
	three := uint64(3)
	return &fakeServices{
		fakeBackend: newFake(),
		services: map[string]swarm.Service{"s1": {ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}}}},
		tasks:   map[string]swarm.Task{"t1": {ID: "t1", ServiceID: "s1", Slot: 1, DesiredState: swarm.TaskStateRunning}},
		secrets: map[string]swarm.Secret{"x1": {ID: "x1", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}}}},
		configs: map[string]swarm.Config{"g1": {ID: "g1", Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "conf"}, Data: []byte("a=1")}}},
	}
}

func notFound(kind, ref string) error {
	return fmt.Errorf("%s %s not found: %w", kind, ref, errdefs.ErrNotFound)
}

func (f *fakeServices) ServiceCreate(ctx context.Context, spec swarm.ServiceSpec, auth string) (swarm.ServiceCreateResponse, error) {
	f.spec, f.auth = spec, auth
	if spec.TaskTemplate.ContainerSpec == nil || spec.TaskTemplate.ContainerSpec.Image == "" {
		return swarm.ServiceCreateResponse{}, fmt.Errorf("ContainerSpec: image reference must be provided: %w", errdefs.ErrInvalidArgument)
	}
	return swarm.ServiceCreateResponse{ID: "new"}, nil
}
func (f *fakeServices) ServiceInspect(ctx context.Context, ref string) (swarm.Service, error) {
	for _, s := range f.services {
		if s.ID == ref || s.Spec.Name == ref {
			return s, nil
		}
	}
	return swarm.Service{}, notFound("service", ref)
}
func (f *fakeServices) ServiceUpdate(ctx context.Context, ref string, version uint64, spec swarm.ServiceSpec, rollback bool) (swarm.ServiceUpdateResponse, error) {
	if _, err := f.ServiceInspect(ctx, ref); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	f.version, f.spec, f.rollback = version, spec, rollback
	return swarm.ServiceUpdateResponse{}, nil
}
func (f *fakeServices) ServiceRemove(ctx context.Context, ref string) error {
	_, err := f.ServiceInspect(ctx, ref)
	return err
}
func (f *fakeServices) ServiceList(ctx context.Context, filters engine.Filters, status bool) ([]swarm.Service, error) {
	f.filters, f.status = filters, status
	out := []swarm.Service{}
	for _, s := range f.services {
		out = append(out, s)
	}
	return out, nil
}
func (f *fakeServices) ServiceLogs(ctx context.Context, ref string, opts engine.LogsOptions, stdout, stderr io.Writer) error {
	f.logsRef, f.logsOpts = ref, opts
	if ref == "gone" {
		return notFound("service", ref)
	}
	fmt.Fprint(stdout, "com.docker.swarm.task.id=t1 hello\n")
	fmt.Fprint(stderr, "com.docker.swarm.task.id=t1 oops\n")
	return nil
}
func (f *fakeServices) TaskList(ctx context.Context, filters engine.Filters) ([]swarm.Task, error) {
	f.filters = filters
	out := []swarm.Task{}
	for _, t := range f.tasks {
		out = append(out, t)
	}
	return out, nil
}
func (f *fakeServices) TaskInspect(ctx context.Context, id string) (swarm.Task, error) {
	if t, ok := f.tasks[id]; ok {
		return t, nil
	}
	return swarm.Task{}, notFound("task", id)
}

func (f *fakeServices) SecretCreate(ctx context.Context, spec swarm.SecretSpec) (string, error) {
	if spec.Name == "" {
		return "", fmt.Errorf("invalid secret name %q: %w", spec.Name, errdefs.ErrInvalidArgument)
	}
	f.secrets["x2"] = swarm.Secret{ID: "x2", Spec: spec}
	return "x2", nil
}
func (f *fakeServices) SecretList(ctx context.Context, filters engine.Filters) ([]swarm.Secret, error) {
	f.filters = filters
	out := []swarm.Secret{}
	for _, s := range f.secrets {
		out = append(out, s)
	}
	return out, nil
}
func (f *fakeServices) SecretInspect(ctx context.Context, ref string) (swarm.Secret, error) {
	if s, ok := f.secrets[ref]; ok {
		return s, nil
	}
	return swarm.Secret{}, notFound("secret", ref)
}
func (f *fakeServices) SecretRemove(ctx context.Context, ref string) error {
	if _, ok := f.secrets[ref]; !ok {
		return notFound("secret", ref)
	}
	delete(f.secrets, ref)
	return nil
}
func (f *fakeServices) SecretUpdate(ctx context.Context, ref string, version uint64, spec swarm.SecretSpec) error {
	if _, ok := f.secrets[ref]; !ok {
		return notFound("secret", ref)
	}
	f.version, f.labels = version, spec.Labels
	return nil
}
func (f *fakeServices) ConfigCreate(ctx context.Context, spec swarm.ConfigSpec) (string, error) {
	f.configs["g2"] = swarm.Config{ID: "g2", Spec: spec}
	return "g2", nil
}
func (f *fakeServices) ConfigList(ctx context.Context, filters engine.Filters) ([]swarm.Config, error) {
	f.filters = filters
	out := []swarm.Config{}
	for _, s := range f.configs {
		out = append(out, s)
	}
	return out, nil
}
func (f *fakeServices) ConfigInspect(ctx context.Context, ref string) (swarm.Config, error) {
	if s, ok := f.configs[ref]; ok {
		return s, nil
	}
	return swarm.Config{}, notFound("config", ref)
}
func (f *fakeServices) ConfigRemove(ctx context.Context, ref string) error {
	if _, ok := f.configs[ref]; !ok {
		return notFound("config", ref)
	}
	delete(f.configs, ref)
	return nil
}
func (f *fakeServices) ConfigUpdate(ctx context.Context, ref string, version uint64, spec swarm.ConfigSpec) error {
	if _, ok := f.configs[ref]; !ok {
		return notFound("config", ref)
	}
	f.version, f.labels = version, spec.Labels
	return nil
}

func TestServiceRoutesRaw(t *testing.T) {
	f := newFakeServices()
	h := New(f, WithLogger(discardLogger()))

	req, err := http.NewRequest("POST", "/v1.52/services/create", strings.NewReader(`{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`))
	require.NoError(t, err)
	req.Header.Set("X-Registry-Auth", "e30=")
	rec := doReq(h, req)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"ID":"new","Warnings":[]}`, rec.Body.String())
	assert.Equal(t, "e30=", f.auth)
	assert.Equal(t, "web", f.spec.Name)

	rec = do(h, "POST", "/services/create", strings.NewReader(`{"Name":"web","TaskTemplate":{"ContainerSpec":{}}}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "ContainerSpec: image reference must be provided", errorBody(t, rec))
	rec = do(h, "POST", "/services/create", strings.NewReader(`{"Name":`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	rec = do(h, "GET", `/services?filters={"label":{"com.docker.stack.namespace=lab":true}}&status=true`, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, []string{"com.docker.stack.namespace=lab"}, f.filters["label"])
	assert.True(t, f.status)
	rec = do(h, "GET", `/services?filters={bad`, nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	// insertDefaults fills what the stored spec left out, and only then.
	rec = do(h, "GET", "/services/web?insertDefaults=false", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var svc swarm.Service
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &svc))
	assert.Nil(t, svc.Spec.UpdateConfig)
	rec = do(h, "GET", "/services/web?insertDefaults=true", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	svc = swarm.Service{}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &svc))
	require.NotNil(t, svc.Spec.UpdateConfig)
	assert.Equal(t, swarm.UpdateOrderStopFirst, svc.Spec.UpdateConfig.Order)
	require.NotNil(t, svc.Spec.TaskTemplate.RestartPolicy)
	assert.Equal(t, swarm.RestartPolicyConditionAny, svc.Spec.TaskTemplate.RestartPolicy.Condition)
	assert.Nil(t, f.services["s1"].Spec.UpdateConfig, "the backend's value must not be changed")
	rec = do(h, "GET", "/services/nope", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "service nope not found", errorBody(t, rec))

	rec = do(h, "POST", "/services/s1/update?version=7&rollback=previous", strings.NewReader(`{"Name":"web"}`))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"Warnings":[]}`, rec.Body.String())
	assert.EqualValues(t, 7, f.version)
	assert.True(t, f.rollback)
	rec = do(h, "POST", "/services/s1/update?version=8", strings.NewReader(`{"Name":"web"}`))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.False(t, f.rollback)
	rec = do(h, "POST", "/services/s1/update", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	rec = do(h, "POST", "/services/s1/update?version=1&registryAuthFrom=elsewhere", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, errorBody(t, rec), "unsupported registryAuthFrom value")
	rec = do(h, "POST", "/services/s1/update?version=1&registryAuthFrom=previous-spec", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusOK, rec.Code)

	rec = do(h, "DELETE", "/services/s1", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "DELETE", "/services/nope", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)

	rec = do(h, "GET", `/tasks?filters={"service":{"web":true},"desired-state":{"running":true}}`, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, []string{"web"}, f.filters["service"])
	assert.Equal(t, []string{"running"}, f.filters["desired-state"])
	var tasks []swarm.Task
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tasks))
	require.Len(t, tasks, 1)
	rec = do(h, "GET", "/tasks/t1", nil)
	assert.Equal(t, http.StatusOK, rec.Code)
	rec = do(h, "GET", "/tasks/t9", nil)
	assert.Equal(t, http.StatusNotFound, rec.Code)

	rec = do(h, "GET", "/services/s1/logs", nil)
	assert.Equal(t, http.StatusBadRequest, rec.Code, "a stream must be chosen")
}

func doReq(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServiceLogsThroughClient(t *testing.T) {
	f := newFakeServices()
	sock := serveUnix(t, New(f, WithLogger(testLogger(t))))
	cli := newClient(t, sock)
	ctx := context.Background()

	rc, err := cli.ServiceLogs(ctx, "web", client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Details: true, Tail: "5", Timestamps: true})
	require.NoError(t, err)
	var stdout, stderr strings.Builder
	_, err = stdcopy.StdCopy(&stdout, &stderr, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "com.docker.swarm.task.id=t1 hello\n", stdout.String())
	assert.Equal(t, "com.docker.swarm.task.id=t1 oops\n", stderr.String())
	assert.Equal(t, "web", f.logsRef)
	assert.Equal(t, 5, f.logsOpts.Tail)
	assert.True(t, f.logsOpts.Timestamps)

	rc, err = cli.TaskLogs(ctx, "t1", client.TaskLogsOptions{ShowStdout: true})
	require.NoError(t, err)
	_, err = stdcopy.StdCopy(io.Discard, io.Discard, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "t1", f.logsRef)

	// A backend failure after the stream started arrives as docker's
	// system-stream message, which StdCopy turns into an error.
	rc, err = cli.ServiceLogs(ctx, "gone", client.ServiceLogsOptions{ShowStdout: true})
	require.NoError(t, err)
	_, err = stdcopy.StdCopy(io.Discard, io.Discard, rc)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service gone not found")
	require.NoError(t, rc.Close())
}

func TestServicesThroughClient(t *testing.T) {
	f := newFakeServices()
	sock := serveUnix(t, New(f, WithLogger(testLogger(t))))
	cli := newClient(t, sock)
	ctx := context.Background()

	res, err := cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "api"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}}}})
	require.NoError(t, err)
	assert.Equal(t, "new", res.ID)

	// The docker CLI's `service ps web` path: list by name, then tasks by ID.
	nameFilter := client.Filters{}
	nameFilter.Add("name", "web")
	list, err := cli.ServiceList(ctx, client.ServiceListOptions{Filters: nameFilter, Status: true})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	insp, err := cli.ServiceInspect(ctx, list.Items[0].ID, client.ServiceInspectOptions{InsertDefaults: true})
	require.NoError(t, err)
	require.NotNil(t, insp.Service.Spec.RollbackConfig)
	assert.Equal(t, 5*time.Second, insp.Service.Spec.RollbackConfig.Monitor)

	_, err = cli.ServiceUpdate(ctx, "s1", client.ServiceUpdateOptions{Version: swarm.Version{Index: 4}, Spec: insp.Service.Spec, Rollback: "previous"})
	require.NoError(t, err)
	assert.EqualValues(t, 4, f.version)
	assert.True(t, f.rollback)

	_, err = cli.ServiceInspect(ctx, "nope", client.ServiceInspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)

	tl, err := cli.TaskList(ctx, client.TaskListOptions{})
	require.NoError(t, err)
	require.Len(t, tl.Items, 1)
	ti, err := cli.TaskInspect(ctx, "t1", client.TaskInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "s1", ti.Task.ServiceID)
}

func TestSecretAndConfigRoutes(t *testing.T) {
	f := newFakeServices()
	sock := serveUnix(t, New(f, WithLogger(testLogger(t))))
	cli := newClient(t, sock)
	ctx := context.Background()

	sc, err := cli.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db"}, Data: []byte("pw")}})
	require.NoError(t, err)
	assert.Equal(t, "x2", sc.ID)
	_, err = cli.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{Data: []byte("pw")}})
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)

	lf := client.Filters{}
	lf.Add("label", "com.docker.stack.namespace=lab")
	sl, err := cli.SecretList(ctx, client.SecretListOptions{Filters: lf})
	require.NoError(t, err)
	assert.Len(t, sl.Items, 2)
	assert.Equal(t, []string{"com.docker.stack.namespace=lab"}, f.filters["label"])

	si, err := cli.SecretInspect(ctx, "x1", client.SecretInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "pw", si.Secret.Spec.Name)

	_, err = cli.SecretUpdate(ctx, "x1", client.SecretUpdateOptions{Version: swarm.Version{Index: 9}, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw", Labels: map[string]string{"a": "b"}}}})
	require.NoError(t, err)
	assert.EqualValues(t, 9, f.version)
	assert.Equal(t, map[string]string{"a": "b"}, f.labels)

	_, err = cli.SecretRemove(ctx, "x1", client.SecretRemoveOptions{})
	require.NoError(t, err)
	_, err = cli.SecretRemove(ctx, "x1", client.SecretRemoveOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)

	cc, err := cli.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "c"}, Data: []byte("x")}})
	require.NoError(t, err)
	assert.Equal(t, "g2", cc.ID)
	cl, err := cli.ConfigList(ctx, client.ConfigListOptions{})
	require.NoError(t, err)
	assert.Len(t, cl.Items, 2)
	ci, err := cli.ConfigInspect(ctx, "g1", client.ConfigInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "a=1", string(ci.Config.Spec.Data))
	_, err = cli.ConfigUpdate(ctx, "g1", client.ConfigUpdateOptions{Version: swarm.Version{Index: 2}, Spec: ci.Config.Spec})
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.version)
	_, err = cli.ConfigRemove(ctx, "g1", client.ConfigRemoveOptions{})
	require.NoError(t, err)
	_, err = cli.ConfigInspect(ctx, "g1", client.ConfigInspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)

	h := New(f, WithLogger(discardLogger()))
	rec := do(h, "POST", "/secrets/x2/update", strings.NewReader(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code, "version is required")
	rec = do(h, "DELETE", "/configs/g2", nil)
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

func TestSwarmObjectsWithoutBackend(t *testing.T) {
	h := New(newFake(), WithLogger(discardLogger()))
	for _, r := range [][2]string{
		{"GET", "/services"}, {"POST", "/services/create"}, {"GET", "/services/x"}, {"GET", "/tasks"},
		{"GET", "/tasks/x/logs"}, {"GET", "/secrets"}, {"POST", "/secrets/x/update?version=1"},
		{"DELETE", "/configs/x"}, {"POST", "/configs/x/update?version=1"},
	} {
		rec := do(h, r[0], r[1], strings.NewReader(`{}`))
		assert.Equal(t, http.StatusNotImplemented, rec.Code, "%s %s", r[0], r[1])
	}
}

func TestInsertServiceDefaults(t *testing.T) {
	delay := time.Second
	spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "x"},
		RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, Delay: &delay}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 2}}
	orig := *spec.TaskTemplate.RestartPolicy
	insertServiceDefaults(&spec)
	rp := spec.TaskTemplate.RestartPolicy
	assert.Equal(t, swarm.RestartPolicyConditionOnFailure, rp.Condition, "set values are kept")
	assert.Equal(t, time.Second, *rp.Delay)
	require.NotNil(t, rp.MaxAttempts)
	assert.Zero(t, *rp.MaxAttempts)
	assert.Nil(t, orig.MaxAttempts, "the caller's restart policy is not written to")
	assert.EqualValues(t, 2, spec.UpdateConfig.Parallelism)
	assert.Equal(t, swarm.UpdateFailureActionPause, spec.RollbackConfig.FailureAction)
	assert.Equal(t, 10*time.Second, *spec.TaskTemplate.ContainerSpec.StopGracePeriod)
	assert.Equal(t, swarm.ResolutionModeVIP, spec.EndpointSpec.Mode)
	assert.NotNil(t, spec.TaskTemplate.Placement)
	assert.NotNil(t, spec.TaskTemplate.Resources)
}
