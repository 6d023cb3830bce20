//go:build unix

package renew

import (
	"io/fs"
	"syscall"
)

// inode is the file's inode number (a rename over state.json changes it).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
