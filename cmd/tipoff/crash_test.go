package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tipoff/batch"
)

// testBinary is tipoff built once for the tests that run it as processes;
// TestMain removes its directory.
var testBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildBinary returns tipoff built into a temporary directory, building it
// on the first call.
func buildBinary(t *testing.T) string {
	t.Helper()
	testBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "tipoff-test-bin-")
		if err != nil {
			testBinary.err = err
			return
		}
		testBinary.dir, testBinary.path = dir, filepath.Join(dir, "tipoff")
		cmd := exec.Command("go", "build", "-o", testBinary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			testBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if testBinary.err != nil {
		t.Fatal(testBinary.err)
	}
	return testBinary.path
}

// runBinary runs the built binary with args and returns its standard
// output; a failure's error is the exit status and the standard error
// (not the arguments, so tests can look for what the error names). Tests run it
// where the process is what they check, or to set up or repeat work that
// under the race detector in this process would take most of their time.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errOut.String())
	}
	return out.String(), nil
}

// importSynthetic imports a synthetic league into the database file db
// with the built binary, as a user would. args follow "--synthetic"
// ("--seed", "--from", ...).
func importSynthetic(t *testing.T, db string, args ...string) {
	t.Helper()
	if _, err := runBinary(t, append([]string{"import", "--db", db, "--synthetic"}, args...)...); err != nil {
		t.Fatalf("tipoff import --synthetic %s: %v", strings.Join(args, " "), err)
	}
}

// parallelTests is how many of the package's parallel tests run at once
// unless -test.parallel says otherwise. Most of them spend their time
// waiting on the processes they start and on the emulators, not on the
// CPU, so go test's default of GOMAXPROCS at once leaves a small machine
// idle for minutes.
const parallelTests = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(max(parallelTests, runtime.GOMAXPROCS(0))))
	}
	code := m.Run()
	for _, dir := range []string{testBinary.dir, realDB.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// TestRun_CrashAndResume kills "tipoff run" with SIGKILL at random points
// of its runs (after creating the batch, between publishing requests and
// marking them published, right after the commit that records outcomes
// and acks their requests, at each step of finalizing, and at random moments), restarts
// it each time, and checks that every batch finishes with every prediction
// stored once, one finalize and one finalized event.
func TestRun_CrashAndResume(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary dozens of times")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "tipoff.db")
	exports := filepath.Join(dir, "exports")
	importSynthetic(t, dbPath, "--seed", "7")
	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	points := []string{"created", "published", "recorded", "finalize-acquired", "finalize-published", "finalize-exported", "timer"}

	run := func(label, failpoint string, killAfter time.Duration) (killed bool, out []byte) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run", "--db", dbPath, "--date", demoDate, "--run", label,
			"--lines", "1,2", "--export-dir", exports, "--workers", "2", "--receive-batch", "8",
			"--lease", "300ms", "--finalize-lease", "300ms", "--sweep-every", "50ms",
			"--log-level", "warn")
		cmd.Env = append(os.Environ(), "TIPOFF_FAILPOINT="+failpoint)
		var buf bytes.Buffer // one writer for both: exec serializes its writes
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killAfter > 0 {
			timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
			defer timer.Stop()
		}
		err := cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("run %s (failpoint %q) hung for 2 minutes\n%s", label, failpoint, buf.Bytes())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return true, buf.Bytes()
			}
		}
		if err != nil {
			t.Fatalf("run %s (failpoint %q): %v\n%s", label, failpoint, err, buf.Bytes())
		}
		return false, buf.Bytes()
	}

	kills := map[string]int{}
	total := 0
	for round := 0; total < 20; round++ {
		label := fmt.Sprintf("crash-%d", round)
		// Each round walks through the run's phases in order, killing at
		// some of them (a random count of hits for the repeated ones).
		for _, p := range points {
			// The first round kills at every point; later ones at a random
			// two thirds of them.
			if round > 0 && rng.IntN(3) == 0 {
				continue
			}
			fp, after := "", time.Duration(0)
			switch p {
			case "timer":
				after = time.Duration(50+rng.IntN(400)) * time.Millisecond
			case "recorded":
				// Requests come 8 at a time, so a day of this league is
				// several receive batches: the first three leave work to do.
				fp = fmt.Sprintf("%s:%d", p, 1+rng.IntN(3))
			default:
				fp = p
			}
			killed, out := run(label, fp, after)
			if killed {
				kills[p]++
				total++
			} else if testing.Verbose() {
				t.Logf("round %d: %s not reached: the run finished\n%s", round, p, out)
			}
		}
		if killed, out := run(label, "", 0); killed {
			t.Fatalf("clean run was killed\n%s", out)
		}
		b := onlyBatchLabel(t, dbPath, demoDate, label)
		if b.State != batch.Finalized || b.Result != batch.ResultSucceeded {
			t.Fatalf("round %d: batch %s is %s %s, want finalized succeeded", round, b.ID, b.State, b.Result)
		}
		checkPublished(t, dbPath, exports, b)
		checkEvents(t, dbPath, b.ID)
		t.Logf("round %d: batch %s finished after %d finalize attempts", round, b.ID, b.FinalizeAttempts)
	}
	t.Logf("kills by point: %v (total %d)", kills, total)
	for _, p := range []string{"created", "published", "recorded", "finalize-acquired", "finalize-published", "finalize-exported"} {
		if kills[p] == 0 {
			t.Errorf("no kill at %s: the test did not cover it", p)
		}
	}
}

func onlyBatchLabel(t *testing.T, dbPath, date, label string) batch.Batch {
	t.Helper()
	for _, b := range listBatches(t, dbPath, date) {
		if b.Key.Run == label {
			return b
		}
	}
	t.Fatalf("no batch %s/%s", date, label)
	return batch.Batch{}
}
