package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// Parsers for the service flags and the pure half of waiting for a service
// to converge; service.go wires them to cobra and the API.

// parsePublish reads -p: "8080:80", "8080:80/udp", "80" (a port the swarm
// picks), or "published=8080,target=80,protocol=udp,mode=host".
func parsePublish(s string) ([]swarm.PortConfig, error) {
	bad := fmt.Errorf("invalid publish option %q", s)
	pc := swarm.PortConfig{Protocol: network.TCP, PublishMode: swarm.PortConfigPublishModeIngress}
	if strings.Contains(s, "=") {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, bad
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "published":
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil {
					return nil, bad
				}
				pc.PublishedPort = uint32(n)
			case "target":
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil || n == 0 {
					return nil, bad
				}
				pc.TargetPort = uint32(n)
			case "protocol":
				if v != "tcp" && v != "udp" && v != "sctp" {
					return nil, bad
				}
				pc.Protocol = network.IPProtocol(v)
			case "mode":
				if v != "ingress" && v != "host" {
					return nil, bad
				}
				pc.PublishMode = swarm.PortConfigPublishMode(v)
			default:
				return nil, bad
			}
		}
		if pc.TargetPort == 0 {
			return nil, fmt.Errorf("invalid publish option %q: missing target port", s)
		}
		return []swarm.PortConfig{pc}, nil
	}
	spec, proto, hasProto := strings.Cut(s, "/")
	if hasProto {
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, bad
		}
		pc.Protocol = network.IPProtocol(proto)
	}
	pub, target, hasPub := strings.Cut(spec, ":")
	if !hasPub {
		target, pub = pub, ""
	}
	t, err := strconv.ParseUint(target, 10, 16)
	if err != nil || t == 0 {
		return nil, bad
	}
	pc.TargetPort = uint32(t)
	if pub != "" {
		p, err := strconv.ParseUint(pub, 10, 16)
		if err != nil || p == 0 {
			return nil, bad
		}
		pc.PublishedPort = uint32(p)
	}
	return []swarm.PortConfig{pc}, nil
}

// parseScale reads SERVICE=REPLICAS.
func parseScale(s string) (string, uint64, error) {
	name, v, ok := strings.Cut(s, "=")
	n, err := strconv.ParseUint(v, 10, 64)
	if !ok || name == "" || err != nil {
		return "", 0, fmt.Errorf("invalid scale specifier '%s'.\nSee 'wharf service scale --help'.\n\nUsage:  wharf service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]", s)
	}
	return name, n, nil
}

// fileRef is the common part of --secret and --config:
// "NAME" or "source=NAME,target=PATH,uid=0,gid=0,mode=0444".
type fileRef struct {
	source, target, uid, gid string
	mode                     os.FileMode
}

func parseFileRef(flag, s string) (fileRef, error) {
	r := fileRef{uid: "0", gid: "0", mode: 0o444}
	if !strings.Contains(s, "=") {
		r.source, r.target = s, s
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || v == "" {
				return r, fmt.Errorf("invalid field '%s' must be a key=value pair", kv)
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "source", "src":
				r.source = v
			case "target":
				r.target = v
			case "uid":
				r.uid = v
			case "gid":
				r.gid = v
			case "mode":
				m, err := strconv.ParseUint(v, 0, 32)
				if err != nil || m > 0o7777 {
					return r, fmt.Errorf("invalid mode specified: %q", v)
				}
				r.mode = os.FileMode(m)
			default:
				return r, fmt.Errorf("invalid field in %s request: %s", flag, k)
			}
		}
	}
	if r.source == "" {
		return r, fmt.Errorf("invalid %s: %q: source is required", flag, s)
	}
	if r.target == "" {
		r.target = r.source
	}
	return r, nil
}

// parseSecretRef reads --secret; the daemon resolves the name to an ID.
func parseSecretRef(s string) (*swarm.SecretReference, error) {
	r, err := parseFileRef("secret", s)
	if err != nil {
		return nil, err
	}
	return &swarm.SecretReference{SecretName: r.source,
		File: &swarm.SecretReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode}}, nil
}

// parseConfigRef reads --config; a config's target defaults to /NAME.
func parseConfigRef(s string) (*swarm.ConfigReference, error) {
	r, err := parseFileRef("config", s)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(r.target, "/") {
		r.target = "/" + r.target
	}
	return &swarm.ConfigReference{ConfigName: r.source,
		File: &swarm.ConfigReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode}}, nil
}

