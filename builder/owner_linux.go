package builder

import (
	"io/fs"
	"syscall"
)

// statOwner is the uid/gid a file has on disk.
func statOwner(fi fs.FileInfo) owner {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return owner{int(st.Uid), int(st.Gid)}
	}
	return owner{}
}
