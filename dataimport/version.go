package dataimport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StatVersion says which version of the data at path (a data directory, or
// a single file such as a tipoff database) is there without reading it:
// "stat:" and a digest of the name, size and modification time of path's
// file or of every file directly in the directory. It changes when a file
// is written, added, removed or renamed, and not otherwise: a file
// rewritten with the same size and the same modification time is not
// seen, which on a file system that keeps modification times to the
// second (or two) includes a same-size rewrite within that second.
func StatVersion(_ context.Context, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	stamp := func(name string, fi os.FileInfo) {
		fmt.Fprintf(h, "%q %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	if !fi.IsDir() {
		stamp(filepath.Base(path), fi)
		return "stat:" + hex.EncodeToString(h.Sum(nil))[:16], nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	for _, e := range entries { // sorted by name
		fi, err := os.Stat(filepath.Join(path, e.Name())) // through symlinks, to the file read
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return "", err
		}
		if fi.IsDir() {
			continue
		}
		stamp(e.Name(), fi)
	}
	return "stat:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}