// parsePlacementPref reads --placement-pref "spread=node.labels.zone".
func parsePlacementPref(s string) (swarm.PlacementPreference, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || v == "" {
		return swarm.PlacementPreference{}, fmt.Errorf("invalid placement preference %q: must be spread=<descriptor>", s)
	}
	if strings.ToLower(k) != "spread" {
		return swarm.PlacementPreference{}, fmt.Errorf("unsupported placement preference %s (only spread is supported)", k)
	}
	return swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: v}}, nil
}

// Convergence: what `service create/update/scale/rollback` and `stack
// deploy` wait for. A service has converged when every task it wants runs
// its current spec (and passes its healthcheck, where the client can see
// it); it cannot converge when an update paused or rolled back, a task
// keeps failing, or a task stays pending with a reason.

const (
	// crashLoopFailures failed tasks of one slot since the wait began
	// mean the service will not come up.
	crashLoopFailures = 3
	// pendingGrace is how long a task may wait for a node with a reason
	// (no suitable node, …) before the wait gives up.
	pendingGrace = 20 * time.Second
	// stableFor is how long a task must have been running to count: one
	// that exits at once ("exit 3") must fail the wait, not pass it in
	// the moment it ran (docker's service create waits 5 s likewise).
	stableFor = time.Second
	// staleUpdate is how much older than the wait an update status must
	// be to belong to an earlier change.
	staleUpdate = 5 * time.Second
)

// taskStateOrder is docker's progress order of task states (running = 9).
var taskStateOrder = map[swarm.TaskState]int{
	swarm.TaskStateNew: 1, swarm.TaskStateAllocated: 2, swarm.TaskStatePending: 3, swarm.TaskStateAssigned: 4,
	swarm.TaskStateAccepted: 5, swarm.TaskStatePreparing: 6, swarm.TaskStateReady: 7, swarm.TaskStateStarting: 8,
	swarm.TaskStateRunning: 9,
}

// slotProgress is one line of the TTY display ("1/5: running   [===>]").
type slotProgress struct {
	label string
	state swarm.TaskState
	err   string
}

// convergence is one look at a service on its way to its desired state.
type convergence struct {
	running, want int
	slots         []slotProgress
	converged     bool
	err           error // the service cannot converge
}

