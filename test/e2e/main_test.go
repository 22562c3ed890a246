//go:build linux

package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"wharf.io/wharf/internal/testutil"
)

// suite is the state shared by all tests: one private daemon and its dirs.
type suite struct {
	tmp          string // everything the suite creates lives below here
	bin          string // freshly built wharf, wharfd, wharf-shim
	root         string // daemon --root
	execRoot     string // daemon --exec-root
	sock         string
	logPath      string // daemon stdout+stderr, appended across restarts
	cgroupParent string // e.g. /wharf-e2e-1234, below every cgroup v1 hierarchy
	bridge       string // the daemon's default bridge, never the host's wharf0
	hadWharf0    bool   // whether the host had wharf0 before the suite ran
	nftTable     string // the daemon's nftables table
	// wharf-named links (veths "wv…", user-network bridges "wb-…") that
	// existed before the suite started: another daemon's, never a leak.
	linksAtStart map[string]bool
	// netOctet picks the suite's own 10.<netOctet>.0.0/16 for the subnets
	// tests give their user networks (e2e tests run concurrently with other
	// suites on shared machines).
	netOctet     int
	dockerConfig string
	repo         string

	mu         sync.Mutex
	daemon     *exec.Cmd
	daemonDone chan struct{}
}

var env *suite

const (
	busybox        = "busybox:latest"
	cmdTimeout     = 90 * time.Second
	daemonDeadline = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(mainRun(m))
}

func mainRun(m *testing.M) (code int) {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipping all tests: they need root (run as root, e.g. via `make test`)")
		return 0
	}
	if _, err := exec.LookPath("runc"); err != nil {
		fmt.Println("e2e: skipping all tests: runc not installed (make deps)")
		return 0
	}
	s, err := newSuite()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		return 1
	}
	env = s
	defer func() {
		if code != 0 {
			s.dumpLog(os.Stderr, 300)
		}
		if left := s.teardown(); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "e2e: teardown could not remove:", strings.Join(left, "; "))
			code = 1
		}
	}()
	if err := s.setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		return 1
	}
	code = m.Run()
	if leaks := s.leakCheck(); len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "e2e: LEAKS after all tests:")
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "  -", l)
		}
		code = 1
	}
	return code
}

func newSuite() (*suite, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	repo := filepath.Dir(strings.TrimSpace(string(out)))
	tmp, err := os.MkdirTemp("", "wharf-e2e-")
	if err != nil {
		return nil, err
	}
	s := &suite{
		tmp:          tmp,
		bin:          filepath.Join(tmp, "bin"),
		root:         filepath.Join(tmp, "root"),
		execRoot:     filepath.Join(tmp, "run"),
		logPath:      filepath.Join(tmp, "wharfd.log"),
		cgroupParent: fmt.Sprintf("/wharf-e2e-%d", os.Getpid()),
		bridge:       fmt.Sprintf("we2e%d", os.Getpid()%100000),
		nftTable:     fmt.Sprintf("wharf_e2e_%d", os.Getpid()),
		dockerConfig: filepath.Join(tmp, "docker-config"),
		repo:         repo,
	}
	s.sock = filepath.Join(s.execRoot, "wharf.sock")
	s.hadWharf0 = exec.Command("ip", "link", "show", "wharf0").Run() == nil
	return s, nil
}

func (s *suite) setup() error {
	fmt.Println("e2e: working in", s.tmp)
	for _, d := range []string{s.bin, s.dockerConfig} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-o", s.bin+"/", "./cmd/wharf", "./cmd/wharfd", "./cmd/wharf-shim")
	build.Dir = s.repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	s.netOctet = pickNetOctet(os.Getpid())
	s.linksAtStart = map[string]bool{}
	for name := range wharfLinks() {
		s.linksAtStart[name] = true
	}
	if err := s.startDaemon(); err != nil {
		return err
	}
	// Import busybox the way the README tells users to.
	imp := exec.Command("/bin/sh", "-c", "set -e; "+filepath.Join(s.repo, "contrib/mkimage/busybox.sh")+" | "+filepath.Join(s.bin, "wharf")+" import - "+busybox)
	imp.Env = s.clientEnv()
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("import busybox: %v\n%s", err, out)
	}
	return nil
}

