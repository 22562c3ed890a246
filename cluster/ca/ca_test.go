package ca

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRootAndNodeCert(t *testing.T) {
	now := time.Now()
	root, err := NewRootCA(now)
	require.NoError(t, err)
	assert.Equal(t, RootCN, root.Cert.Subject.CommonName)
	assert.True(t, root.Cert.IsCA)
	assert.InDelta(t, RootCAValidity.Hours(), root.Cert.NotAfter.Sub(now).Hours(), 1)
	assert.Equal(t, x509.ECDSA, root.Cert.PublicKeyAlgorithm)

	nc, err := root.IssueNodeCert("node1", "cluster1", ManagerRole, []net.IP{net.ParseIP("127.0.0.1")}, 0, now)
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(nc.CertPEM, nc.KeyPEM)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: root.Pool(), DNSName: ManagerRole})
	require.NoError(t, err)
	assert.InDelta(t, NodeCertValidity.Hours(), leaf.NotAfter.Sub(now).Hours(), 1)
	id, err := IdentityOf(leaf)
	require.NoError(t, err)
	assert.Equal(t, Identity{NodeID: "node1", Role: ManagerRole, ClusterID: "cluster1"}, id)

	_, err = root.IssueNodeCert("n", "c", "swarm-admin", nil, 0, now)
	assert.True(t, errdefs.IsInvalidArgument(err))

	// A trust-only copy cannot sign.
	trust, err := ParseRootCA(root.CertPEM, nil)
	require.NoError(t, err)
	_, err = trust.IssueNodeCert("n", "c", WorkerRole, nil, 0, now)
	assert.True(t, errdefs.IsFailedPrecondition(err))

	other, _ := NewRootCA(now)
	_, err = ParseRootCA(root.CertPEM, other.KeyPEM)
	assert.True(t, errdefs.IsInvalidArgument(err), "mismatched key")
	_, err = ParseRootCA(nc.CertPEM, nil)
	assert.Error(t, err, "a leaf is not a root")
}

func TestJoinTokens(t *testing.T) {
	root, err := NewRootCA(time.Now())
	require.NoError(t, err)
	w, err := NewJoinToken(root)
	require.NoError(t, err)
	m, err := NewJoinToken(root)
	require.NoError(t, err)
	assert.NotEqual(t, w, m)
	assert.Regexp(t, regexp.MustCompile(`^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$`), w)
	// Same CA, same digest part.
	assert.Equal(t, strings.Split(w, "-")[2], strings.Split(m, "-")[2])

	tok, err := ParseJoinToken(w)
	require.NoError(t, err)
	assert.True(t, tok.Matches(root))
	other, _ := NewRootCA(time.Now())
	assert.False(t, tok.Matches(other))
	assert.True(t, SameToken(w, w))
	assert.False(t, SameToken(w, m))

	for _, bad := range []string{"", "SWMTKN-1-abc-def", "SWMTKN-2-" + w[9:], strings.ToUpper(w), w + "x", strings.Replace(w, "SWMTKN", "SWMTKX", 1)} {
		_, err := ParseJoinToken(bad)
		assert.True(t, errdefs.IsInvalidArgument(err), "%q", bad)
	}
}

func TestNodeFilesAndMutualTLS(t *testing.T) {
	now := time.Now()
	root, _ := NewRootCA(now)
	dir := filepath.Join(t.TempDir(), "certificates")
	_, err := LoadNode(dir)
	require.True(t, errdefs.IsNotFound(err))

	mgr, err := root.IssueNodeCert("mgr1", "c1", ManagerRole, []net.IP{net.ParseIP("127.0.0.1")}, 0, now)
	require.NoError(t, err)
	require.NoError(t, SaveNode(dir, root, mgr))
	st, err := os.Stat(filepath.Join(dir, NodeKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	node, err := LoadNode(dir)
	require.NoError(t, err)
	assert.Equal(t, "mgr1", node.Identity.NodeID)
	assert.Nil(t, node.Root.Key, "the CA key is not on disk")

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := PeerIdentity(r.TLS)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, id.NodeID+" "+id.Role)
	}))
	srv.TLS = node.ServerConfig()
	srv.StartTLS()
	defer srv.Close()

	// A worker of the same cluster is let in and identified.
	wdir := filepath.Join(t.TempDir(), "w")
	wc, _ := root.IssueNodeCert("wrk1", "c1", WorkerRole, nil, 0, now)
	require.NoError(t, SaveNode(wdir, root, wc))
	worker, err := LoadNode(wdir)
	require.NoError(t, err)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: worker.ClientConfig()}}
	resp, err := cl.Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "wrk1 swarm-worker", string(body))

	// No client certificate, or one from another CA: the handshake fails.
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: root.Pool(), ServerName: ManagerRole}}}
	_, err = anon.Get(srv.URL)
	assert.Error(t, err)
	evil, _ := NewRootCA(now)
	ec, _ := evil.IssueNodeCert("evil", "c1", ManagerRole, nil, 0, now)
	epair, _ := tls.X509KeyPair(ec.CertPEM, ec.KeyPEM)
	intruder := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{epair}, RootCAs: root.Pool(), ServerName: ManagerRole}}}
	_, err = intruder.Get(srv.URL)
	assert.Error(t, err)
}

func FuzzParseJoinToken(f *testing.F) {
	root, _ := NewRootCA(time.Now())
	tok, _ := NewJoinToken(root)
	f.Add(tok)
	f.Add("SWMTKN-1-")
	f.Add("SWMTKN-1-" + strings.Repeat("z", 50) + "-" + strings.Repeat("z", 25))
	f.Fuzz(func(t *testing.T, s string) {
		jt, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		if len(jt.CADigest) != 64 || len(jt.Secret) != secretLen {
			t.Fatalf("accepted %q as %+v", s, jt)
		}
	})
}