func specKey(s swarm.TaskSpec) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkConvergence judges svc from all its tasks (history included). since
// is when the wait began: only failures after it count. expectRollback is
// set by `service rollback`, whose success is a completed rollback.
// healthy reports whether a running task passes its healthcheck.
func checkConvergence(svc swarm.Service, tasks []swarm.Task, since, now time.Time, expectRollback bool, healthy func(swarm.Task) bool) convergence {
	var cv convergence
	name := svc.Spec.Name
	updating := false
	if us := svc.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
			updating = true
		case swarm.UpdateStatePaused:
			cv.err = fmt.Errorf("service %s: update paused: %s", name, us.Message)
		case swarm.UpdateStateRollbackPaused:
			cv.err = fmt.Errorf("service %s: rollback paused: %s", name, us.Message)
		case swarm.UpdateStateRollbackCompleted:
			// A rollback finished well before this wait (a stack redeploy
			// of a service that rolled back last week) is history.
			stale := us.StartedAt != nil && us.StartedAt.Before(since.Add(-staleUpdate))
			if !expectRollback && !stale {
				cv.err = fmt.Errorf("service %s: rolled back: %s", name, us.Message)
			}
		}
	}
	want := specKey(svc.Spec.TaskTemplate)
	place := func(t swarm.Task) string {
		if t.Slot != 0 {
			return strconv.Itoa(t.Slot)
		}
		return t.NodeID
	}
	// A one-shot service (restart condition none or on-failure) is done
	// once its task completed: it is not started again.
	rp := svc.Spec.TaskTemplate.RestartPolicy
	oneShot := rp != nil && (rp.Condition == swarm.RestartPolicyConditionNone || rp.Condition == swarm.RestartPolicyConditionOnFailure)
	current := map[string]swarm.Task{}
	completed := map[string]swarm.Task{}
	failures := map[string][]swarm.Task{}
	newest := func(m map[string]swarm.Task, t swarm.Task) {
		if old, ok := m[place(t)]; !ok || t.Meta.CreatedAt.After(old.Meta.CreatedAt) {
			m[place(t)] = t
		}
	}
	for _, t := range tasks {
		if specKey(t.Spec) != want {
			continue
		}
		switch t.Status.State {
		case swarm.TaskStateFailed, swarm.TaskStateRejected:
			if !t.Meta.CreatedAt.Before(since) {
				failures[place(t)] = append(failures[place(t)], t)
			}
		case swarm.TaskStateComplete:
			if oneShot {
				newest(completed, t)
				continue
			}
		}
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		newest(current, t)
	}
	for k, t := range completed {
		if _, ok := current[k]; !ok {
			current[k] = t
		}
	}
	if r := svc.Spec.Mode.Replicated; r != nil {
		cv.want = 1
		if r.Replicas != nil {
			cv.want = int(*r.Replicas)
		}
	} else {
		cv.want = len(current)
	}
	keys := make([]string, 0, len(current))
	extra := 0
	for k, t := range current {
		if svc.Spec.Mode.Replicated != nil && t.Slot > cv.want {
			// A slot above the replica count is on its way out (scale
			// down): it is no progress, or "5 out of 2 tasks" is shown.
			extra++
			continue
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, aerr := strconv.Atoi(keys[i])
		b, berr := strconv.Atoi(keys[j])
		if aerr == nil && berr == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		t := current[k]
		sp := slotProgress{label: k, state: t.Status.State, err: t.Status.Err}
		if t.Slot != 0 {
			sp.label = fmt.Sprintf("%s/%d", k, cv.want)
		}
		if t.Status.State == swarm.TaskStateComplete {
			cv.running++ // a one-shot task that finished is what it should be
		}
		if t.Status.State == swarm.TaskStateRunning {
			if healthy(t) && now.Sub(t.Status.Timestamp) >= stableFor {
				cv.running++
			} else {
				sp.state = swarm.TaskStateStarting
			}
		}
		if cv.err == nil && t.Status.State == swarm.TaskStatePending && t.Status.Err != "" && now.Sub(t.Meta.CreatedAt) > pendingGrace {
			cv.err = fmt.Errorf("%s.%s: %s", name, k, t.Status.Err)
		}
		cv.slots = append(cv.slots, sp)
	}
	limit := crashLoopFailures
	if rp != nil {
		if rp.Condition == swarm.RestartPolicyConditionNone {
			limit = 1
		} else if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 && int(*rp.MaxAttempts)+1 < limit {
			limit = int(*rp.MaxAttempts) + 1
		}
	}
	fkeys := make([]string, 0, len(failures))
	for k := range failures {
		fkeys = append(fkeys, k)
	}
	sort.Strings(fkeys)
	for _, k := range fkeys {
		fs := failures[k]
		if cv.err != nil || len(fs) < limit {
			continue
		}
		if cur, ok := current[k]; ok && cur.Status.State == swarm.TaskStateRunning && limit > 1 {
			continue // it came back up
		}
		last := fs[0]
		for _, t := range fs[1:] {
			if t.Meta.CreatedAt.After(last.Meta.CreatedAt) {
				last = t
			}
		}
		msg := last.Status.Err
		if msg == "" {
			msg = last.Status.Message
		}
		cv.err = fmt.Errorf("%s.%s: %s", name, k, msg)
	}
	cv.converged = cv.err == nil && !updating && cv.running == cv.want && len(current) == cv.want && extra == 0 &&
		(cv.want > 0 || svc.Spec.Mode.Replicated != nil)
	return cv
}

// progressPrinter shows convergence as docker does: on a terminal the
// block of lines is redrawn in place, elsewhere a line is printed when the
// overall count changes.
type progressPrinter struct {
	out   io.Writer
	tty   bool
	lines int    // lines drawn last time (tty)
	last  string // last overall line (plain)
}

func progressBar(state swarm.TaskState) string {
	const width = 50
	n := taskStateOrder[state] * width / 9
	if n <= 0 {
		return "[" + strings.Repeat(" ", width+1) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n) + "]"
}

func (p *progressPrinter) update(cv convergence) {
	overall := fmt.Sprintf("overall progress: %d out of %d tasks", cv.running, cv.want)
	if !p.tty {
		if overall != p.last {
			fmt.Fprintln(p.out, overall)
			p.last = overall
		}
		return
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	lines := []string{overall + " "}
	for _, s := range cv.slots {
		line := fmt.Sprintf("%s: %-9s %s", s.label, s.state, progressBar(s.state))
		if s.err != "" {
			line = fmt.Sprintf("%s: %s", s.label, s.err)
		}
		lines = append(lines, line)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
	}
	// Lines left over from a longer block are cleared.
	for i := len(lines); i < p.lines; i++ {
		b.WriteString("\x1b[2K\n")
	}
	if p.lines > len(lines) {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines-len(lines))
	}
	p.lines = len(lines)
	_, _ = io.WriteString(p.out, b.String())
}

func (p *progressPrinter) done() {
	fmt.Fprintln(p.out, "verify: Service converged")
}
