package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moby/term"

	"wharf.io/wharf/registry/auth"
	"wharf.io/wharf/registry/server"
)

// registryMain is `wharfd registry serve|htpasswd` (`wharf registry …`).
func registryMain(args []string) int {
	usage := "usage: wharf registry serve [--addr :5000] [--root DIR] [--htpasswd FILE] [--tls-cert F --tls-key F]\n       wharf registry htpasswd add FILE USER"
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = registryServe(args[1:])
	case "htpasswd":
		err = registryHtpasswd(args[1:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wharf registry:", err)
		return 1
	}
	return 0
}

func registryServe(args []string) error {
	fs := flag.NewFlagSet("wharf registry serve", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "address to listen on")
	root := fs.String("root", "/var/lib/wharf-registry", "storage directory")
	htpasswd := fs.String("htpasswd", "", "htpasswd file (bcrypt): require sign-in; users push below their own name")
	cert := fs.String("tls-cert", "", "TLS certificate")
	key := fs.String("tls-key", "", "TLS key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "registry")
	var authn server.Authenticator
	if *htpasswd != "" {
		users, err := auth.LoadHtpasswd(*htpasswd)
		if err != nil {
			return err
		}
		authn = auth.Basic{Users: users}
	}
	h, err := server.New(*root, authn, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Info("registry listening", "addr", ln.Addr().String(), "root", *root, "auth", *htpasswd != "", "tls", *cert != "")
	if *cert != "" {
		err = srv.ServeTLS(ln, *cert, *key)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func registryHtpasswd(args []string) error {
	if len(args) != 3 || args[0] != "add" {
		return errors.New("usage: wharf registry htpasswd add FILE USER (password on stdin or prompted)")
	}
	file, user := args[1], args[2]
	users, err := auth.LoadHtpasswd(file)
	if errors.Is(err, os.ErrNotExist) {
		users, err = auth.ParseHtpasswd(nil)
	}
	if err != nil {
		return err
	}
	// The password comes from stdin; on a terminal it is prompted for
	// without echo.
	fd, isTerm := term.GetFdInfo(os.Stdin)
	if isTerm {
		fmt.Fprintf(os.Stderr, "Password for %s: ", user)
		if st, err := term.SaveState(fd); err == nil {
			term.DisableEcho(fd, st)
			defer term.RestoreTerminal(fd, st)
		}
	}
	line, rerr := bufio.NewReader(os.Stdin).ReadString('\n')
	if isTerm {
		fmt.Fprintln(os.Stderr)
	}
	if rerr != nil && line == "" {
		return fmt.Errorf("reading the password from stdin: %w", rerr)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("empty password")
	}
	if err := users.Set(user, password); err != nil {
		return err
	}
	return os.WriteFile(file, users.Bytes(), 0o600)
}
