package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/term"
	digest "github.com/opencontainers/go-digest"

	"wharf.io/wharf/registry/auth"
	"wharf.io/wharf/registry/server"
	"wharf.io/wharf/registry/server/storage"
)

const registryUsage = `usage: wharf registry COMMAND

  serve     --addr :5000 --root DIR [--htpasswd FILE] [--tls-cert F --tls-key F] [--realm-host URL] [--allow-sparse] [--max-blob-size 64GiB]
  htpasswd  add FILE USER        (password from stdin, or prompted on a terminal)
  gc        --root DIR [--dry-run] [--stale-uploads 24h]  (the server must be stopped)`

// registryMain is `wharfd registry serve|htpasswd|gc` (`wharf registry …`).
func registryMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, registryUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = registryServe(args[1:])
	case "htpasswd":
		err = registryHtpasswd(args[1:])
	case "gc":
		err = registryGC(args[1:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Println(registryUsage)
		return 0
	default:
		fmt.Fprintln(os.Stderr, registryUsage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
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
	htpasswd := fs.String("htpasswd", "", "htpasswd file (bcrypt): require sign-in (Basic or Bearer tokens from /token); users push only below their own name")
	cert := fs.String("tls-cert", "", "TLS certificate (PEM)")
	key := fs.String("tls-key", "", "TLS private key (PEM)")
	realmHost := fs.String("realm-host", "", "address clients reach this registry at, for the token realm (default: the Host of each request)")
	service := fs.String("service", "wharf-registry", "service name in token challenges and tokens")
	sparse := fs.Bool("allow-sparse", false, "accept manifests whose layers or index entries were not pushed")
	maxBlob := fs.String("max-blob-size", "64GiB", "largest blob a client may upload")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (*cert == "") != (*key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	maxBlobSize, err := units.RAMInBytes(*maxBlob)
	if err != nil || maxBlobSize <= 0 {
		return fmt.Errorf("--max-blob-size %q: want a size such as 10GiB", *maxBlob)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "registry")
	// Held while serving: gc refuses to sweep under a running server.
	st, unlock, err := openLockedStorage(*root)
	if err != nil {
		return err
	}
	defer unlock()
	opts := server.Options{AllowSparse: *sparse, MaxBlobSize: maxBlobSize, Log: log}
	if *htpasswd != "" {
		users, err := auth.LoadHtpasswd(*htpasswd)
		if err != nil {
			return err
		}
		tokens, err := auth.LoadOrCreateTokenIssuer(filepath.Join(*root, "_auth", "token-key.pem"), *service)
		if err != nil {
			return err
		}
		a := &auth.Authorizer{Users: users, Tokens: tokens, RealmHost: *realmHost}
		opts.Auth, opts.Token = a, http.HandlerFunc(a.ServeToken)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: server.New(st, opts), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil {
			log.Warn("registry shutdown", "err", err)
		}
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

// openLockedStorage opens the registry's storage and takes its lock, which
// serve holds while running and gc needs to sweep: one of them at a time.
func openLockedStorage(root string) (*storage.Store, func(), error) {
	st, err := storage.New(root)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := st.Lock()
	if err != nil {
		return nil, nil, err
	}
	return st, unlock, nil
}

func registryHtpasswd(args []string) error {
	if len(args) != 3 || args[0] != "add" {
		return errors.New("usage: wharf registry htpasswd add FILE USER (password on stdin, or prompted on a terminal)")
	}
	file, user := args[1], args[2]
	users, err := auth.LoadHtpasswd(file)
	if errdefs.IsNotFound(err) {
		users, err = auth.ParseHtpasswd(nil)
	}
	if err != nil {
		return err
	}
	// On a terminal the password is prompted for without echo.
	fd, isTerm := term.GetFdInfo(os.Stdin)
	if isTerm {
		fmt.Fprintf(os.Stderr, "Password for %s: ", user)
		// Refuse rather than echo the password if the terminal will not stop echoing.
		st, err := term.SaveState(fd)
		if err != nil {
			return fmt.Errorf("reading the password from the terminal: %w", err)
		}
		defer term.RestoreTerminal(fd, st)
		if err := term.DisableEcho(fd, st); err != nil {
			return fmt.Errorf("reading the password from the terminal: %w", err)
		}
	}
	line, rerr := bufio.NewReader(os.Stdin).ReadString('\n')
	if isTerm {
		fmt.Fprintln(os.Stderr)
	}
	if rerr != nil && line == "" {
		return fmt.Errorf("reading the password from stdin: %w", rerr)
	}
	if err := users.Set(user, strings.TrimRight(line, "\r\n")); err != nil {
		return err
	}
	return users.Save(file)
}

func registryGC(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wharf registry gc", flag.ContinueOnError)
	root := fs.String("root", "/var/lib/wharf-registry", "storage directory")
	dryRun := fs.Bool("dry-run", false, "print what would be removed, remove nothing")
	stale := fs.Duration("stale-uploads", 24*time.Hour, "drop unfinished uploads older than this (0 keeps them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*root, "blobs")); err != nil {
		return fmt.Errorf("%s is not a registry root: %w", *root, err)
	}
	st, unlock, err := openLockedStorage(*root)
	if err != nil {
		return err
	}
	defer unlock()
	verb, dropVerb := "removed", "dropped"
	if *dryRun {
		verb, dropVerb = "would remove", "would drop"
	}
	res, err := st.GC(context.Background(), storage.GCOptions{
		DryRun:       *dryRun,
		StaleUploads: *stale,
		Removed: func(d digest.Digest, size int64) {
			fmt.Fprintf(out, "%s blob %s (%s)\n", verb, d, units.BytesSize(float64(size)))
		},
		StaleUpload: func(u storage.Upload) {
			fmt.Fprintf(out, "%s stale upload %s to %s (%s, started %s)\n", dropVerb, u.ID, u.Repository,
				units.BytesSize(float64(u.Offset)), u.Started.Format(time.RFC3339))
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d blobs referenced, %d %s (%s)", res.Marked, res.Removed, verb, units.BytesSize(float64(res.RemovedBytes)))
	if res.Uploads > 0 {
		dropped := "dropped"
		if *dryRun {
			dropped = "would be dropped"
		}
		fmt.Fprintf(out, ", %d stale uploads %s", res.Uploads, dropped)
	}
	fmt.Fprintln(out)
	return nil
}
