package sqlite

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault maps in, in one system call, the memory of s's capacity, which
// a load is about to fill: a page fault costs tens of microseconds on a
// virtual machine, and a day's rows are thousands of pages of fresh
// memory (the busiest day's game logs: 6 MB, their copy 70 ms of CPU
// fault by fault, 14 ms after one madvise of 9 ms). Memory already mapped
// is left as it is. A kernel without MADV_POPULATE_WRITE (before 5.14)
// refuses it, and the pages fault in as they are written.
func prefault[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	p := unsafe.Pointer(unsafe.SliceData(s[:cap(s)]))
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	// madvise takes whole pages: from the first page boundary in s on.
	page := uintptr(unix.Getpagesize())
	skip := (page - uintptr(p)%page) % page
	if n <= skip {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, skip)), n-skip), unix.MADV_POPULATE_WRITE)
}
