package logtest_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"tipoff/internal/logtest"
)

// fakeTB is a testing.TB whose output the test reads, and which panics as
// the testing package does once it has finished.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	out      bytes.Buffer
	finished bool
	panicMsg string
}

func (f *fakeTB) Output() io.Writer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.finished {
		panic(f.panicMsg)
	}
	return lockedWriter{f}
}

func (f *fakeTB) finish(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished, f.panicMsg = true, msg
}

func (f *fakeTB) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out.String()
}

type lockedWriter struct{ f *fakeTB }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.out.Write(p)
}

func TestNew_WritesRecordsAtInfo(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{}
	log := logtest.New(tb)
	log.Debug("per-item detail", "item_id", "p1")
	log.Info("batch finalized", "batch_id", "b1", "items", 3)
	got := tb.String()
	if strings.Contains(got, "per-item detail") {
		t.Errorf("output %q has a debug record, want only info and above", got)
	}
	if !strings.Contains(got, `msg="batch finalized" batch_id=b1 items=3`) || strings.Count(got, "\n") != 1 {
		t.Errorf("output %q, want one line with the info record and its attributes", got)
	}
}

func TestNewWithOptions_Level(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{}
	log := logtest.NewWithOptions(tb, &slog.HandlerOptions{Level: slog.LevelWarn})
	log.Info("batch created")
	log.Warn("item redriven", "attempt", 2)
	if got := tb.String(); strings.Contains(got, "batch created") || !strings.Contains(got, `msg="item redriven" attempt=2`) {
		t.Errorf("output %q, want the warning only", got)
	}
}

// Records logged once the test has finished are dropped, not a panic; a
// panic for any other reason still surfaces.
func TestNew_AfterTestFinished(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{}
	log := logtest.New(tb)
	log.Info("before")
	tb.finish("Output called after TestX has completed")
	log.Info("after")
	if got := tb.String(); !strings.Contains(got, "before") || strings.Contains(got, "after") {
		t.Errorf("output %q, want the record logged before the end only", got)
	}

	other := &fakeTB{}
	other.finish("testing: f.Output was called inside the fuzz target, use t.Output instead")
	defer func() {
		if r := recover(); r == nil {
			t.Error("a misuse panic was swallowed, want it to propagate")
		}
	}()
	logtest.New(other).Info("inside the fuzz target")
}

// In real tests: a subtest's logger that outlives the subtest writes to
// the parent's output, and one that outlives its whole test is dropped
// without the panic the testing package would raise. The test binary runs
// itself with the two helper tests below, in order.
func TestNew_OutlivesTest(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelper_", "-test.v", "-test.shuffle=off", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOGTEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper tests: %v\n%s", err, out)
	}
	for _, want := range []string{`msg="inside the subtest"`, `msg="after the subtest"`, "--- PASS: TestHelper_Late"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("helper output has no %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("after the test")) {
		t.Errorf("helper output has a record logged after its test finished:\n%s", out)
	}
}

// helperLog is the logger TestHelper_Early leaves for TestHelper_Late.
var helperLog *slog.Logger

func TestHelper_Early(t *testing.T) {
	if os.Getenv("LOGTEST_HELPER") == "" {
		return // runs only as TestNew_OutlivesTest's child
	}
	t.Run("sub", func(t *testing.T) {
		helperLog = logtest.New(t)
		helperLog.Info("inside the subtest")
	})
	helperLog.Info("after the subtest")
}

func TestHelper_Late(t *testing.T) {
	if os.Getenv("LOGTEST_HELPER") == "" {
		return
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { helperLog.Info("after the test", "attempt", i) })
	}
	wg.Wait()
}
