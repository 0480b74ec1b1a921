//go:build !linux

package sqlite

// prefault does nothing here: pages fault in as they are written.
func prefault[T any]([]T) {}