func (s *suite) daemonArgs() []string {
	return []string{
		"--root", s.root,
		"--exec-root", s.execRoot,
		"-H", "unix://" + s.sock,
		"--cgroup-parent", s.cgroupParent,
		"--bridge", s.bridge,
		"--nft-table", s.nftTable,
		"--log-level", "debug",
	}
}

// startDaemon starts wharfd and waits until /_ping answers.
func (s *suite) startDaemon() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n==== e2e: starting wharfd %s at %s\n", strings.Join(s.daemonArgs(), " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(s.bin, "wharfd"), s.daemonArgs()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PATH="+s.bin+":"+os.Getenv("PATH"))
	// Own process group: a Ctrl-C of `go test` must not reach the daemon
	// before the suite's teardown has run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.daemon, s.daemonDone = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(daemonDeadline)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("wharfd exited during start-up (%v); log:\n%s", cmd.ProcessState, s.logTail(40))
		default:
		}
		if s.ping() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("wharfd did not answer /_ping within %s; log:\n%s", daemonDeadline, s.logTail(40))
}

func (s *suite) daemonRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemon == nil {
		return false
	}
	select {
	case <-s.daemonDone:
		return false
	default:
		return true
	}
}

func (s *suite) daemonPid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemon == nil {
		return 0
	}
	return s.daemon.Process.Pid
}

// killDaemon sends sig to wharfd and waits up to timeout for it to exit,
// then SIGKILLs it.
func (s *suite) killDaemon(sig syscall.Signal, timeout time.Duration) {
	s.mu.Lock()
	cmd, done := s.daemon, s.daemonDone
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(timeout):
	}
	_ = cmd.Process.Kill()
	<-done
}

func (s *suite) ping() bool {
	c := s.httpClient()
	resp, err := c.Get("http://wharf/_ping")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (s *suite) httpClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", s.sock)
			},
		},
	}
}

func (s *suite) clientEnv() []string {
	return append(os.Environ(),
		"WHARF_HOST=unix://"+s.sock,
		"DOCKER_HOST=unix://"+s.sock,
		"DOCKER_CONFIG="+s.dockerConfig,
		"PATH="+s.bin+":"+os.Getenv("PATH"),
	)
}

func (s *suite) logSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *suite) logFrom(off int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

func (s *suite) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *suite) dumpLog(w io.Writer, n int) {
	fmt.Fprintf(w, "---- last %d lines of the daemon log (%s) ----\n%s\n---- end of daemon log ----\n", n, s.logPath, s.logTail(n))
}

