package sqlite

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident counts the pages of b in memory.
func resident(t *testing.T, b []byte) int {
	t.Helper()
	vec := make([]byte, (len(b)+unix.Getpagesize()-1)/unix.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		uintptr(unsafe.Pointer(unsafe.SliceData(vec)))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// prefault maps in memory no one has written to yet, and leaves what a
// slice holds as it was.
func TestPrefault(t *testing.T) {
	const pages = 256
	fresh, err := unix.Mmap(-1, 0, pages*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(fresh)
	if n := resident(t, fresh); n != 0 {
		t.Fatalf("%d pages of a fresh mapping resident before prefault", n)
	}
	prefault(fresh[:0])
	if n := resident(t, fresh); n != pages {
		t.Errorf("%d of %d pages resident after prefault", n, pages)
	}
	held := make([]int64, 1000, 1500)
	for i := range held {
		held[i] = int64(i) * 7
	}
	prefault(held[3:]) // not page-aligned
	prefault(held[:0:0])
	for i, v := range held {
		if v != int64(i)*7 {
			t.Fatalf("element %d changed by prefault: %d", i, v)
		}
	}
}
