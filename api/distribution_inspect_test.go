package api

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inspectFake adds DistributionInspector to the fake backend.
type inspectFake struct {
	*fakeBackend
	refs, auths []string
}

const inspectDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func (f *inspectFake) DistributionInspect(ctx context.Context, ref, auth string) (registry.DistributionInspect, error) {
	f.refs, f.auths = append(f.refs, ref), append(f.auths, auth)
	switch ref {
	case "127.0.0.1:5000/private/app:1":
		return registry.DistributionInspect{}, errdefs.ErrUnauthenticated.WithMessage("unauthorized: authentication required")
	case "127.0.0.1:5000/denied/app:1":
		return registry.DistributionInspect{}, errdefs.ErrPermissionDenied.WithMessage("denied: requested access to the resource is denied")
	case "127.0.0.1:5000/none/such:1":
		return registry.DistributionInspect{}, errdefs.ErrNotFound.WithMessage("127.0.0.1:5000/none/such:1: not found: manifest unknown")
	}
	return registry.DistributionInspect{
		Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: inspectDigest, Size: 42},
		Platforms:  []ocispec.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}, nil
}

func TestDistributionInspect(t *testing.T) {
	f := &inspectFake{fakeBackend: newFake()}
	cli := newClient(t, serveUnix(t, New(f, WithLogger(testLogger(t)))))
	ctx := context.Background()

	auth, err := authconfig.Encode(registry.AuthConfig{Username: "alice", Password: "secret"})
	require.NoError(t, err)
	res, err := cli.DistributionInspect(ctx, "127.0.0.1:5000/alice/app:1", client.DistributionInspectOptions{EncodedRegistryAuth: auth})
	require.NoError(t, err)
	assert.Equal(t, inspectDigest, res.Descriptor.Digest.String())
	assert.Equal(t, int64(42), res.Descriptor.Size)
	assert.Equal(t, ocispec.MediaTypeImageIndex, res.Descriptor.MediaType)
	require.Len(t, res.Platforms, 2)
	assert.Equal(t, "v8", res.Platforms[1].Variant)
	// The name keeps its slashes; the header reaches the backend.
	assert.Equal(t, "127.0.0.1:5000/alice/app:1", f.refs[0])
	assert.Equal(t, auth, f.auths[0])

	_, err = cli.DistributionInspect(ctx, "127.0.0.1:5000/private/app:1", client.DistributionInspectOptions{})
	assert.True(t, errdefs.IsUnauthorized(err), "%v", err)
	assert.ErrorContains(t, err, "authentication required")
	_, err = cli.DistributionInspect(ctx, "127.0.0.1:5000/denied/app:1", client.DistributionInspectOptions{})
	assert.True(t, errdefs.IsPermissionDenied(err), "%v", err)
	_, err = cli.DistributionInspect(ctx, "127.0.0.1:5000/none/such:1", client.DistributionInspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "%v", err)
	assert.ErrorContains(t, err, "manifest unknown")
}

// TestDistributionInspectPinsServiceImage is the docker CLI's use of the
// route: the moby client's QueryRegistry pins a service's image to the
// digest and platforms the daemon reports.
func TestDistributionInspectPinsServiceImage(t *testing.T) {
	f := &inspectFake{fakeBackend: newFake()}
	cli := newClient(t, serveUnix(t, New(f, WithLogger(testLogger(t)))))
	spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "127.0.0.1:5000/alice/app:1"}}}
	// The fake has no services: the create itself fails, after the pin.
	_, err := cli.ServiceCreate(context.Background(), client.ServiceCreateOptions{Spec: spec, QueryRegistry: true})
	require.Error(t, err)
	assert.Equal(t, []string{"127.0.0.1:5000/alice/app:1"}, f.refs)
}

func TestDistributionInspectRoute(t *testing.T) {
	// A backend without the inspector answers NotImplemented, and a path
	// without /json is no route.
	cli := newClient(t, serveUnix(t, New(newFake(), WithLogger(testLogger(t)))))
	_, err := cli.DistributionInspect(context.Background(), "busybox", client.DistributionInspectOptions{})
	assert.True(t, errdefs.IsNotImplemented(err), "%v", err)

	f := &inspectFake{fakeBackend: newFake()}
	sock := serveUnix(t, New(f, WithLogger(testLogger(t))))
	c := newClient(t, sock)
	_, err = c.DistributionInspect(context.Background(), "busybox/xml", client.DistributionInspectOptions{})
	require.NoError(t, err) // "busybox/xml/json": the name is busybox/xml
	assert.Equal(t, []string{"busybox/xml"}, f.refs)
}
