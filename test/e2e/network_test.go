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
	helper := filepath.Join(t.TempDir(), "udprecv")
	build := exec.Command("go", "build", "-o", helper, "./test/e2e/testdata/udprecv")
	build.Dir = env.repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
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
	mustWharf(t, "network", "create", "--subnet", "10.77.0.0/24", "--label", "e2e=1", net1)
	t.Cleanup(func() { wharf(t, "network", "rm", net1) })

	db := uniq(t, "db")
	runDetached(t, "--name", db, "--network", net1, "--network-alias", "cache", busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	ip := strings.TrimSpace(inspect(t, db, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"))
	require.True(t, strings.HasPrefix(ip, "10.77.0."), "address from the network's subnet, got %q", ip)

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
	out := mustWharf(t, "run", "--rm", "--network", net1, "--ip", "10.77.0.50", "--add-host", "db:10.0.0.5", busybox,
		"sh", "-c", "ip -4 addr show eth0; cat /etc/hosts")
	assert.Contains(t, out, "10.77.0.50/24")
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
	mustWharf(t, "network", "create", "--subnet", "10.79.0.0/24", n)
	t.Cleanup(func() { wharf(t, "network", "rm", n) })
	assert.Contains(t, mustWharf(t, "network", "ls", "--format", "{{.Name}}"), n)
	assert.Equal(t, "10.79.0.0/24", strings.TrimSpace(mustWharf(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", n)))

	for _, c := range []struct{ args []string }{
		{[]string{"network", "create", "--subnet", "10.79.0.0/25", uniq(t, "overlap")}},
		{[]string{"network", "create", "--subnet", "10.79.300.0/24", uniq(t, "badcidr")}},
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
	assert.Contains(t, out, "10.79.0.", "second interface on the connected network")
	mustWharf(t, "network", "disconnect", n, ctr)
	out = mustWharf(t, "exec", ctr, "ip", "-4", "-o", "addr")
	assert.NotContains(t, out, "10.79.0.")
}

func TestInternalNetworkHasNoWayOut(t *testing.T) {
	begin(t)
	n := uniq(t, "int")
	mustWharf(t, "network", "create", "--internal", "--subnet", "10.81.0.0/24", n)
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

func TestDockerCLINetworking(t *testing.T) {
	begin(t)
	needDocker(t)
	port := freePort(t, "tcp")
	name := uniq(t, "")
	_, errOut, code := docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/var/www")
	require.Equal(t, 0, code, errOut)
	rmOnCleanup(t, name)
	assert.Contains(t, httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)), httpdPage)
	assert.Equal(t, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port), strings.TrimSpace(mustDocker(t, "port", name)))

	n := uniq(t, "dnet")
	mustDocker(t, "network", "create", n)
	assert.Contains(t, mustDocker(t, "network", "ls", "--format", "{{.Name}}"), n)
	peer := uniq(t, "peer")
	_, errOut, code = docker(t, "run", "-d", "--name", peer, "--network", n, busybox, "sleep", "300")
	require.Equal(t, 0, code, errOut)
	rmOnCleanup(t, peer)
	out := mustDocker(t, "run", "--rm", "--network", n, busybox, "ping", "-c", "1", "-W", "2", peer)
	assert.Contains(t, out, "1 packets received")
	mustDocker(t, "rm", "-f", peer)
	mustDocker(t, "network", "rm", n)
}
