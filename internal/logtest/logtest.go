// Package logtest gives tests a [*slog.Logger] that writes to the test's
// own output, so a component's log shows beside the failure that it
// explains (and with -v), and stays out of the way otherwise. It imports
// no package of ours.
package logtest

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// New returns a text logger at [slog.LevelInfo] that writes to tb's
// output. See [NewWithOptions].
func New(tb testing.TB) *slog.Logger {
	return NewWithOptions(tb, nil)
}

// NewWithOptions returns a text logger that writes to tb's output with
// opts (nil means the [slog.HandlerOptions] defaults: level Info, no
// source).
//
// It may outlive the test: a goroutine that logs after tb and all its
// parents have finished, which the testing package answers with a panic,
// has its record dropped instead. While a parent test still runs, records
// logged after tb has finished go to the parent's output.
func NewWithOptions(tb testing.TB, opts *slog.HandlerOptions) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{tb}, opts))
}

// writer writes to the output of tb, or of its closest running parent.
type writer struct{ tb testing.TB }

var _ io.Writer = writer{}

// Write writes one record. The text handler makes exactly one call per
// record, ending in a newline, so lines from goroutines never interleave.
func (w writer) Write(p []byte) (n int, err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Output and its Write panic with "... has completed" when tb and
		// every parent have finished: there is nowhere left to log. Any
		// other panic is a misuse that the test should see.
		if s, ok := r.(string); !ok || !strings.Contains(s, "has completed") {
			panic(r)
		}
		n, err = len(p), nil
	}()
	// Output is looked up on every write because it follows tb to a running
	// parent once tb itself has finished.
	return w.tb.Output().Write(p)
}
