//go:build linux

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// subnet is a /24 for a test's user network, 10.<suite octet>.i.0/24: each
// suite has its own /16 (see suite.netOctet), so two suites running at the
// same time on one host never ask for overlapping subnets.
func subnet(i int) string { return netPrefix(i) + "0/24" }

// netPrefix is subnet(i) without its last octet, e.g. "10.93.77.".
func netPrefix(i int) string { return fmt.Sprintf("10.%d.%d.", env.netOctet, i) }

// freePort returns a host port nothing listens on right now.
func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostIP is the host's first global IPv4 address (not loopback).
func hostIP(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "addr", "show", "scope", "global").Output()
	require.NoError(t, err)
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[2] == "inet" && !strings.HasPrefix(f[1], "we2e") && !strings.HasPrefix(f[1], "wharf") {
			return strings.Split(f[3], "/")[0]
		}
	}
	t.Skip("no global IPv4 address on this host")
	return ""
}

// httpGet fetches url, retrying until the server answers (a container's
// httpd needs a moment to listen) or the deadline passes.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	eventually(t, func() bool {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	}, 20*time.Second, "GET %s", url)
	return body
}

const httpdPage = "wharf busybox" // contrib/mkimage/busybox.sh's /var/www/index.html

func TestPublishedPort(t *testing.T) {
	begin(t)
	port := freePort(t, "tcp")
	name := uniq(t, "")
	runDetached(t, "--name", name, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")

	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage, "via localhost")
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://%s:%d/", hostIP(t), port)), httpdPage, "via the host's address")
	// From another container, through the host's address.
	out := mustWharf(t, "run", "--rm", busybox, "wget", "-qO-", fmt.Sprintf("http://%s:%d/", hostIP(t), port))
	assert.Contains(t, out, httpdPage, "from another container")

	assert.Equal(t, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port), strings.TrimSpace(mustWharf(t, "port", name)))
	assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", port), strings.TrimSpace(mustWharf(t, "port", name, "80")))
	ps := mustWharf(t, "ps", "--filter", "name="+name, "--format", "{{.Ports}}")
	assert.Equal(t, fmt.Sprintf("0.0.0.0:%d->80/tcp", port), strings.TrimSpace(ps))

	// The same host port again: a clear error, exit 125, no container made.
	before := len(lines(mustWharf(t, "ps", "-a", "-q")))
	_, errOut, code := wharf(t, "run", "-d", "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f")
	assert.Equal(t, 125, code)
	assert.Contains(t, errOut, "port is already allocated")
	assert.Len(t, lines(mustWharf(t, "ps", "-a", "-q")), before, "no container left behind")
}

