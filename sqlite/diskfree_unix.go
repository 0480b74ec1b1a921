//go:build linux || darwin

package sqlite

import (
	"os"
	"syscall"
)

// diskFree returns the bytes available to this process on the file system
// holding dir.
func diskFree(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}

// inode returns the file's inode number: a file replaced by another (a
// rename over it) has a new one.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
