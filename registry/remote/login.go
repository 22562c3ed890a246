package remote

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

// DefaultServer is the Docker Hub address the docker CLI logs in to.
const DefaultServer = "https://index.docker.io/v1/"

// RegistryHost reduces a login server address ("https://host:5000/v1/",
// "host:5000") to the registry host[:port].
func RegistryHost(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	if s == "" || s == "docker.io" || s == "registry-1.docker.io" {
		return name.DefaultRegistry
	}
	return s
}

// Login checks credentials against the registry's /v2/ endpoint as dockerd
// does: through its token service when it has one, else with Basic auth.
// Wrong credentials are Unauthenticated.
func (c *Client) Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	host := RegistryHost(auth.ServerAddress)
	var opts []name.Option
	if c.isInsecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return registry.AuthResponse{}, fmt.Errorf("invalid registry %q: %v: %w", auth.ServerAddress, err, errdefs.ErrInvalidArgument)
	}
	base, err := c.transport(host)
	if err != nil {
		return registry.AuthResponse{}, err
	}
	rt, err := transport.NewWithContext(ctx, reg, authenticator(auth), base, nil)
	if err != nil {
		return registry.AuthResponse{}, loginError(err)
	}
	u := reg.Scheme() + "://" + reg.RegistryStr() + "/v2/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return registry.AuthResponse{}, err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return registry.AuthResponse{}, loginError(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return registry.AuthResponse{Status: "Login Succeeded"}, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return registry.AuthResponse{}, fmt.Errorf("login attempt to %s failed with status: %s: %w", u, resp.Status, errdefs.ErrUnauthenticated)
	}
	return registry.AuthResponse{}, fmt.Errorf("login attempt to %s failed with status: %s: %w", u, resp.Status, errdefs.ErrUnknown)
}

// loginError keeps credential failures Unauthenticated whatever status the
// token service used.
func loginError(err error) error {
	err = translate(err)
	if errdefs.IsPermissionDenied(err) {
		return &registryError{msg: err.Error(), class: errdefs.ErrUnauthenticated}
	}
	return err
}
