package remote

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
)

// Parallel downloads and uploads per image, as docker (whose default for
// both is 3 and 5).
const (
	maxDownloads = 5
	maxUploads   = 5
)

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	insecure  []string // host[:port] names and CIDRs allowed over plain HTTP
	userAgent string
	certsDir  string // per-registry CAs and client certificates (WithCertsDir)
}

// New returns a client. Loopback registries may always be reached over
// plain HTTP (and unverified TLS); insecure adds hosts ("host", "host:port")
// and CIDRs ("10.0.0.0/8") that may too, like dockerd's
// --insecure-registry.
func New(insecure []string, userAgent string) *Client {
	return &Client{insecure: insecure, userAgent: userAgent}
}

// isInsecure reports whether registry host (host[:port]) may be reached
// without verified TLS.
func (c *Client) isInsecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	if h == "localhost" || (ip != nil && ip.IsLoopback()) {
		return true
	}
	for _, r := range c.insecure {
		if r == host || r == h {
			return true
		}
		if _, n, err := net.ParseCIDR(r); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// Shared HTTP transports (one verifying TLS, one not) keep connections to
// a registry alive across pulls and pushes.
var (
	transportsOnce                sync.Once
	secureTransport, insecureTrpt *http.Transport
)

// baseTransport is the transport every registry connection starts from.
func baseTransport() *http.Transport {
	transportsOnce.Do(func() {
		base := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   maxDownloads + maxUploads,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			// Large buffers: blobs are the payload, and the per-syscall
			// overhead of the 4 KiB default shows over loopback.
			ReadBufferSize:  256 << 10,
			WriteBufferSize: 256 << 10,
		}
		secureTransport = base
		insecureTrpt = base.Clone()
		insecureTrpt.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure-registry asks for it
	})
	return secureTransport
}

// transport is how to reach registry host: with the CAs and client
// certificates of its certs.d directory when it has one, without
// verifying TLS when it is insecure.
func (c *Client) transport(host string) (http.RoundTripper, error) {
	baseTransport()
	insecure := c.isInsecure(host)
	t, err := c.certsTransport(host, insecure)
	if err != nil || t != nil {
		return t, err
	}
	if insecure {
		return insecureTrpt, nil
	}
	return secureTransport, nil
}

// repository converts a normalised reference into go-containerregistry's
// form for its registry's security.
func (c *Client) repository(ref reference.Named) (name.Repository, error) {
	var opts []name.Option
	if c.isInsecure(reference.Domain(ref)) {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(ref.Name(), opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return repo, nil
}

// puller opens a puller for ref's registry with auth (and extra options)
// and returns ref's repository too: what pull, inspect and tags start with.
func (c *Client) puller(ref reference.Named, auth registry.AuthConfig, extra ...ggcr.Option) (name.Repository, *ggcr.Puller, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return name.Repository{}, nil, err
	}
	opts, err := c.options(reference.Domain(ref), auth)
	if err != nil {
		return name.Repository{}, nil, err
	}
	p, err := ggcr.NewPuller(append(opts, extra...)...)
	return repo, p, err
}

// manifestRef names ref's manifest in repo: by digest when ref has one,
// else by the tag ident.
func manifestRef(repo name.Repository, ref reference.Named, ident string) name.Reference {
	if _, isDigest := ref.(reference.Canonical); isDigest {
		return repo.Digest(ident)
	}
	return repo.Tag(ident)
}

// options are the go-containerregistry options of one operation.
func (c *Client) options(host string, auth registry.AuthConfig) ([]ggcr.Option, error) {
	t, err := c.transport(host)
	if err != nil {
		return nil, err
	}
	opts := []ggcr.Option{
		ggcr.WithAuth(authenticator(auth)),
		ggcr.WithTransport(t),
		ggcr.WithJobs(maxUploads),
	}
	if c.userAgent != "" {
		opts = append(opts, ggcr.WithUserAgent(c.userAgent))
	}
	return opts, nil
}

// authenticator turns the credentials the client sent in X-Registry-Auth
// into go-containerregistry's; none means anonymous (which still follows
// the registry's token flow).
func authenticator(a registry.AuthConfig) authn.Authenticator {
	if a.Username == "" && a.Password == "" && a.Auth == "" && a.IdentityToken == "" && a.RegistryToken == "" {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: a.Username, Password: a.Password, Auth: a.Auth,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken,
	})
}

// translate turns a registry or transport failure into an errdefs class
// with docker's wording ("manifest unknown: manifest unknown").
func translate(err error) error {
	if err == nil {
		return nil
	}
	var rerr *registryError
	if errors.As(err, &rerr) {
		return err
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		var class error = errdefs.ErrUnknown
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			class = errdefs.ErrUnauthenticated
		case http.StatusForbidden:
			class = errdefs.ErrPermissionDenied
		case http.StatusNotFound:
			class = errdefs.ErrNotFound
		case http.StatusBadRequest:
			class = errdefs.ErrInvalidArgument
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			class = errdefs.ErrUnavailable
		}
		return &registryError{msg: diagnostics(terr), class: class}
	}
	var nerr net.Error
	var uerr *url.Error
	if errors.As(err, &nerr) || errors.As(err, &uerr) {
		return &registryError{msg: err.Error(), class: errdefs.ErrUnavailable}
	}
	return err
}

// registryError is a registry's answer (or a failure to reach it): the
// message as docker words it, and the errdefs class it falls in.
type registryError struct {
	msg   string
	class error
}

func (e *registryError) Error() string { return e.msg }
func (e *registryError) Unwrap() error { return e.class }

// diagnostics renders a registry's error list as the docker daemon does:
// "code in words: message", joined.
func diagnostics(e *transport.Error) string {
	var parts []string
	for _, d := range e.Errors {
		code := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		if d.Message == "" {
			parts = append(parts, code)
		} else {
			parts = append(parts, code+": "+d.Message)
		}
	}
	if len(parts) == 0 {
		// HEAD answers have no body; say what distribution would have.
		switch e.StatusCode {
		case http.StatusUnauthorized:
			return "unauthorized: authentication required"
		case http.StatusForbidden:
			return "denied: requested access to the resource is denied"
		}
		return fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return strings.Join(parts, "; ")
}

// isStatus reports whether err is a registry answer with that status.
func isStatus(err error, status int) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == status
}

// shortID is the 12-hex form docker uses as a progress line's ID.
func shortID(d digest.Digest) string {
	h := d.Encoded()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
