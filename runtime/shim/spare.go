package shim

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"time"

	"wharf.io/wharf/runtime/shim/wire"
)

// spareFlag starts wharf-shim as a spare: it starts up and then waits to
// be told its state dir on fd 4 (fd 3 is the ready pipe, as for any shim).
const spareFlag = wire.SpareFlag

// A spare is a shim started ahead of need: exec'd, its Go runtime up,
// waiting for a container. Handing a container to it instead of starting
// a shim takes the shim's exec and start-up (~2 ms here) off every
// container start. A spare whose daemon goes away (closed, killed) reads
// end-of-file instead of a state dir and exits.
type spare struct {
	launched
	bin    string
	tell   *os.File    // write end of the spare's fd 4
	retire *time.Timer // discards the spare when unused for a while
}

func startSpare(bin string) (*spare, error) {
	tellR, tellW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer tellR.Close()
	cmd := exec.Command(bin, spareFlag)
	cmd.ExtraFiles = []*os.File{tellR}
	l, err := start(cmd)
	if err != nil {
		tellW.Close()
		return nil, err
	}
	return &spare{launched: *l, bin: bin, tell: tellW}, nil
}

// assign tells the spare its state dir; false when it can no longer take
// one (it died), and then it is done with.
func (sp *spare) assign(stateDir string) bool {
	select {
	case <-sp.exited:
		sp.discard()
		return false
	default:
	}
	_, err := sp.tell.WriteString(stateDir)
	sp.tell.Close()
	if err != nil {
		sp.ready.Close()
		return false
	}
	return true
}

// discard lets an unused spare go: it reads end-of-file and exits.
func (sp *spare) discard() {
	sp.tell.Close()
	sp.ready.Close()
}

// spareIdle is how long a spare waits for a container: a daemon that
// started none for that long keeps no spare (~3 MiB) around.
const spareIdle = time.Minute

// Launcher creates shims as Create does, keeping one spare shim ready while
// containers are being started: the next Create hands its container to the
// spare and a new spare starts in the background.
type Launcher struct {
	bin  string        // as Config.ShimBinary
	idle time.Duration // spareIdle

	mu      sync.Mutex
	spare   *spare
	filling bool // a spare is being started
	closed  bool
	wg      sync.WaitGroup // spares being started
}

// NewLauncher returns a Launcher for the shim binary bin ("" looks it up
// on PATH when needed).
func NewLauncher(bin string) *Launcher { return &Launcher{bin: bin, idle: spareIdle} }

// Create is Create with cfg.ShimBinary set to the launcher's binary.
func (l *Launcher) Create(ctx context.Context, cfg Config) (*Task, error) {
	cfg.ShimBinary = l.bin
	l.mu.Lock()
	sp := l.spare
	l.spare = nil
	if sp != nil {
		sp.retire.Stop()
	}
	refill := !l.closed && !l.filling
	if refill {
		l.filling = true
		l.wg.Add(1)
	}
	l.mu.Unlock()
	if refill {
		go l.refill()
	}
	return create(ctx, cfg, sp)
}

// refill starts the next spare.
func (l *Launcher) refill() {
	defer l.wg.Done()
	var sp *spare
	bin, err := shimBinary(l.bin)
	if err == nil {
		sp, _ = startSpare(bin)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filling = false
	if sp == nil {
		return
	}
	if l.closed {
		sp.discard()
		return
	}
	l.spare = sp
	sp.retire = time.AfterFunc(l.idle, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.spare == sp {
			l.spare = nil
			sp.discard()
		}
	})
}

// Close lets the spare go and waits until it exited; later Creates start
// shims without spares.
func (l *Launcher) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	sp := l.spare
	l.spare = nil
	l.mu.Unlock()
	if sp != nil {
		sp.retire.Stop()
		sp.discard()
		<-sp.exited
	}
}
