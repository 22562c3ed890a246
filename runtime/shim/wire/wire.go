package wire

import (
	"encoding/binary"
	"io"
	"time"
)

// Files in the shim's state directory.
const (
	ConfigFile     = "shim.json"    // Config, written by the client before launch
	ProcessFile    = "process.json" // the exec'd process (runc exec --process)
	SocketName     = "shim.sock"    // control socket
	ConsoleSocket  = "console.sock" // runc --console-socket, only while starting
	PidFile        = "pid"          // the process's host pid, written by runc
	ExitFile       = "exit.json"    // Exit, written atomically when the process is gone
	LogFile        = "shim.log"     // the shim's own diagnostics
	ShimPidFile    = "shim.pid"     // the shim's pid, for operators and tests
	RuntimeLogFile = "runtime.log"  // runc --log (JSON lines)
)

// Config tells the shim what to run. The shim's state directory is its
// first argument and its working directory.
type Config struct {
	ID          string `json:"id"`
	Bundle      string `json:"bundle,omitempty"`
	Runtime     string `json:"runtime"`
	RuntimeRoot string `json:"runtimeRoot,omitempty"`
	LogPath     string `json:"logPath,omitempty"`
	Terminal    bool   `json:"terminal,omitempty"`
	OpenStdin   bool   `json:"openStdin,omitempty"`
	StdinOnce   bool   `json:"stdinOnce,omitempty"`
	// Exec runs ProcessFile inside container ID instead of its init.
	Exec bool `json:"exec,omitempty"`
	// CgroupsPath is the container's cgroup (cgroupfs path), where the shim
	// looks for an OOM kill when the process is gone.
	CgroupsPath string `json:"cgroupsPath,omitempty"`
}

// Operations a Request may ask for.
const (
	OpStart      = "start"
	OpAttach     = "attach"
	OpWait       = "wait"
	OpState      = "state"
	OpResize     = "resize"
	OpCloseStdin = "closestdin"
)

// Request is one line from client to shim.
type Request struct {
	Op     string `json:"op"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
}

// Error kinds let the client classify runtime failures without parsing.
const (
	KindCommandNotFound = "command-not-found" // the CLI exits 127
	KindCannotInvoke    = "cannot-invoke"     // the CLI exits 126
	KindInvalid         = "invalid"           // a bad request
)

// Response is one line from shim to client, and the readiness message the
// shim writes to its fd 3 at launch.
type Response struct {
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Exit  *Exit  `json:"exit,omitempty"` // set once the process is gone
}

// Exit is the content of ExitFile.
type Exit struct {
	Code      int       `json:"code"`
	ExitedAt  time.Time `json:"exitedAt"`
	OOMKilled bool      `json:"oomKilled,omitempty"`
}

// Attach frame streams.
const (
	StreamEnd    byte = 0 // output drained, the process is gone
	StreamStdout byte = 1 // also the whole terminal output
	StreamStderr byte = 2
)

// MaxFrame bounds a frame's payload so a corrupt header cannot make a reader
// allocate without limit.
const MaxFrame = 1 << 20

// WriteFrame writes one frame with a single write, so frames from concurrent
// writers never interleave when the caller serialises calls.
func WriteFrame(w io.Writer, stream byte, p []byte) error {
	buf := make([]byte, 5+len(p))
	buf[0] = stream
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(p)))
	copy(buf[5:], p)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame into buf (grown as needed) and returns its
// stream and payload.
func ReadFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, io.ErrUnexpectedEOF
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}
