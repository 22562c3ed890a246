package remote

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCertsDir: a registry's CA in certs.d/<host>/ca.crt is trusted; a
// client certificate without its key is refused.
func TestCertsDir(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	get := func(rt http.RoundTripper) error {
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	certs := t.TempDir()
	c := New(nil, "").WithCertsDir(certs)

	// (Loopback is always insecure; certsTransport is asked as for any
	// other registry, so verification is on.)
	rt, err := c.certsTransport(host, false)
	require.NoError(t, err)
	assert.Nil(t, rt, "no directory for the host: the default transport")
	assert.ErrorContains(t, get(baseTransport()), "certificate", "the test CA is not trusted by default")

	dir := filepath.Join(certs, host)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644))
	rt, err = c.certsTransport(host, false)
	require.NoError(t, err)
	require.NotNil(t, rt)
	assert.NoError(t, get(rt), "certs.d/<host>/ca.crt is trusted")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.cert"), ca, 0o644))
	_, err = c.certsTransport(host, false)
	assert.True(t, errdefs.IsInvalidArgument(err), "%v", err)
	assert.ErrorContains(t, err, "missing key client.key")
	_, err = c.transport(host)
	assert.Error(t, err, "pulls and pushes fail rather than go without the client certificate")

	require.NoError(t, os.Remove(filepath.Join(dir, "client.cert")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not a certificate"), 0o644))
	_, err = c.certsTransport(host, false)
	assert.ErrorContains(t, err, "no PEM certificate")

	_, err = New(nil, "").WithCertsDir(certs).certsTransport("../etc", false)
	assert.NoError(t, err, "a host name never leaves the certs directory")
}
