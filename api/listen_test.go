package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/engine"
)

func TestListenUnixStaleVersusLive(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "run", "wharf.sock")

	l, err := Listen(ctx, "unix://"+sock, nil, false)
	require.NoError(t, err)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm())
	dir, err := os.Stat(filepath.Dir(sock))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o711), dir.Mode().Perm())

	// A live daemon answers: refuse, and leave its socket alone.
	_, err = Listen(ctx, "unix://"+sock, nil, false)
	require.Error(t, err)
	assert.True(t, errdefs.IsConflict(err))
	assert.Contains(t, err.Error(), "another daemon is listening on "+sock)
	_, err = os.Stat(sock)
	require.NoError(t, err)

	// A daemon that died leaves the file behind with nobody listening.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	_, err = os.Stat(sock)
	require.NoError(t, err, "stale socket should still exist for this test")
	l2, err := Listen(ctx, "unix://"+sock, nil, false)
	require.NoError(t, err)
	t.Cleanup(func() { l2.Close() })

	// Something that is not a socket is never removed.
	file := filepath.Join(t.TempDir(), "not-a-socket")
	require.NoError(t, os.WriteFile(file, []byte("data"), 0o600))
	_, err = Listen(ctx, "unix://"+file, nil, false)
	require.Error(t, err)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
}

func TestListenRejectsBadHosts(t *testing.T) {
	ctx := context.Background()
	for _, h := range []string{"", "/var/run/x.sock", "fd://", "udp://1.2.3.4:1", "unix://relative.sock"} {
		_, err := Listen(ctx, h, nil, false)
		assert.Error(t, err, h)
	}
}

func TestListenTCPPlainOnlyOnLoopback(t *testing.T) {
	ctx := context.Background()
	for _, h := range []string{"tcp://0.0.0.0:0", "tcp://:0", "tcp://[::]:0"} {
		_, err := Listen(ctx, h, nil, false)
		require.Error(t, err, h)
		assert.True(t, errdefs.IsInvalidArgument(err), h)
		assert.Contains(t, err.Error(), "without TLS")
	}
	l, err := Listen(ctx, "tcp://127.0.0.1:0", nil, false)
	require.NoError(t, err)
	l.Close()
	l, err = Listen(ctx, "tcp://0.0.0.0:0", nil, true)
	require.NoError(t, err)
	l.Close()
}

// testPKI writes a CA, a server certificate for 127.0.0.1, a client
// certificate from that CA and one from an unrelated CA.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey, rogueCert, rogueKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	serial := int64(1)
	newCert := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return cert, key, der, keyDER
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	ca, caKey, caDER, _ := newCert(caTmpl("wharf test CA"), nil, nil)
	rogueCA, rogueCAKey, _, _ := newCert(caTmpl("rogue CA"), nil, nil)
	_, _, srvDER, srvKey := newCert(&x509.Certificate{Subject: pkix.Name{CommonName: "wharfd"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	clientTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	}
	_, _, cliDER, cliKey := newCert(clientTmpl(), ca, caKey)
	_, _, rogueDER, rogueKey := newCert(clientTmpl(), rogueCA, rogueCAKey)
	return testPKI{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server-cert.pem", "CERTIFICATE", srvDER),
		serverKey:  write("server-key.pem", "EC PRIVATE KEY", srvKey),
		clientCert: write("cert.pem", "CERTIFICATE", cliDER),
		clientKey:  write("key.pem", "EC PRIVATE KEY", cliKey),
		rogueCert:  write("rogue-cert.pem", "CERTIFICATE", rogueDER),
		rogueKey:   write("rogue-key.pem", "EC PRIVATE KEY", rogueKey),
	}
}

func TestTLSListenerRequiresClientCert(t *testing.T) {
	pki := newTestPKI(t)
	cfg, err := TLSConfig(pki.ca, pki.serverCert, pki.serverKey, true)
	require.NoError(t, err)
	assert.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)

	ctx, cancel := context.WithCancel(context.Background())
	// Not loopback-only by nature: TLS makes any address acceptable.
	l, err := Listen(ctx, "tcp://127.0.0.1:0", cfg, false)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, New(newFake(), WithLogger(testLogger(t))), l) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	host := "tcp://" + l.Addr().String()

	// The real client with a certificate from our CA gets in.
	cli, err := client.New(client.WithHost(host), client.WithTLSClientConfig(pki.ca, pki.clientCert, pki.clientKey))
	require.NoError(t, err)
	defer cli.Close()
	ping, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	require.NoError(t, err)
	assert.Equal(t, APIVersion, ping.APIVersion)

	// No certificate, or one from another CA: the handshake fails.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(pki.ca)
	require.NoError(t, err)
	pool.AppendCertsFromPEM(caPEM)
	rogue, err := tls.LoadX509KeyPair(pki.rogueCert, pki.rogueKey)
	require.NoError(t, err)
	for name, certs := range map[string][]tls.Certificate{"none": nil, "rogue": {rogue}} {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := hc.Get("https://" + l.Addr().String() + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		assert.Error(t, err, "client cert %s was accepted", name)
	}

	// Without verification the server does not ask for a certificate.
	cfg2, err := TLSConfig("", pki.serverCert, pki.serverKey, false)
	require.NoError(t, err)
	assert.Equal(t, tls.NoClientCert, cfg2.ClientAuth)
	_, err = TLSConfig("", pki.serverCert, pki.serverKey, true)
	assert.Error(t, err)
	_, err = TLSConfig(pki.ca, pki.serverCert, pki.clientKey, true)
	assert.Error(t, err, "mismatched key must be rejected")
}

func TestServeShutdownEndsStreams(t *testing.T) {
	f := newFake()
	live := make(chan events.Message) // never sends: a quiet `docker events`
	f.events = func(ctx context.Context, o engine.EventsOptions) ([]events.Message, <-chan events.Message, func()) {
		return nil, live, func() {}
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := Listen(ctx, "unix://"+sock, nil, false)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, New(f, WithLogger(testLogger(t))), l) }()

	cli := newClient(t, sock)
	res := cli.Events(context.Background(), client.EventsListOptions{})
	// The stream is open (headers received) once Events returns.
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(shutdownGrace / 2):
		t.Fatal("Serve did not return promptly with an events stream open")
	}
	select {
	case <-res.Err:
	case <-time.After(5 * time.Second):
		t.Fatal("events stream still open after shutdown")
	}
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket should be removed on shutdown")
}
