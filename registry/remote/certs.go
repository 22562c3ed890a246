package remote

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// DefaultCertsDir is where wharfd looks for per-registry TLS material,
// docker's /etc/docker/certs.d for wharf: <dir>/<host[:port]>/ holds CA
// certificates (*.crt) the registry's certificate may chain to, besides the
// system's, and client certificates (*.cert with the matching *.key).
const DefaultCertsDir = "/etc/wharf/certs.d"

// WithCertsDir makes c trust, for each registry, the CAs and present the
// client certificates below dir/<host[:port]>/ ("" reads none). It
// returns c.
func (c *Client) WithCertsDir(dir string) *Client {
	c.certsDir = dir
	return c
}

// hostTransports caches the transports built for a registry's certs.d
// directory, keyed by the directory and what it held, so that a
// certificate added or replaced is used without a daemon restart, as
// docker reads certs.d on each pull and push.
var hostTransports sync.Map // string → *http.Transport

// certsTransport is the transport for host when certs.d has a directory
// for it (nil when it has none); insecure keeps its client certificates
// but skips verifying the registry's.
func (c *Client) certsTransport(host string, insecure bool) (*http.Transport, error) {
	if c.certsDir == "" || host == "" || strings.ContainsAny(host, `/\`) || host == "." || host == ".." {
		return nil, nil
	}
	dir := filepath.Join(c.certsDir, host)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry certificates for %s: %w", host, err)
	}
	key := fmt.Sprintf("%s|%v", dir, insecure)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			key += fmt.Sprintf("|%s %d %d", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	if t, ok := hostTransports.Load(key); ok {
		return t.(*http.Transport), nil
	}
	cfg, err := loadCertsDir(dir, ents)
	if err != nil {
		return nil, fmt.Errorf("registry certificates for %s: %w", host, err)
	}
	cfg.InsecureSkipVerify = insecure //nolint:gosec // --insecure-registry asks for it
	t := baseTransport().Clone()
	t.TLSClientConfig = cfg
	hostTransports.Store(key, t)
	return t, nil
}

// loadCertsDir reads one certs.d/<host> directory the way docker does:
// *.crt are CAs, added to the system's; each *.cert is a client
// certificate whose key is the *.key of the same name.
func loadCertsDir(dir string, ents []fs.DirEntry) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		switch filepath.Ext(n) {
		case ".crt":
			if cfg.RootCAs == nil {
				pool, err := x509.SystemCertPool()
				if err != nil {
					pool = x509.NewCertPool()
				}
				cfg.RootCAs = pool
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificate: %w", p, errdefs.ErrInvalidArgument)
			}
		case ".cert":
			keyName := strings.TrimSuffix(n, ".cert") + ".key"
			if !has[keyName] {
				return nil, fmt.Errorf("missing key %s for client certificate %s: %w", keyName, n, errdefs.ErrInvalidArgument)
			}
			pair, err := tls.LoadX509KeyPair(p, filepath.Join(dir, keyName))
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %v: %w", p, err, errdefs.ErrInvalidArgument)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case ".key":
			if !has[strings.TrimSuffix(n, ".key")+".cert"] {
				return nil, fmt.Errorf("missing client certificate %s for key %s: %w", strings.TrimSuffix(n, ".key")+".cert", n, errdefs.ErrInvalidArgument)
			}
		}
	}
	return cfg, nil
}
