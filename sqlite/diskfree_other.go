//go:build !(linux || darwin)

package sqlite

// diskFree is unknown on this platform.
func diskFree(string) (uint64, bool) { return 0, false }
