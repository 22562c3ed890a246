// Command wharfd is wharf's daemon: it serves the Docker Engine API on top of
// the engine. Users normally start it as `wharf daemon`.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"wharf.io/wharf/api"
	"wharf.io/wharf/engine"
	"wharf.io/wharf/registry/remote"
	"wharf.io/wharf/runtime/execroot"
	"wharf.io/wharf/runtime/favordynmods"
)

// favorDynmods turns on the kernel's favordynmods cgroup option, saying
// what it did; a host without it runs containers all the same, only slower.
func favorDynmods(logger *slog.Logger) {
	mountpoint, changed, err := favordynmods.Enable()
	switch {
	case err != nil:
		logger.Info("cgroups: "+favordynmods.Option+" not turned on: container starts wait for the kernel", "err", err)
	case changed:
		logger.Info("cgroups: turned on "+favordynmods.Option+" for the whole host: moving a process into a cgroup no longer waits for an RCU grace period", "mount", mountpoint)
	default:
		logger.Debug("cgroups: "+favordynmods.Option+" already on", "mount", mountpoint)
	}
}

// stringList is a repeatable string flag (-H, --insecure-registry, -c).
type stringList []string

func (h *stringList) String() string     { return strings.Join(*h, ",") }
func (h *stringList) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "compose" {
		os.Exit(composeMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "registry" {
		os.Exit(registryMain(os.Args[2:]))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wharfd:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg       engine.Config
		hosts     stringList
		tlsOn     bool
		tlsVerify bool
		caFile    string
		certFile  string
		keyFile   string
		insecure  bool
		debug     bool
		logLevel  string
		showVer   bool
		dynmods   bool
	)
	fs := flag.NewFlagSet("wharfd", flag.ContinueOnError)
	fs.StringVar(&cfg.Root, "root", "/var/lib/wharf", "persistent state directory")
	fs.StringVar(&cfg.ExecRoot, "exec-root", "/run/wharf", "runtime state directory")
	fs.StringVar(&cfg.Runtime, "runtime", "runc", "default OCI runtime (runc or crun)")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "/wharf", "parent cgroup of all containers")
	fs.StringVar(&cfg.BridgeName, "bridge", "wharf0", "bridge of the default network (must not be Docker's docker0)")
	fs.StringVar(&cfg.BridgeSubnet, "bip", "", "subnet of the default bridge network (CIDR); empty picks a free /16")
	fs.StringVar(&cfg.NftTable, "nft-table", "wharf", "nftables table (family ip) wharf owns")
	fs.Var((*stringList)(&cfg.InsecureRegistries), "insecure-registry", "registry (host[:port] or CIDR) to reach over plain HTTP or unverified TLS (repeatable; loopback always is)")
	fs.StringVar(&cfg.RegistryCertsDir, "registry-certs-dir", remote.DefaultCertsDir, "per-registry CAs and client certificates, DIR/<host[:port]>/{*.crt,*.cert,*.key} (docker's certs.d)")
	fs.Var(&hosts, "H", "socket(s) to listen on: unix:///path or tcp://addr:port (repeatable)")
	fs.Var(&hosts, "host", "same as -H")
	fs.BoolVar(&tlsOn, "tls", false, "serve TCP with TLS")
	fs.BoolVar(&tlsVerify, "tlsverify", false, "serve TCP with TLS and require client certificates signed by --tlscacert")
	fs.StringVar(&caFile, "tlscacert", "", "CA certificate that client certificates must chain to")
	fs.StringVar(&certFile, "tlscert", "", "server certificate")
	fs.StringVar(&keyFile, "tlskey", "", "server key")
	fs.BoolVar(&insecure, "allow-insecure-tcp", false, "allow plain TCP on non-loopback addresses (dangerous: root access for anyone who can connect)")
	fs.BoolVar(&debug, "D", false, "debug logging")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&showVer, "version", false, "print the version and exit")
	fs.BoolVar(&dynmods, "cgroup-favordynmods", true, "turn on the kernel's favordynmods option on the host's cgroup2 hierarchy: each container start then skips a wait of about 10 ms in the kernel (see runtime/favordynmods)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if showVer {
		fmt.Println("wharfd", engine.Version)
		return nil
	}
	if len(hosts) == 0 {
		hosts = stringList{"unix://" + cfg.ExecRoot + "/wharf.sock"}
	}
	level := slog.LevelInfo
	level.UnmarshalText([]byte(logLevel))
	if debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var tlsCfg *tls.Config
	if tlsOn || tlsVerify {
		var err error
		if tlsCfg, err = api.TLSConfig(caFile, certFile, keyFile, tlsVerify); err != nil {
			return err
		}
	}
	// Runtime state goes in memory before anything (our socket included) is
	// put there; a tmpfs we mounted is taken away again if we fail to start.
	mounted, kept, err := execroot.Prepare(cfg.ExecRoot)
	if err != nil {
		return fmt.Errorf("exec-root: %w", err)
	}
	if kept != "" {
		logger.Warn("exec-root is on a disk and holds state, so it stays there: container starts pay for synchronous writes",
			"exec-root", cfg.ExecRoot, "holds", kept)
	}
	started := false
	if mounted {
		defer func() {
			if !started {
				execroot.Release(cfg.ExecRoot)
			}
		}()
	}
	if dynmods {
		favorDynmods(logger)
	}
	// Listen before opening the engine so that a second daemon on the same
	// socket fails fast without touching state; the engine then locks root.
	var listeners []net.Listener
	for _, h := range hosts {
		l, err := api.Listen(ctx, h, tlsCfg, insecure)
		if err != nil {
			return err
		}
		defer l.Close()
		listeners = append(listeners, l)
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	started = true
	logger.Info("wharfd started", "version", engine.Version, "hosts", hosts.String(), "root", cfg.Root,
		"exec-root", cfg.ExecRoot, "exec-root-mounted", mounted)
	return api.Serve(ctx, api.New(eng, api.WithLogger(logger), api.WithVersion(engine.Version)), listeners...)
}
