package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
)

const (
	// RootCAValidity is how long the root CA is valid: 20 years, as swarmkit.
	RootCAValidity = 20 * 365 * 24 * time.Hour
	// NodeCertValidity is a node certificate's default lifetime (docker's
	// default --cert-expiry of 90 days).
	NodeCertValidity = 90 * 24 * time.Hour
	// RootCN is the root's common name, as swarmkit names it.
	RootCN = "swarm-ca"

	// ManagerRole and WorkerRole are the OUs of node certificates.
	ManagerRole = "swarm-manager"
	WorkerRole  = "swarm-worker"
)

// backdate covers small clock differences between nodes.
const backdate = 5 * time.Minute

// RootCA is the cluster's signing authority. Key is nil on a node that
// only trusts the CA.
type RootCA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
	KeyPEM  []byte
	// Digest is the sha256 of CertPEM; join tokens carry it so a joining
	// node can check it talks to the right cluster.
	Digest digest.Digest
}

// NewRootCA creates a self-signed root valid from now for RootCAValidity.
func NewRootCA(now time.Time) (*RootCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: RootCN},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(RootCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return ParseRootCA(certPEM, keyPEM)
}

// ParseRootCA loads a root from PEM; keyPEM may be empty (trust only).
func ParseRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("root CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("root CA: certificate is not a CA: %w", errdefs.ErrInvalidArgument)
	}
	ca := &RootCA{Cert: cert, CertPEM: certPEM, Digest: digest.FromBytes(certPEM)}
	if len(keyPEM) > 0 {
		key, err := parseKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("root CA key: %w", err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return nil, fmt.Errorf("root CA key does not match its certificate: %w", errdefs.ErrInvalidArgument)
		}
		ca.Key, ca.KeyPEM = key, keyPEM
	}
	return ca, nil
}

// Pool is a cert pool holding only this root.
func (ca *RootCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// NodeCert is what IssueNodeCert makes: a certificate and its key in PEM.
type NodeCert struct {
	CertPEM []byte
	KeyPEM  []byte
}

// IssueNodeCert makes a key and a certificate for a node. role is
// ManagerRole or WorkerRole; ips are the addresses the node serves on
// (its advertise address), added as SANs so peers can verify it by IP.
// validity 0 means NodeCertValidity.
func (ca *RootCA) IssueNodeCert(nodeID, clusterID, role string, ips []net.IP, validity time.Duration, now time.Time) (NodeCert, error) {
	if ca.Key == nil {
		return NodeCert{}, fmt.Errorf("this node cannot sign certificates: no CA key: %w", errdefs.ErrFailedPrecondition)
	}
	if role != ManagerRole && role != WorkerRole {
		return NodeCert{}, fmt.Errorf("invalid node role %q: %w", role, errdefs.ErrInvalidArgument)
	}
	if nodeID == "" || clusterID == "" {
		return NodeCert{}, fmt.Errorf("node certificate needs a node and a cluster ID: %w", errdefs.ErrInvalidArgument)
	}
	if validity == 0 {
		validity = NodeCertValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return NodeCert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: nodeID, OrganizationalUnit: []string{role}, Organization: []string{clusterID}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		// Every node is both: it serves (managers) and dials (everyone).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// swarmkit names a node by its role and ID; peers dial by IP.
		DNSNames:    []string{role, nodeID},
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return NodeCert{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return NodeCert{}, err
	}
	return NodeCert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Identity is who a verified node certificate names.
type Identity struct {
	NodeID    string
	Role      string // ManagerRole or WorkerRole
	ClusterID string
}

// IdentityOf reads the identity of a certificate (already verified
// against the root by the TLS handshake).
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	id := Identity{NodeID: cert.Subject.CommonName}
	if len(cert.Subject.OrganizationalUnit) == 1 {
		id.Role = cert.Subject.OrganizationalUnit[0]
	}
	if len(cert.Subject.Organization) == 1 {
		id.ClusterID = cert.Subject.Organization[0]
	}
	if id.NodeID == "" || id.ClusterID == "" || (id.Role != ManagerRole && id.Role != WorkerRole) {
		return Identity{}, fmt.Errorf("certificate %q is not a swarm node certificate: %w", cert.Subject, errdefs.ErrPermissionDenied)
	}
	return id, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("ca: no randomness: %v", err))
	}
	return n
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate: %w", errdefs.ErrInvalidArgument)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return cert, nil
}

func parseKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("no PEM key: %w", errdefs.ErrInvalidArgument)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return key, nil
}

// Fingerprint is the sha256 of a certificate's DER, hex (for logs).
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return fmt.Sprintf("%x", sum)
}
