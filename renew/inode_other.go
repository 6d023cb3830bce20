//go:build !unix

package renew

import "io/fs"

// inode is unknown off unix; size and mtime still key the cache.
func inode(fs.FileInfo) uint64 { return 0 }
