package api

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// distFake adds DistributionBackend to the fake backend.
type distFake struct {
	*fakeBackend
	pushed  []string
	auths   []string
	allTags []string
}

func (d *distFake) ImagePush(ctx context.Context, ref, auth string, out io.Writer) error {
	d.pushed, d.auths = append(d.pushed, ref), append(d.auths, auth)
	if ref == "docker.io/library/denied:latest" {
		fmt.Fprint(out, `{"status":"The push refers to repository [docker.io/library/denied]"}`+"\r\n")
		return errdefs.ErrPermissionDenied.WithMessage("denied: requested access to the resource is denied")
	}
	_, err := fmt.Fprint(out, `{"status":"1: digest: sha256:abc size: 1"}`+"\r\n")
	return err
}

func (d *distFake) ImagePullAllTags(ctx context.Context, repo, platform, auth string, out io.Writer) error {
	d.allTags = append(d.allTags, repo)
	_, err := fmt.Fprint(out, `{"status":"Status: Downloaded newer image for `+repo+`"}`+"\r\n")
	return err
}

func (d *distFake) AuthLogin(ctx context.Context, a registry.AuthConfig) (registry.AuthResponse, error) {
	if a.Password != "secret" {
		return registry.AuthResponse{}, errdefs.ErrUnauthenticated.WithMessage("login attempt to http://" + a.ServerAddress + "/v2/ failed with status: 401 Unauthorized")
	}
	return registry.AuthResponse{Status: "Login Succeeded"}, nil
}

func TestDistributionRoutes(t *testing.T) {
	d := &distFake{fakeBackend: newFake()}
	sock := serveUnix(t, New(d, WithLogger(testLogger(t))))
	cli := newClient(t, sock)
	ctx := context.Background()

	res, err := cli.RegistryLogin(ctx, client.RegistryLoginOptions{Username: "alice", Password: "secret", ServerAddress: "127.0.0.1:5000"})
	require.NoError(t, err)
	assert.Equal(t, "Login Succeeded", res.Auth.Status)
	_, err = cli.RegistryLogin(ctx, client.RegistryLoginOptions{Username: "alice", Password: "nope", ServerAddress: "127.0.0.1:5000"})
	assert.True(t, errdefs.IsUnauthorized(err), "%v", err)
	assert.ErrorContains(t, err, "failed with status: 401 Unauthorized")

	auth, err := authconfig.Encode(registry.AuthConfig{Username: "alice", Password: "secret"})
	require.NoError(t, err)
	push, err := cli.ImagePush(ctx, "127.0.0.1:5000/a/b:1", client.ImagePushOptions{RegistryAuth: auth})
	require.NoError(t, err)
	require.NoError(t, push.Wait(ctx))
	assert.Equal(t, []string{"127.0.0.1:5000/a/b:1"}, d.pushed)
	assert.Equal(t, auth, d.auths[0])
	push, err = cli.ImagePush(ctx, "127.0.0.1:5000/a/b", client.ImagePushOptions{All: true})
	require.NoError(t, err)
	require.NoError(t, push.Wait(ctx))
	assert.Equal(t, "127.0.0.1:5000/a/b", d.pushed[1])

	// An error after the stream started arrives in-band.
	push, err = cli.ImagePush(ctx, "denied", client.ImagePushOptions{})
	require.NoError(t, err)
	err = push.Wait(ctx)
	assert.ErrorContains(t, err, "denied: requested access to the resource is denied")

	pull, err := cli.ImagePull(ctx, "127.0.0.1:5000/a/b", client.ImagePullOptions{All: true})
	require.NoError(t, err)
	require.NoError(t, pull.Wait(ctx))
	assert.Equal(t, []string{"127.0.0.1:5000/a/b"}, d.allTags)

	rec := do(New(d), "POST", "/images/a/push?tag=Bad%20Tag", nil)
	assert.Equal(t, 400, rec.Code)
	rec = do(New(d), "POST", "/auth", nil)
	assert.Equal(t, 400, rec.Code)
	rec = do(New(d), "POST", "/images/create?fromImage=Bad%20Name", nil)
	assert.Equal(t, 400, rec.Code)
	// Pulling every tag needs the distribution backend.
	rec = do(New(newFake()), "POST", "/images/create?fromImage=busybox", nil)
	assert.Equal(t, 501, rec.Code)
}