func TestPublishLoopbackOnlyAndUDP(t *testing.T) {
	begin(t)
	port := freePort(t, "tcp")
	runDetached(t, "-p", fmt.Sprintf("127.0.0.1:%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage)
	c := http.Client{Timeout: time.Second}
	_, err := c.Get(fmt.Sprintf("http://%s:%d/", hostIP(t), port))
	assert.Error(t, err, "a port bound to 127.0.0.1 is not reachable on the host's address")

	// A UDP server: busybox's nc has no UDP mode here, so mount a tiny one.
	helper := buildTestdata(t, "udprecv")
	uport := freePort(t, "udp")
	id := runDetached(t, "-p", fmt.Sprintf("%d:5353/udp", uport), "-v", helper+":/udprecv:ro", busybox, "/udprecv", "5353")
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", uport))
	require.NoError(t, err)
	defer conn.Close()
	eventually(t, func() bool {
		conn.Write([]byte("ping-udp\n"))
		out, _, _ := wharf(t, "logs", id)
		return strings.Contains(out, "ping-udp")
	}, 20*time.Second, "datagram reaches the container through the published udp port")
}

func TestPublishAll(t *testing.T) {
	begin(t)
	img := uniq(t, "img") + ":latest"
	b, err := readBusybox()
	require.NoError(t, err)
	_, errOut, code := wharfIn(t, strings.NewReader(string(b)), "import", "-c", "EXPOSE 80", "-", img)
	require.Equal(t, 0, code, errOut)
	t.Cleanup(func() { wharf(t, "rmi", "-f", img) })

	name := uniq(t, "")
	runDetached(t, "--name", name, "-P", img, "httpd", "-f", "-p", "80", "-h", "/var/www")
	mapping := strings.TrimSpace(mustWharf(t, "port", name, "80/tcp"))
	require.Regexp(t, `^0\.0\.0\.0:\d+$`, mapping)
	hostPort := strings.TrimPrefix(mapping, "0.0.0.0:")
	assert.Contains(t, httpGet(t, "http://127.0.0.1:"+hostPort+"/"), httpdPage)
}

func TestUserNetworkDNS(t *testing.T) {
	begin(t)
	net1 := uniq(t, "net")
	mustWharf(t, "network", "create", "--subnet", subnet(77), "--label", "e2e=1", net1)
	t.Cleanup(func() { wharf(t, "network", "rm", net1) })

	db := uniq(t, "db")
	runDetached(t, "--name", db, "--network", net1, "--network-alias", "cache", busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	ip := strings.TrimSpace(inspect(t, db, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"))
	require.True(t, strings.HasPrefix(ip, netPrefix(77)), "address from the network's subnet, got %q", ip)

	for _, name := range []string{db, "cache"} {
		out := mustWharf(t, "run", "--rm", "--network", net1, busybox, "nslookup", name)
		assert.Contains(t, out, "Address: "+ip, "nslookup %s", name)
	}
	body := mustWharf(t, "run", "--rm", "--network", net1, busybox, "wget", "-qO-", "http://"+db+"/")
	assert.Contains(t, body, httpdPage, "container to container by name")

	// The default bridge has no name resolution, as in Docker.
	_, _, code := wharf(t, "run", "--rm", busybox, "nslookup", db)
	assert.NotEqual(t, 0, code)

	// Static address, resolv.conf and hosts options.
	out := mustWharf(t, "run", "--rm", "--network", net1, "--ip", netPrefix(77)+"50", "--add-host", "db:10.0.0.5", busybox,
		"sh", "-c", "ip -4 addr show eth0; cat /etc/hosts")
	assert.Contains(t, out, netPrefix(77)+"50/24")
	assert.Contains(t, out, "10.0.0.5\tdb")
	out = mustWharf(t, "run", "--rm", "--dns", "1.2.3.4", busybox, "cat", "/etc/resolv.conf")
	assert.Contains(t, out, "nameserver 1.2.3.4")

	// A network with attached containers cannot go.
	_, errOut, code := wharf(t, "network", "rm", net1)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "active endpoints")
}

func TestNetworkCommandsAndBadInput(t *testing.T) {
	begin(t)
	n := uniq(t, "n")
	mustWharf(t, "network", "create", "--subnet", subnet(79), n)
	t.Cleanup(func() { wharf(t, "network", "rm", n) })
	assert.Contains(t, mustWharf(t, "network", "ls", "--format", "{{.Name}}"), n)
	assert.Equal(t, subnet(79), strings.TrimSpace(mustWharf(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", n)))

	for _, c := range []struct{ args []string }{
		{[]string{"network", "create", "--subnet", netPrefix(79) + "0/25", uniq(t, "overlap")}},
		{[]string{"network", "create", "--subnet", "10.300.0.0/24", uniq(t, "badcidr")}},
		{[]string{"network", "create", n}},
		{[]string{"network", "connect", uniq(t, "missing"), "nosuchcontainer"}},
		{[]string{"network", "rm", "bridge"}},
	} {
		_, errOut, code := wharf(t, c.args...)
		assert.NotEqual(t, 0, code, "%v should fail", c.args)
		assert.NotEmpty(t, errOut, "%v should say why", c.args)
	}
	_, _, code := wharf(t, "run", "--rm", "--network", uniq(t, "nosuchnet"), busybox, "true")
	assert.Equal(t, 125, code)

	// connect / disconnect a running container.
	ctr := uniq(t, "ctr")
	runDetached(t, "--name", ctr, busybox, "sleep", "300")
	mustWharf(t, "network", "connect", n, ctr)
	out := mustWharf(t, "exec", ctr, "ip", "-4", "-o", "addr")
	assert.Contains(t, out, netPrefix(79), "second interface on the connected network")
	mustWharf(t, "network", "disconnect", n, ctr)
	out = mustWharf(t, "exec", ctr, "ip", "-4", "-o", "addr")
	assert.NotContains(t, out, netPrefix(79))
}

func TestInternalNetworkHasNoWayOut(t *testing.T) {
	begin(t)
	n := uniq(t, "int")
	mustWharf(t, "network", "create", "--internal", "--subnet", subnet(81), n)
	t.Cleanup(func() { wharf(t, "network", "rm", n) })
	port := freePort(t, "tcp")
	l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, _, code := wharf(t, "run", "--rm", "--network", n, busybox, "nc", "-w", "2", hostIP(t), fmt.Sprint(port))
	assert.NotEqual(t, 0, code, "an internal network cannot reach the host")
	_, errOut, code := wharf(t, "run", "--rm", busybox, "nc", "-w", "2", hostIP(t), fmt.Sprint(port))
	assert.Equal(t, 0, code, "the default bridge reaches the host (outbound NAT): %s", errOut)
}

func TestPublishedPortSurvivesDaemonKill9(t *testing.T) {
	begin(t)
	port := freePort(t, "tcp")
	name := uniq(t, "")
	runDetached(t, "--name", name, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	kill9AndRestart(t, nil)
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage, "after the daemon's kill -9 and restart")
	mustWharf(t, "rm", "-f", name)
	eventually(t, func() bool { return len(env.networkLeaks()) == 0 }, 10*time.Second, "no network state left after rm: %v", env.networkLeaks())
}

// dnatRules returns the DNAT rules in the suite's nftables table that match
// host port port.
func dnatRules(t *testing.T, port int) []string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", env.nftTable).Output()
	if err != nil {
		return nil
	}
	var rules []string
	for _, l := range lines(string(out)) {
		if strings.Contains(l, "dnat") && strings.Contains(l, fmt.Sprintf("dport %d ", port)) {
			rules = append(rules, l)
		}
	}
	return rules
}

func TestNetworkInspectAndPrune(t *testing.T) {
	begin(t)
	used, unused := uniq(t, "used"), uniq(t, "unused")
	mustWharf(t, "network", "create", used)
	t.Cleanup(func() { wharf(t, "network", "rm", used) })
	mustWharf(t, "network", "create", "--label", "e2e=prune", unused)
	t.Cleanup(func() { wharf(t, "network", "rm", unused) })
	ctr := uniq(t, "ctr")
	id := runDetached(t, "--name", ctr, "--network", used, busybox, "sleep", "300")

	assert.Contains(t, mustWharf(t, "network", "inspect", "-f", "{{range $id, $c := .Containers}}{{$id}} {{$c.Name}}{{end}}", used), id+" "+ctr)
	assert.Equal(t, "bridge false", strings.TrimSpace(mustWharf(t, "network", "inspect", "-f", "{{.Driver}} {{.Internal}}", unused)))
	_, _, code := wharf(t, "network", "inspect", uniq(t, "nosuchnet"))
	assert.NotEqual(t, 0, code)

	out := mustWharf(t, "network", "prune", "-f")
	assert.Contains(t, out, unused, "an unused network is pruned")
	assert.NotContains(t, out, used, "a network in use is kept")
	names := mustWharf(t, "network", "ls", "--format", "{{.Name}}")
	assert.NotContains(t, names, unused)
	assert.Contains(t, names, used)
	for _, n := range []string{"bridge", "host", "none"} {
		assert.Contains(t, lines(names), n, "prune keeps the predefined networks")
	}
}

// TestNetworkTeardownIsExact checks that removing a published container and
// its user network leaves nothing behind: no veth, bridge, namespace file or
// DNAT rule.
func TestNetworkTeardownIsExact(t *testing.T) {
	begin(t)
	n := uniq(t, "exact")
	netID := mustWharf(t, "network", "create", "--subnet", subnet(83), n)
	t.Cleanup(func() { wharf(t, "network", "rm", n) })
	require.GreaterOrEqual(t, len(netID), 12)
	bridgeName := "wb-" + netID[:12]
	port := freePort(t, "tcp")
	name := uniq(t, "")
	runDetached(t, "--name", name, "--network", n, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage)

	// While it runs: its veth is on the network's bridge, its DNAT rule and
	// namespace file exist.
	var veths []string
	for link, master := range wharfLinks() {
		if master == bridgeName {
			veths = append(veths, link)
		}
	}
	assert.Len(t, veths, 1, "one veth on %s: %v", bridgeName, wharfLinks())
	assert.NotEmpty(t, dnatRules(t, port), "DNAT rule for port %d", port)
	ns, _ := os.ReadDir(filepath.Join(env.execRoot, "netns"))
	assert.NotEmpty(t, ns, "netns file while the container runs")

	mustWharf(t, "rm", "-f", name)
	// The engine releases a container's network in the background after its
	// exit (engine/lifecycle.go), so wait a moment rather than demand it at
	// once; `network rm` below waits for that release itself.
	eventually(t, func() bool { return len(dnatRules(t, port)) == 0 }, 5*time.Second,
		"no DNAT rule for a removed container's port: %v", dnatRules(t, port))
	for _, v := range veths {
		eventually(t, func() bool { return exec.Command("ip", "link", "show", v).Run() != nil }, 5*time.Second,
			"veth %s removed with its container", v)
	}
	mustWharf(t, "network", "rm", n)
	assert.Error(t, exec.Command("ip", "link", "show", bridgeName).Run(), "bridge %s removed with its network", bridgeName)
	assert.Empty(t, env.networkLeaks())
	c := http.Client{Timeout: time.Second}
	_, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	assert.Error(t, err, "the port is closed again")
}

// TestUserNetworkSurvivesDaemonKill9: a container on a user network keeps
// its address, name resolution and published port across a kill -9 and
// restart of the daemon (the embedded DNS is the daemon's).
func TestUserNetworkSurvivesDaemonKill9(t *testing.T) {
	begin(t)
	n := uniq(t, "k9net")
	mustWharf(t, "network", "create", "--subnet", subnet(85), n)
	t.Cleanup(func() { wharf(t, "network", "rm", n) })
	port := freePort(t, "tcp")
	web := uniq(t, "web")
	runDetached(t, "--name", web, "--network", n, "--network-alias", "k9web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	ip := strings.TrimSpace(inspect(t, web, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"))
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))

	kill9AndRestart(t, nil)
	assert.Equal(t, "running", state(t, web))
	assert.Equal(t, ip, strings.TrimSpace(inspect(t, web, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")))
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage)
	out := mustWharf(t, "run", "--rm", "--network", n, busybox, "nslookup", "k9web")
	assert.Contains(t, out, "Address: "+ip, "embedded DNS answers after the restart")
	// Judged by the exit code, not the client's stdout: right after a
	// restart the attached output of a fast `run --rm` was seen lost (exit 0,
	// empty stdout) 2 times in 10, which is not a networking matter.
	mustWharf(t, "run", "--rm", "--network", n, busybox, "sh", "-c", "wget -qO- http://"+web+"/ | grep -q '"+httpdPage+"'")

	mustWharf(t, "rm", "-f", web)
	mustWharf(t, "network", "rm", n)
	assert.Empty(t, dnatRules(t, port))
	assert.Empty(t, env.networkLeaks())
}

// TestPublishedPortReusableAfterRm: as with Docker, `rm -f` frees the host
// port for the very next run, even though the network release of the old
// container finishes in the background.
func TestPublishedPortReusableAfterRm(t *testing.T) {
	begin(t)
	port := freePort(t, "tcp")
	for i := 0; i < 3; i++ {
		name := uniq(t, fmt.Sprint(i))
		runDetached(t, "--name", name, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
		assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage, "round %d", i)
		mustWharf(t, "rm", "-f", name)
	}
	eventually(t, func() bool { return len(dnatRules(t, port)) == 0 }, 5*time.Second, "DNAT rules left: %v", dnatRules(t, port))
}
