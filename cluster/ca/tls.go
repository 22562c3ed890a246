package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"

	"wharf.io/wharf/internal/atomicfile"
)

// File names under <root>/swarm/certificates, as docker names them.
const (
	RootCAFile   = "swarm-root-ca.crt"
	NodeCertFile = "swarm-node.crt"
	NodeKeyFile  = "swarm-node.key"
)

// NodeFiles are the paths of a node's TLS material in dir.
func NodeFiles(dir string) (caFile, certFile, keyFile string) {
	return filepath.Join(dir, RootCAFile), filepath.Join(dir, NodeCertFile), filepath.Join(dir, NodeKeyFile)
}

// SaveNode writes the root CA certificate and the node's pair to dir
// atomically; the key is readable by root only.
func SaveNode(dir string, root *RootCA, nc NodeCert) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caFile, certFile, keyFile := NodeFiles(dir)
	if err := atomicfile.WriteFile(caFile, root.CertPEM, 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(keyFile, nc.KeyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(certFile, nc.CertPEM, 0o644)
}

// Node is a node's loaded TLS identity.
type Node struct {
	Root     *RootCA // trust only (no key)
	Cert     tls.Certificate
	Identity Identity
}

// LoadNode reads what SaveNode wrote; NotFound when dir holds none.
func LoadNode(dir string) (*Node, error) {
	caFile, certFile, keyFile := NodeFiles(dir)
	caPEM, err := os.ReadFile(caFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no swarm certificates in %s: %w", dir, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	root, err := ParseRootCA(caPEM, nil)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: root.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("node certificate is not signed by the swarm root CA: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	pair.Leaf = leaf
	id, err := IdentityOf(leaf)
	if err != nil {
		return nil, err
	}
	return &Node{Root: root, Cert: pair, Identity: id}, nil
}

// ServerConfig is the manager listener's TLS: it presents the node's
// certificate and accepts only clients with a certificate from the root.
func (n *Node) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{n.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    n.Root.Pool(),
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientConfig is how a node dials a manager: with its own certificate,
// trusting only the root. Managers are verified by the role name every
// manager certificate carries, not by address, as swarmkit does.
func (n *Node) ClientConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{n.Cert},
		RootCAs:      n.Root.Pool(),
		ServerName:   ManagerRole,
		MinVersion:   tls.VersionTLS12,
	}
}

// PeerIdentity is the identity of the verified client certificate of a
// TLS connection (PermissionDenied when there is none).
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("no verified client certificate: %w", errdefs.ErrPermissionDenied)
	}
	return IdentityOf(cs.VerifiedChains[0][0])
}
