// Command network measures HTTP throughput (wrk, keep-alive, loopback) to a
// server in a container namespace reached three ways in the same run: directly
// at the container's IP, through a port published by wharf's nft DNAT
// (127.0.0.1 and the host address), and through a userland proxy like
// docker-proxy. It prints a markdown table with ratios to direct. It builds
// everything in private namespaces under a temp dir and removes it on exit.
//
//	sudo go run ./bench/network [-d 5s] [-c 32] [-t 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mnet "github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	bolt "go.etcd.io/bbolt"

	"wharf.io/wharf/internal/ids"
	"wharf.io/wharf/network"
	"wharf.io/wharf/network/bridge"
)

var (
	duration    = flag.String("d", "5s", "wrk duration per case")
	connections = flag.Int("c", 32, "wrk connections")
	threads     = flag.Int("t", 2, "wrk threads")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("needs root")
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "wharf-netbench.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hostNS := filepath.Join(dir, "hostns")
	if err := bridge.CreateNetNS(hostNS); err != nil {
		return err
	}
	defer bridge.DeleteNetNS(hostNS)
	hostAddr := netip.MustParseAddr("203.0.113.1")
	if err := setupHost(hostNS, hostAddr); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := network.New(db, network.Config{ExecRoot: filepath.Join(dir, "exec"), BridgeName: "wbench0",
		TableName: "wharf-bench", HostNetNS: hostNS, Upstreams: []string{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ctx := context.Background()
	defer func() {
		_ = m.Uninstall(ctx)
		_ = m.Close()
	}()
	cid := ids.New()
	ep, err := m.Attach(ctx, network.AttachRequest{ContainerID: cid, ContainerName: "web", Network: "bridge",
		PortBindings: mnet.PortMap{mnet.MustParsePort("80/tcp"): {{HostPort: "4000"}}}})
	if err != nil {
		return err
	}
	defer m.Release(ctx, cid)

	body := []byte("hello from the container\n")
	srvLn, err := listenIn(m.NetNSPath(cid), "tcp4", ":80")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })}
	go srv.Serve(srvLn)
	defer srv.Close()

	target := netip.AddrPortFrom(ep.IPAddress, 80).String()
	proxyLn, err := listenIn(hostNS, "tcp4", "127.0.0.1:4100")
	if err != nil {
		return err
	}
	defer proxyLn.Close()
	go proxy(proxyLn, hostNS, target)

	cases := []struct{ name, url string }{
		{"direct to container IP", "http://" + target + "/"},
		{"published, nft DNAT, 127.0.0.1", "http://127.0.0.1:4000/"},
		{"published, nft DNAT, host address", "http://" + hostAddr.String() + ":4000/"},
		{"userland proxy (io.Copy), 127.0.0.1", "http://127.0.0.1:4100/"},
	}
	fmt.Printf("wrk -t%d -c%d -d%s, keep-alive; %s\n\n", *threads, *connections, *duration, cpuModel())
	fmt.Println("| path | requests/s | ratio to direct | p99 latency |")
	fmt.Println("|---|---|---|---|")
	var direct float64
	for i, c := range cases {
		rps, p99, err := wrk(hostNS, c.url)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if i == 0 {
			direct = rps
		}
		fmt.Printf("| %s | %.0f | %.0f %% | %s |\n", c.name, rps, 100*rps/direct, p99)
	}
	return attachLatency(ctx, m)
}

// attachLatency times what `run --rm` costs the network: Attach to the
// default bridge with one published port, then Release.
func attachLatency(ctx context.Context, m *network.Manager) error {
	const runs = 30
	var attach, release []time.Duration
	for i := 0; i < runs; i++ {
		cid := ids.New()
		t0 := time.Now()
		if _, err := m.Attach(ctx, network.AttachRequest{ContainerID: cid, Network: "bridge",
			PortBindings: mnet.PortMap{mnet.MustParsePort("80/tcp"): {{HostPort: ""}}}}); err != nil {
			return err
		}
		t1 := time.Now()
		if err := m.Release(ctx, cid); err != nil {
			return err
		}
		attach, release = append(attach, t1.Sub(t0)), append(release, time.Since(t1))
	}
	slices.Sort(attach)
	slices.Sort(release)
	fmt.Printf("\nAttach (default bridge, 1 published port) median %v p90 %v; Release median %v p90 %v (%d runs)\n",
		attach[runs/2].Round(10*time.Microsecond), attach[runs*9/10].Round(10*time.Microsecond),
		release[runs/2].Round(10*time.Microsecond), release[runs*9/10].Round(10*time.Microsecond), runs)
	return nil
}

func setupHost(path string, addr netip.Addr) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	return h.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}})
}

func listenIn(nsPath, netw, addr string) (net.Listener, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var ln net.Listener
	err = bridge.Do(ns, func() (err error) { ln, err = net.Listen(netw, addr); return err })
	return ln, err
}

// proxy is a minimal docker-proxy: one upstream connection per client,
// bytes copied both ways with half-close.
func proxy(ln net.Listener, hostNS, target string) {
	ns, err := netns.GetFromPath(hostNS)
	if err != nil {
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var up net.Conn
			if err := bridge.Do(ns, func() (err error) { up, err = net.Dial("tcp4", target); return err }); err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(up, c)
				_ = up.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(c, up)
			_ = c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re = regexp.MustCompile(`\s99%\s+(\S+)`)
)

func wrk(hostNS, url string) (float64, string, error) {
	out, err := exec.Command("nsenter", "--net="+hostNS, "wrk", "-t"+strconv.Itoa(*threads), "-c"+strconv.Itoa(*connections),
		"-d"+*duration, "--latency", url).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("wrk: %w: %s", err, out)
	}
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		return 0, "", errors.New("wrk: no Requests/sec in output: " + string(out))
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	p99 := "?"
	if m := p99Re.FindSubmatch(out); m != nil {
		p99 = string(m[1])
	}
	if strings.Contains(string(out), "Socket errors") {
		p99 += " (socket errors)"
	}
	return rps, p99, nil
}

func cpuModel() string {
	return fmt.Sprintf("%d CPUs", numCPU())
}

func numCPU() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "processor\t:")
}
