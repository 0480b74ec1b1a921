// Package failpoint kills the process at exact, named points of its work,
// so the crash tests can prove that a SIGKILL at any of them loses and
// duplicates nothing. It imports nothing of ours.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Set is the failpoint a spec arms: "name" fires the first time name is
// reached, "name:n" the n-th time; "" arms none. Reaching any other point
// costs a string comparison.
type Set struct {
	name string
	fire func()
	mu   sync.Mutex
	n    int
}

// New returns the failpoint spec arms. When it fires it calls fire, or
// with fire nil sends the process SIGKILL and waits for it to land.
func New(spec string, fire func()) *Set {
	name, n, _ := strings.Cut(spec, ":")
	s := &Set{name: name, fire: fire, n: 1}
	if k, err := strconv.Atoi(n); err == nil && k > 0 {
		s.n = k
	}
	if s.fire == nil {
		s.fire = func() {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	return s
}

// Arms reports whether the spec armed the point name.
func (s *Set) Arms(name string) bool { return s.name != "" && s.name == name }

// Hit marks that the point name is reached, and fires if it is the armed
// point reached for the armed time. It is safe for concurrent use.
func (s *Set) Hit(name string) {
	if s.name == "" || s.name != name {
		return
	}
	s.mu.Lock()
	s.n--
	fire := s.n == 0
	s.mu.Unlock()
	if fire {
		s.fire()
	}
}
