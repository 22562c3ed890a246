package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// SocketGroup is the group given access to the unix socket when it exists
// (docker's "docker" group); otherwise the socket stays root's.
const SocketGroup = "wharf"

const (
	defaultPlainPort = "2375"
	defaultTLSPort   = "2376"
)

// Listen opens the API endpoint for host, one of
//
//	unix:///path/to/sock   socket mode 0660, group SocketGroup if it exists
//	tcp://host[:port]      with tlsConfig, mutual TLS; without it only on a
//	                       loopback address unless allowInsecureTCP
//
// A unix socket left over from a dead daemon is replaced; one that a live
// daemon still answers on is not (errdefs.ErrConflict).
func Listen(ctx context.Context, host string, tlsConfig *tls.Config, allowInsecureTCP bool) (net.Listener, error) {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		return nil, fmt.Errorf("invalid host %q: expected unix:///path or tcp://host:port: %w", host, errdefs.ErrInvalidArgument)
	}
	switch proto {
	case "unix":
		return listenUnix(ctx, addr)
	case "tcp":
		return listenTCP(ctx, addr, tlsConfig, allowInsecureTCP)
	}
	return nil, fmt.Errorf("invalid host %q: unsupported protocol %q: %w", host, proto, errdefs.ErrInvalidArgument)
}

func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("invalid unix socket path %q: must be absolute: %w", path, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := removeStaleSocket(ctx, path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	gid := 0
	if g, err := user.LookupGroup(SocketGroup); err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			gid = n
		}
	}
	// The socket gives root-equivalent power: never wider than owner+group.
	if err := os.Chown(path, 0, gid); err != nil && os.Geteuid() == 0 {
		l.Close()
		return nil, fmt.Errorf("chown %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// removeStaleSocket deletes a socket file nobody answers on. Anything that
// is not a socket is left alone, and a live daemon is an error.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: %w", path, errdefs.ErrConflict)
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		conn.Close()
		return fmt.Errorf("another daemon is listening on %s: %w", path, errdefs.ErrConflict)
	}
	// ECONNREFUSED: the socket has no listener (its daemon died).
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

func listenTCP(ctx context.Context, addr string, tlsConfig *tls.Config, allowInsecure bool) (net.Listener, error) {
	// Accept "tcp://host:port/" as docker does.
	addr = strings.TrimSuffix(addr, "/")
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: docker's defaults.
		h, port = addr, defaultPlainPort
		if tlsConfig != nil {
			port = defaultTLSPort
		}
		if u, perr := url.Parse("tcp://" + addr); perr != nil || u.Port() != "" {
			return nil, fmt.Errorf("invalid tcp address %q: %w", addr, errdefs.ErrInvalidArgument)
		}
		h = strings.Trim(h, "[]")
	}
	if tlsConfig == nil && !allowInsecure && !isLoopback(h) {
		return nil, fmt.Errorf("refusing to serve the API on %s without TLS: anyone who can reach it controls the host; use TLS with client verification, or a loopback address: %w",
			net.JoinHostPort(h, port), errdefs.ErrInvalidArgument)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(h, port))
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		return tls.NewListener(l, tlsConfig), nil
	}
	return l, nil
}

// isLoopback reports whether host only ever resolves to loopback. An empty
// host means all interfaces.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSConfig builds the server TLS configuration from PEM files. With verify
// (--tlsverify) clients must present a certificate signed by ca; without it
// the connection is encrypted but clients are not authenticated.
func TLSConfig(ca, cert, key string, verify bool) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %s: %w", err.Error(), errdefs.ErrInvalidArgument)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.NoClientCert,
	}
	if verify {
		if ca == "" {
			return nil, fmt.Errorf("client verification needs a CA certificate: %w", errdefs.ErrInvalidArgument)
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates found in %s: %w", ca, errdefs.ErrInvalidArgument)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// shutdownGrace is how long Serve lets ordinary requests finish after ctx is
// cancelled; streams (events, logs -f, wait, stats) end at once.
const shutdownGrace = 10 * time.Second

// Serve answers API requests on every listener until ctx is cancelled, then
// shuts down gracefully: listeners close, streaming responses end, ordinary
// requests get shutdownGrace to finish. Hijacked attach/exec sessions are
// left running (their containers keep going without the daemon's help).
// The error is the first listener failure, or nil after a clean shutdown.
func Serve(ctx context.Context, handler http.Handler, listeners ...net.Listener) error {
	if len(listeners) == 0 {
		return fmt.Errorf("no listeners to serve on: %w", errdefs.ErrInvalidArgument)
	}
	// stopping ends streams both on ctx and when a listener fails.
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stopKey{}, stopping)
		},
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve on %s: %w", l.Addr(), err)
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	wg.Wait()
	return serveErr
}