// rmAllContainers removes every container of the test daemon.
func (s *suite) rmAllContainers() (int, error) {
	cli := filepath.Join(s.bin, "wharf")
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	ls := exec.CommandContext(ctx, cli, "ps", "-a", "-q", "--no-trunc")
	ls.Env = s.clientEnv()
	out, err := ls.Output()
	if err != nil {
		return 0, fmt.Errorf("ps -a -q: %w", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return 0, nil
	}
	rm := exec.CommandContext(ctx, cli, append([]string{"rm", "-f"}, ids...)...)
	rm.Env = s.clientEnv()
	if b, err := rm.CombinedOutput(); err != nil {
		return len(ids), fmt.Errorf("rm -f: %v: %s", err, b)
	}
	return len(ids), nil
}

// leakCheck removes the containers the tests left behind (a leak in itself),
// stops the daemon gracefully and then looks for anything still alive.
func (s *suite) leakCheck() []string {
	var leaks []string
	if s.daemonRunning() {
		n, err := s.rmAllContainers()
		if n > 0 {
			leaks = append(leaks, fmt.Sprintf("%d container(s) left behind by tests", n))
		}
		if err != nil {
			leaks = append(leaks, err.Error())
		}
		leaks = append(leaks, s.rmUserNetworks()...)
		s.killDaemon(syscall.SIGTERM, 15*time.Second)
	}
	for _, m := range s.mountsBelow() {
		leaks = append(leaks, "mount left: "+m)
	}
	for _, p := range s.shimPids() {
		leaks = append(leaks, fmt.Sprintf("wharf-shim still running: pid %d", p))
	}
	for _, st := range s.runcStates() {
		leaks = append(leaks, "runc state left: "+st)
	}
	leaks = append(leaks, s.networkLeaks()...)
	if !s.hadWharf0 && exec.Command("ip", "link", "show", "wharf0").Run() == nil {
		leaks = append(leaks, "the host's wharf0 bridge appeared: some test daemon ran without --bridge")
	}
	return leaks
}

// networkLeaks finds network state that outlived every container: namespace
// files, veths still on the suite's bridge, port DNAT rules in its table.
func (s *suite) networkLeaks() []string {
	var leaks []string
	nsFiles, _ := os.ReadDir(filepath.Join(s.execRoot, "netns"))
	for _, f := range nsFiles {
		leaks = append(leaks, "netns left: "+f.Name())
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "master", s.bridge).Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		leaks = append(leaks, "veths left on "+s.bridge+": "+string(out))
	}
	// Veths (network/manager.go VethPrefix "wv") on a bridge of this
	// suite's daemon, and user-network bridges ("wb-") it created whose
	// network is gone. Other suites may run beside this one, so links are
	// attributed by their bridge, never by their name alone.
	ours := s.daemonBridges()
	live := s.liveNetworkBridges()
	for name, master := range wharfLinks() {
		switch {
		case s.linksAtStart[name]:
		case strings.HasPrefix(name, "wb-") && ours[name] && !live[name]:
			leaks = append(leaks, "bridge of a removed network left: "+name)
		case strings.HasPrefix(name, "wv") && master != s.bridge && ours[master] && !live[master]:
			leaks = append(leaks, fmt.Sprintf("veth left: %s (on %s)", name, master))
		}
	}
	if out, err := exec.Command("nft", "list", "table", "ip", s.nftTable).Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "dnat to") {
				leaks = append(leaks, "nft DNAT rule left: "+strings.TrimSpace(l))
			}
		}
	}
	return leaks
}

// daemonBridges returns the bridges the suite's daemon made: its default
// bridge and every user network's, as logged at "network created".
func (s *suite) daemonBridges() map[string]bool {
	bridges := map[string]bool{s.bridge: true}
	b, _ := os.ReadFile(s.logPath)
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, " bridge=wb-"); ok && strings.Contains(l, `msg="network created"`) {
			bridges["wb-"+strings.Fields(rest + " ")[0]] = true
		}
	}
	return bridges
}

// liveNetworkBridges returns the bridges of the user networks the daemon
// has now (none when it is not running).
func (s *suite) liveNetworkBridges() map[string]bool {
	live := map[string]bool{}
	if !s.daemonRunning() {
		return live
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	ls := exec.CommandContext(ctx, filepath.Join(s.bin, "wharf"), "network", "ls", "-q", "--no-trunc")
	ls.Env = s.clientEnv()
	out, _ := ls.Output()
	for _, id := range strings.Fields(string(out)) {
		if len(id) >= 12 {
			live["wb-"+id[:12]] = true
		}
	}
	return live
}

// pickNetOctet returns a second octet in 64..127, derived from seed, whose
// 10.x.0.0/16 no host route or address touches yet.
func pickNetOctet(seed int) int {
	out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for i := 0; i < 64; i++ {
		o := 64 + (seed+i)%64
		if !strings.Contains(string(out), fmt.Sprintf("10.%d.", o)) {
			return o
		}
	}
	return 64 + seed%64
}

// wharfLinks lists the host's links named like the network package names
// them (veths "wv" + 11 hex digits, user-network bridges "wb-" + 12), with
// their master bridge, if any.
func wharfLinks() map[string]string {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return nil
	}
	links := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if !(strings.HasPrefix(name, "wv") && len(name) == 13) && !(strings.HasPrefix(name, "wb-") && len(name) == 15) {
			continue
		}
		master := ""
		for i := 2; i+1 < len(f); i++ {
			if f[i] == "master" {
				master = f[i+1]
			}
		}
		links[name] = master
	}
	return links
}

