//go:build unix

package pathtrust

import (
	"io/fs"
	"syscall"
)

// Owner returns the uid owning the file st describes.
func Owner(st fs.FileInfo) (int, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(sys.Uid), true
}
