package spec

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ResolveUser turns Docker's --user value ("", "name", "uid", "uid:gid",
// "name:group", …) into numeric ids using /etc/passwd and /etc/group inside
// rootfs, including the user's supplementary groups. The files are opened
// through os.Root so a symlink in the image cannot point at the host's. An
// unknown user or group is errdefs.ErrInvalidArgument.
func ResolveUser(rootfs, userSpec string) (specs.User, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return specs.User{}, fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	passwd := openInRoot(root, "etc/passwd")
	defer passwd.Close()
	group := openInRoot(root, "etc/group")
	defer group.Close()

	defaults := &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
	eu, err := user.GetExecUser(userSpec, defaults, passwd, group)
	if err != nil {
		if errors.Is(err, user.ErrNoPasswdEntries) || errors.Is(err, user.ErrNoGroupEntries) ||
			errors.Is(err, user.ErrRange) {
			// Keep moby/sys/user's text, which is Docker's message.
			return specs.User{}, classed{err: err, class: errdefs.ErrInvalidArgument}
		}
		// GetExecUser's other errors are parse errors of the user's value.
		return specs.User{}, fmt.Errorf("invalid user %q: %v: %w", userSpec, err, errdefs.ErrInvalidArgument)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	for _, g := range eu.Sgids {
		if uint32(g) != u.GID {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

// openInRoot returns the file's content, or an empty reader when the image
// has no such file (then only numeric users work, as in Docker).
func openInRoot(root *os.Root, name string) io.ReadCloser {
	f, err := root.Open(name)
	if err != nil {
		return io.NopCloser(emptyReader{})
	}
	return f
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

// classed is an error whose message is exactly err's while errors.Is also
// matches class.
type classed struct{ err, class error }

func (c classed) Error() string   { return c.err.Error() }
func (c classed) Unwrap() []error { return []error{c.err, c.class} }