// rmUserNetworks removes the networks tests left behind (a leak in itself)
// so that the daemon deletes their bridges before it stops.
func (s *suite) rmUserNetworks() []string {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	ls := exec.CommandContext(ctx, filepath.Join(s.bin, "wharf"), "network", "ls", "--format", "{{.Name}}")
	ls.Env = s.clientEnv()
	out, err := ls.Output()
	if err != nil {
		return []string{fmt.Sprintf("network ls: %v", err)}
	}
	var leaks []string
	for _, n := range lines(string(out)) {
		if n == "bridge" || n == "host" || n == "none" {
			continue
		}
		leaks = append(leaks, "network left behind by tests: "+n)
		rm := exec.CommandContext(ctx, filepath.Join(s.bin, "wharf"), "network", "rm", n)
		rm.Env = s.clientEnv()
		if b, err := rm.CombinedOutput(); err != nil {
			leaks = append(leaks, fmt.Sprintf("network rm %s: %v: %s", n, err, b))
		}
	}
	return leaks
}

// teardown removes everything the suite created, whatever state it is in,
// and returns what it could not remove.
func (s *suite) teardown() []string {
	if s.daemonRunning() {
		_, _ = s.rmAllContainers()
		_ = s.rmUserNetworks()
		s.killDaemon(syscall.SIGTERM, 15*time.Second)
	}
	// Containers whose daemon could not remove them: let runc kill and delete.
	for _, st := range s.runcStates() {
		rtRoot, id := filepath.Dir(st), filepath.Base(st)
		_ = exec.Command("runc", "--root", rtRoot, "delete", "--force", id).Run()
	}
	for _, p := range s.shimPids() {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	mounts := append(s.mountsBelow(), s.execRoot)     // the daemon leaves its exec-root's tmpfs
	sort.Sort(sort.Reverse(sort.StringSlice(mounts))) // children first
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	s.removeCgroups()
	// The daemon keeps its bridge and table across restarts (containers may
	// live on); the suite is the last user, so it removes them: first veths
	// the daemon left on bridges it made (another daemon's links are left
	// alone), then those bridges and the table.
	ours := s.daemonBridges()
	for name, master := range wharfLinks() {
		if ours[master] {
			_ = exec.Command("ip", "link", "delete", name).Run()
		}
	}
	for b := range ours {
		_ = exec.Command("ip", "link", "delete", b).Run()
	}
	_ = exec.Command("nft", "delete", "table", "ip", s.nftTable).Run()
	var left []string
	if err := exec.Command("ip", "link", "show", s.bridge).Run(); err == nil {
		left = append(left, "bridge "+s.bridge+" still exists")
	}
	if err := exec.Command("nft", "list", "table", "ip", s.nftTable).Run(); err == nil {
		left = append(left, "nft table ip "+s.nftTable+" still exists")
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		left = append(left, err.Error())
	}
	return left
}

// mountsBelow lists mount points under the suite's temp dir, but for the
// tmpfs the daemon keeps its runtime state on (its exec-root).
func (s *suite) mountsBelow() []string {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(s.tmp))
	if err != nil {
		return []string{"reading mountinfo: " + err.Error()}
	}
	out := make([]string, 0, len(infos))
	for _, m := range infos {
		if m.Mountpoint != s.tmp && !(m.Mountpoint == s.execRoot && m.FSType == "tmpfs") {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// shimPids finds wharf-shim processes that belong to this suite (their
// command line or executable points into the suite's temp dir).
func (s *suite) shimPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv0 := string(bytes.SplitN(cmdline, []byte{0}, 2)[0])
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if filepath.Base(argv0) != "wharf-shim" && filepath.Base(exe) != "wharf-shim" {
			continue
		}
		if strings.Contains(string(cmdline), s.tmp) || strings.HasPrefix(exe, s.tmp) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runcStates lists container state dirs in the runtime roots below
// <exec-root>/runtime/<runtime>/<id>.
func (s *suite) runcStates() []string {
	var out []string
	rts, _ := os.ReadDir(filepath.Join(s.execRoot, "runtime"))
	for _, rt := range rts {
		dir := filepath.Join(s.execRoot, "runtime", rt.Name())
		ids, _ := os.ReadDir(dir)
		for _, id := range ids {
			if id.IsDir() {
				out = append(out, filepath.Join(dir, id.Name()))
			}
		}
	}
	return out
}

// removeCgroups deletes the suite's cgroup parent in every hierarchy.
func (s *suite) removeCgroups() {
	for _, err := range testutil.RemoveCgroupTree(s.cgroupParent) {
		fmt.Fprintln(os.Stderr, "e2e: teardown:", err)
	}
}
