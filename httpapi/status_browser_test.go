package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tipoff/batch"
	"tipoff/batch/batchtest"
)

// The status pages load in real headless Chromium, with JavaScript off,
// while a batch runs: the index shows its progress, the batch page its
// progress, chart, players and picks, and the page refreshes itself as
// outcomes arrive. A screenshot of each page is saved as an artifact.
func TestStatusPages_Browser(t *testing.T) {
	t.Parallel()
	chromium := batchtest.RequireEnv(t, "TIPOFF_CHROMIUM")
	e := newEnv(t)
	ps := players(t, 30)
	// Yesterday's run of the date published picks; today's re-run is under
	// way.
	old := e.create(t, batch.Key{Date: gameDate, Run: "early"}, ps, batch.Policy{}, t0.Add(-2*time.Hour))
	for _, p := range ps {
		e.record(t, old.ID, p, batch.OutcomeSucceeded, t0.Add(-110*time.Minute))
	}
	e.finalize(t, old.ID, t0.Add(-100*time.Minute))
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for i, p := range ps[:20] {
		o := batch.OutcomeSucceeded
		if i == 4 {
			o = batch.OutcomeFailed
		}
		e.record(t, b.ID, p, o, t0.Add(time.Duration(2+i)*time.Second))
	}
	e.clk.Set(t0.Add(time.Minute))
	srv := e.server(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// The pages must work without JavaScript: the page's own scripts are off
	// (the test still queries the DOM through the DevTools protocol).
	noScript := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(ctx, noScript, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("batches"))); err != nil {
		t.Fatalf("index page: %v", err)
	}
	indexDone := run(t, ctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(`tr[data-batch=%q] td:nth-child(5)`, b.ID))))
	rows := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#batches tbody tr').length`))
	if rows != 2 || !strings.HasPrefix(indexDone, "20/30") {
		t.Errorf("index: got %d rows, running batch done %q; want 2 rows and 20/30", rows, indexDone)
	}
	screenshot(t, ctx, "status-index.png")

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-batch=%q] a`, b.ID))),
		chromedp.WaitVisible(chromedp.ID("players"))); err != nil {
		t.Fatalf("batch page: %v", err)
	}
	done := run(t, ctx, chromedp.Text(chromedp.ID("done")))
	state := run(t, ctx, chromedp.Text(chromedp.ID("state")))
	picksTitle := run(t, ctx, chromedp.Text(chromedp.ID("picks-title")))
	players := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#players tbody tr').length`))
	picks := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#picks tbody tr').length`))
	failed := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#failed tbody tr').length`))
	chartPoints := run(t, ctx, chromedp.AttributeValue(chromedp.CSS(`#chart polyline`), "points"))
	if done != "20 / 30" || state != "running" || players != 30 || failed != 1 {
		t.Errorf("batch page: got done %q, state %q, %d player rows, %d failed rows; want 20 / 30, running, 30, 1", done, state, players, failed)
	}
	if picks == 0 || picksTitle != "Picks" {
		t.Errorf("batch page: got %d pick rows under %q; want the published picks of the earlier run", picks, picksTitle)
	}
	// The chart starts at the origin and has a point per outcome, plus the
	// end of the line.
	if n := len(strings.Fields(chartPoints.Value)); n != 22 {
		t.Errorf("chart: got %d points (%q), want 22", n, chartPoints.Value)
	}
	screenshot(t, ctx, "status-batch-running.png")

	// More outcomes arrive; the page's meta refresh picks them up. Each load
	// of the page is the moment to look: subscribing before the outcomes are
	// recorded means no reload after them is missed.
	wctx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	loads := chromedp.Events(wctx, page.LoadEventFired)
	for _, p := range ps[20:25] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(50*time.Second))
	}
	var got string
	var err error
	for _, err = range loads {
		if err != nil {
			break
		}
		// A reload requested before the outcomes still shows 20 / 30;
		// the next one must not.
		if got, err = chromedp.Run(wctx, chromedp.Text(chromedp.ID("done"))); err == nil && got == "25 / 30" {
			return
		}
	}
	t.Fatalf("batch page did not refresh to 25 / 30 within 30 s: last %q, %v", got, err)
}

// run runs a browser action that returns a value, failing the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves a full-page screenshot under $TIPOFF_ARTIFACTS (or the
// test's temp dir) and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("TIPOFF_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
