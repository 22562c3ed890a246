//go:build linux

package e2e

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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeCerts makes a CA plus a server (127.0.0.1) and a client certificate
// in dir, named as DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem for
// the client; server-cert.pem, server-key.pem for the daemon).
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	writePEM := func(name, typ string, der []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		writePEM(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wharf e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	writePEM("ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, certName, keyName string) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		writePEM(certName, "CERTIFICATE", der)
		writeKey(keyName, k)
	}
	issue(2, "wharf e2e server", x509.ExtKeyUsageServerAuth, "server-cert.pem", "server-key.pem")
	issue(3, "wharf e2e client", x509.ExtKeyUsageClientAuth, "cert.pem", "key.pem")
}

// TestTCPWithMutualTLS starts a second daemon (own root) that serves the API
// over TCP with --tlsverify, as remote docker CLIs use it.
func TestTCPWithMutualTLS(t *testing.T) {
	begin(t)
	dir := filepath.Join(env.tmp, "tls")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "certs"), 0o700))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	certs := filepath.Join(dir, "certs")
	writeCerts(t, certs)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))

	done, _ := spawnDaemon(t, dir, "tls", "-H", "tcp://"+addr, "--tlsverify",
		"--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "server-cert.pem"),
		"--tlskey", filepath.Join(certs, "server-key.pem"))

	tlsEnv := append(os.Environ(), "DOCKER_HOST=tcp://"+addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+certs,
		"DOCKER_CONFIG="+env.dockerConfig, "WHARF_HOST=")
	run := func(bin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = tlsEnv
		out, err := c.CombinedOutput()
		t.Logf("+ %s %s (TLS) → %v\n%s", filepath.Base(bin), quoteArgs(args), err, indent("out", string(out)))
		return strings.TrimSpace(string(out)), err
	}
	eventually(t, func() bool {
		select {
		case <-done:
			t.Fatal("the TLS daemon exited")
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, daemonDeadline, "the TLS daemon never listened on %s", addr)

	out, err := run(filepath.Join(env.bin, "wharf"), "version", "--format", "{{.Server.APIVersion}}")
	require.NoError(t, err, "wharf over mutual TLS")
	assert.Regexp(t, `^1\.\d+$`, out)
	if _, statErr := os.Stat(dockerBin); statErr == nil {
		out, err = run(dockerBin, "ps", "-a", "--format", "{{.ID}}")
		assert.NoError(t, err, "docker over mutual TLS: %s", out)
	}

	// Without a client certificate the handshake (or the first request) fails.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	require.NoError(t, err)
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err == nil {
		_, _ = conn.Write([]byte("GET /_ping HTTP/1.0\r\n\r\n"))
		buf := make([]byte, 64)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, rerr := conn.Read(buf)
		conn.Close()
		assert.Error(t, rerr, "a client without certificate got an answer: %q", buf[:n])
	}
}

// TestPlainTCPRefused: plain TCP on a non-loopback address is root for
// anyone who can connect, so the daemon refuses it unless forced.
func TestPlainTCPRefused(t *testing.T) {
	begin(t)
	dir := filepath.Join(env.tmp, "plaintcp")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.bin, "wharfd"),
		"--root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"),
		"--cgroup-parent", env.cgroupParent, "--bridge", env.bridge, "--nft-table", env.nftTable,
		"-H", "tcp://0.0.0.0:"+strconv.Itoa(freePort(t, "tcp")))
	out, err := cmd.CombinedOutput()
	t.Logf("wharfd -H tcp://0.0.0.0:… →\n%s", indent("out", string(out)))
	require.NoError(t, ctx.Err(), "the daemon started serving plain TCP on 0.0.0.0")
	require.Error(t, err)
	assert.NotEmpty(t, strings.TrimSpace(string(out)), "a clear message says why")
}
