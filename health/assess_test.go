package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/health"
	"tipoff/httpapi"
	"tipoff/predict"
)

// The tests' game date, and the clock they check it at: 18:00 UTC, 13:00
// in the league's time zone.
var (
	date = predict.MustParseDate("2026-01-15")
	now  = time.Date(2026, 1, 15, 18, 0, 0, 0, time.UTC)
)

const batchID = "2026-01-15-daily-1"

// fakeSource answers as the status API would with a fixed batch report and
// queue report, or fails where an error is set.
type fakeSource struct {
	batches []httpapi.BatchSummary
	// all, when set, is what a listing of the whole date (no run label)
	// answers instead of batches.
	all      []httpapi.BatchSummary
	report   httpapi.BatchReport
	queue    httpapi.QueueReport
	listErr  error
	batchErr error
	queueErr error

	listed []batch.ListOptions // what ListBatches was asked
	read   []string            // the batches Batch was asked for
}

var _ health.Source = (*fakeSource)(nil)

func (f *fakeSource) ListBatches(ctx context.Context, opts batch.ListOptions) (httpapi.BatchList, error) {
	f.listed = append(f.listed, opts)
	if f.listErr != nil {
		return httpapi.BatchList{}, f.listErr
	}
	if opts.Run == "" && f.all != nil {
		return httpapi.BatchList{Batches: f.all}, nil
	}
	return httpapi.BatchList{Batches: f.batches}, nil
}

func (f *fakeSource) Batch(ctx context.Context, id string) (httpapi.BatchReport, error) {
	f.read = append(f.read, id)
	if f.batchErr != nil {
		return httpapi.BatchReport{}, f.batchErr
	}
	if id != f.report.Batch.ID {
		return httpapi.BatchReport{}, fmt.Errorf("batch %s: %w", id, batch.ErrNotFound)
	}
	return f.report, nil
}

func (f *fakeSource) Queue(ctx context.Context) (httpapi.QueueReport, error) {
	if f.queueErr != nil {
		return httpapi.QueueReport{}, f.queueErr
	}
	return f.queue, nil
}

// healthySource is a date whose 10-player batch, created an hour ago,
// succeeded, was published and exported, with no dead letters.
func healthySource() *fakeSource {
	created := now.Add(-time.Hour)
	finalized := now.Add(-30 * time.Minute)
	b := batch.Batch{ID: batchID, Key: batch.Key{Date: date.String(), Run: "daily"}, State: batch.Finalized, Result: batch.ResultSucceeded,
		Total: 10, Counts: batch.Counts{Succeeded: 10}, CreatedAt: created, Deadline: created.Add(3 * time.Hour), FinalizedAt: finalized}
	s := httpapi.Summarize(b)
	return &fakeSource{
		batches: []httpapi.BatchSummary{s},
		report: httpapi.BatchReport{
			Batch:    s,
			TraceID:  "trace-1",
			Finalize: httpapi.FinalizeReport{Attempts: 1, FinalizedAt: finalized},
			Publication: &httpapi.PublicationReport{Date: date.String(), BatchID: batchID, Run: "daily", Result: batch.ResultSucceeded,
				BatchAt: created, PublishedAt: finalized, Players: 10, Predictions: 50, ThisBatch: true},
			PublicationChecked: true,
			Export: &httpapi.Export{Path: "exports/2026-01-15.json", Exists: true, ModTime: finalized, BatchID: batchID,
				PublishedAt: finalized, Players: 10, Predictions: 50},
			CheckedAt: now,
		},
		queue: httpapi.QueueReport{DeadLetters: map[string]int{}, CheckedAt: now},
	}
}

// setBatch puts the batch in state with result and counts, summarized as
// the status API does. A batch that is not finalized has no finalize time,
// publication or export file yet.
func (f *fakeSource) setBatch(state batch.State, result batch.Result, c batch.Counts) {
	b := f.report.Batch.Batch
	b.State, b.Result, b.Counts = state, result, c
	if state != batch.Finalized {
		b.FinalizedAt = time.Time{}
		f.report.Finalize = httpapi.FinalizeReport{}
		f.report.Publication = nil
		f.report.Export = &httpapi.Export{Path: f.report.Export.Path}
	}
	f.report.Batch = httpapi.Summarize(b)
	f.batches[0] = f.report.Batch
}

// noBatch empties the date.
func (f *fakeSource) noBatch() { f.batches = nil }

func TestAssess(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(f *fakeSource, in *health.Input)
		want   health.Status
		levels map[string]health.Level
		// items, when set, are the items the named check must list.
		items map[string][]string
	}{
		{
			name: "finalized, published and exported",
			edit: func(*fakeSource, *health.Input) {},
			want: health.Healthy,
			levels: map[string]health.Level{"run": health.OK, "state": health.OK, "outcomes": health.OK, "failed": health.OK, "missing": health.OK,
				"stuck": health.Skip, "finalize": health.OK, "published": health.OK, "export": health.OK, "dead_letters": health.OK},
		},
		{
			name: "running on time",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 6})
				f.report.Missing = []string{"p07", "p08", "p09", "p10"}
			},
			want: health.Healthy,
			levels: map[string]health.Level{"state": health.OK, "missing": health.OK, "stuck": health.OK, "finalize": health.OK,
				"published": health.Skip, "export": health.Skip},
			items: map[string][]string{"missing": {"p07", "p08", "p09", "p10"}},
		},
		{
			name: "running with another batch's publication",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 6})
				f.report.Publication = &httpapi.PublicationReport{BatchID: "2026-01-15-early-1", Run: "early", PublishedAt: now.Add(-5 * time.Hour)}
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"published": health.Skip, "export": health.Skip},
		},
		{
			name: "running past its deadline",
			edit: func(f *fakeSource, in *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 6})
				in.Now = f.report.Batch.Deadline
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail},
		},
		{
			name: "every player has an outcome, not finalized",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 10})
				f.report.Finalize.Attempts = 2
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.OK, "missing": health.OK, "finalize": health.Warn},
		},
		{
			name: "stuck players",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 8})
				f.report.Stuck = []httpapi.StuckItem{
					{ID: "p09", Reason: httpapi.StuckOverdue, Attempts: 2, WaitSeconds: 540},
					{ID: "p10", Reason: httpapi.StuckUndispatched, WaitSeconds: 600},
				}
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.OK, "stuck": health.Warn},
			items:  map[string][]string{"stuck": {"p09: overdue, 2 attempt(s), waiting 9m0s", "p10: undispatched, 0 attempt(s), waiting 10m0s"}},
		},
		{
			name: "stuck players of a finalized batch are not checked",
			edit: func(f *fakeSource, _ *health.Input) {
				f.report.Stuck = []httpapi.StuckItem{{ID: "p09", Reason: httpapi.StuckOverdue, WaitSeconds: 540}}
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"stuck": health.Skip},
		},
		{
			name: "failed players while running",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Running, "", batch.Counts{Succeeded: 6, Failed: 1})
				f.report.Failed = []httpapi.ItemProblem{{ID: "p07", Outcome: batch.OutcomeFailed, Attempts: 1, Error: "permanent: no game"}}
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.OK, "failed": health.Warn},
			items:  map[string][]string{"failed": {"p07: failed after 1 attempt(s): permanent: no game"}},
		},
		{
			name: "finalizing under a live lease",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Finalizing, "", batch.Counts{Succeeded: 10})
				f.report.Finalize = httpapi.FinalizeReport{Attempts: 1, LeaseOwner: "serve-1", LeaseExpires: now.Add(time.Minute)}
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"state": health.OK, "finalize": health.OK, "published": health.Skip},
		},
		{
			name: "finalize lease expired",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Finalizing, "", batch.Counts{Succeeded: 10})
				f.report.Finalize = httpapi.FinalizeReport{Attempts: 1, LeaseOwner: "serve-1", LeaseExpires: now.Add(-time.Minute), LeaseExpired: true}
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.Warn},
		},
		{
			name: "partial",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Finalized, batch.ResultPartial, batch.Counts{Succeeded: 9, TimedOut: 1})
				f.report.Failed = []httpapi.ItemProblem{{ID: "p10", Outcome: batch.OutcomeTimedOut, Attempts: 3, Error: "deadline"}}
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.Warn, "failed": health.Warn, "published": health.OK, "export": health.OK},
			items:  map[string][]string{"failed": {"p10: timed_out after 3 attempt(s): deadline"}},
		},
		{
			name: "failed",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Finalized, batch.ResultFailed, batch.Counts{Succeeded: 2, Failed: 8})
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail, "failed": health.Warn, "published": health.OK},
		},
		{
			name: "cancelled",
			edit: func(f *fakeSource, _ *health.Input) {
				f.setBatch(batch.Finalized, batch.ResultCancelled, batch.Counts{Succeeded: 4})
				f.report.Missing = []string{"p05", "p06", "p07", "p08", "p09", "p10"}
				f.report.Finalize = httpapi.FinalizeReport{}
				f.report.Publication = nil
			},
			want: health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail, "missing": health.Warn, "finalize": health.Skip,
				"published": health.Skip, "export": health.Skip},
			items: map[string][]string{"missing": {"p05", "p06", "p07", "p08", "p09", "p10"}},
		},
		{
			name:   "unknown state",
			edit:   func(f *fakeSource, _ *health.Input) { f.setBatch("paused", "", batch.Counts{}) },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail},
		},
		{
			name:   "publication missing",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Publication = nil },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"state": health.OK, "published": health.Fail, "export": health.Skip},
		},
		{
			name: "publication of an older batch",
			edit: func(f *fakeSource, _ *health.Input) {
				p := f.report.Publication
				p.BatchID, p.Run, p.ThisBatch, p.BatchAt, p.PublishedAt = "2026-01-15-early-1", "early", false, now.Add(-5*time.Hour), now.Add(-4*time.Hour)
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"published": health.Fail},
		},
		{
			name: "publication of this batch dated before it",
			edit: func(f *fakeSource, _ *health.Input) {
				f.report.Publication.PublishedAt = f.report.Batch.CreatedAt.Add(-time.Minute)
				f.report.Export.PublishedAt = f.report.Publication.PublishedAt
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"published": health.Fail, "export": health.OK},
		},
		{
			name: "superseded by a newer batch",
			edit: func(f *fakeSource, _ *health.Input) {
				p := f.report.Publication
				p.BatchID, p.Run, p.ThisBatch, p.BatchAt, p.PublishedAt = "2026-01-15-late-1", "late", false, now.Add(-10*time.Minute), now.Add(-time.Minute)
				f.report.Export.BatchID, f.report.Export.PublishedAt = p.BatchID, p.PublishedAt
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"published": health.OK, "export": health.OK},
		},
		{
			name:   "publications not readable by the source",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Publication, f.report.PublicationChecked = nil, false },
			want:   health.Healthy,
			levels: map[string]health.Level{"published": health.Skip, "export": health.Skip},
		},
		{
			name:   "export missing",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Export = &httpapi.Export{Path: f.report.Export.Path} },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"published": health.OK, "export": health.Fail},
		},
		{
			name:   "export unreadable",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Export.Problem = "not a publication: unexpected EOF" },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"export": health.Fail},
		},
		{
			name:   "export of another batch",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Export.BatchID = "2026-01-15-early-1" },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"export": health.Fail},
		},
		{
			name: "export of an older publication of this batch",
			edit: func(f *fakeSource, _ *health.Input) {
				f.report.Export.PublishedAt = f.report.Export.PublishedAt.Add(-time.Second)
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"export": health.Fail},
		},
		{
			name:   "export directory unknown to the source",
			edit:   func(f *fakeSource, _ *health.Input) { f.report.Export = nil },
			want:   health.Healthy,
			levels: map[string]health.Level{"export": health.Skip},
		},
		{
			name: "dead letters",
			edit: func(f *fakeSource, _ *health.Input) {
				f.queue.DeadLetters = map[string]int{batch.TopicRequests: 2, batch.TopicEvents: 1, "unrelated": 5}
			},
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.OK, "dead_letters": health.Warn},
			items:  map[string][]string{"dead_letters": {"prediction-requests-dead-letter: 2", "batch-events-dead-letter: 1"}},
		},
		{
			name:   "dead letters not countable",
			edit:   func(f *fakeSource, _ *health.Input) { f.queue.DeadLetters = nil },
			want:   health.Healthy,
			levels: map[string]health.Level{"dead_letters": health.Skip},
		},
		{
			name:   "queue unreadable",
			edit:   func(f *fakeSource, _ *health.Input) { f.queueErr = errors.New("connection refused") },
			want:   health.Degraded,
			levels: map[string]health.Level{"state": health.OK, "dead_letters": health.Warn},
		},
		{
			name:   "batches cannot be listed",
			edit:   func(f *fakeSource, _ *health.Input) { f.listErr = errors.New("database is locked") },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"run": health.Fail, "state": "", "dead_letters": ""},
		},
		{
			name:   "batch cannot be read",
			edit:   func(f *fakeSource, _ *health.Input) { f.batchErr = errors.New("unexpected status 500") },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"run": health.Fail, "state": "", "dead_letters": health.OK},
		},
		{
			name:   "no batch, no schedule",
			edit:   func(f *fakeSource, _ *health.Input) { f.noBatch() },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"run": health.Fail, "state": "", "dead_letters": health.OK},
		},
		{
			name: "no batch before the scheduled time",
			edit: func(f *fakeSource, in *health.Input) {
				f.noBatch()
				in.Schedule = &health.Schedule{Hour: 14, Minute: 0, Location: loc} // 19:00 UTC
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"run": health.OK},
		},
		{
			name: "no batch within the grace",
			edit: func(f *fakeSource, in *health.Input) {
				f.noBatch()
				in.Schedule = &health.Schedule{Hour: 12, Minute: 55, Location: loc} // 17:55 UTC
				in.Grace = 10 * time.Minute
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"run": health.OK},
		},
		{
			name: "no batch after the grace",
			edit: func(f *fakeSource, in *health.Input) {
				f.noBatch()
				in.Schedule = &health.Schedule{Hour: 12, Minute: 50, Location: loc} // 17:50 UTC
				in.Grace = 10 * time.Minute
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"run": health.Fail},
		},
		{
			name: "no batch of the date, scheduled yesterday",
			edit: func(f *fakeSource, in *health.Input) {
				f.noBatch()
				in.Date = date - 1
				in.Schedule = &health.Schedule{Hour: 23, Minute: 59, Location: loc}
			},
			want:   health.Unhealthy,
			levels: map[string]health.Level{"run": health.Fail},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := healthySource()
			in := health.Input{Date: date, Run: "daily", Now: now}
			tt.edit(src, &in)
			r := health.Assess(t.Context(), src, in)
			if r.Status != tt.want || r.ExitCode != tt.want.ExitCode() {
				t.Errorf("got %s (exit %d), want %s (exit %d); checks:\n%s", r.Status, r.ExitCode, tt.want, tt.want.ExitCode(), describe(r))
			}
			for name, lv := range tt.levels {
				c, ok := r.Find(name)
				switch {
				case lv == "" && ok:
					t.Errorf("check %s: got %s %q, want none", name, c.Level, c.Message)
				case lv != "" && c.Level != lv:
					t.Errorf("check %s: got %q %q, want %s", name, c.Level, c.Message, lv)
				}
			}
			for name, want := range tt.items {
				c, _ := r.Find(name)
				if diff := cmp.Diff(want, c.Items); diff != "" {
					t.Errorf("check %s items (-want +got):\n%s", name, diff)
				}
			}
			if r.Date != in.Date.String() || r.Run != in.Run || !r.CheckedAt.Equal(in.Now) {
				t.Errorf("report of %s/%s at %v, want %s/%s at %v", r.Date, r.Run, r.CheckedAt, in.Date, in.Run, in.Now)
			}
			// The run's batches, then, when one was read, the whole date's
			// for newer runs.
			want := []batch.ListOptions{{Date: in.Date.String(), Run: in.Run}}
			if r.Batch != nil {
				want = append(want, batch.ListOptions{Date: in.Date.String()})
			}
			if !cmp.Equal(src.listed, want) {
				t.Errorf("listed %+v, want %+v", src.listed, want)
			}
		})
	}
}

func describe(r health.Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %-4s %-12s %s %q\n", c.Level, c.Name, c.Message, c.Items)
	}
	return b.String()
}

// The publication policy keeps the better run's picks live; health says
// which picks are live and still reports a newer run that failed or was
// cancelled as unhealthy, whichever batch it is asked about.
func TestAssess_PublicationPolicy(t *testing.T) {
	t.Parallel()
	// newer is a second run of the date, created after the healthy
	// source's batch, that finalized with result.
	newer := func(result batch.Result) httpapi.BatchSummary {
		created := now.Add(-20 * time.Minute)
		counts := batch.Counts{TimedOut: 10}
		if result == batch.ResultSucceeded {
			counts = batch.Counts{Succeeded: 10}
		}
		return httpapi.Summarize(batch.Batch{ID: "2026-01-15-second-1", Key: batch.Key{Date: date.String(), Run: "second"},
			State: batch.Finalized, Result: result, Total: 10, Counts: counts, CreatedAt: created,
			Deadline: created.Add(time.Millisecond), FinalizedAt: created.Add(time.Second)})
	}
	// checkNewest makes f's batch the newer run, with the healthy batch's
	// publication standing.
	checkNewest := func(f *fakeSource, result batch.Result) {
		pub := *f.report.Publication
		pub.ThisBatch = false
		f.report.Batch = newer(result)
		f.report.Publication = &pub
		f.batches = []httpapi.BatchSummary{f.report.Batch, f.batches[0]}
	}
	tests := []struct {
		name   string
		run    string
		edit   func(f *fakeSource)
		want   health.Status
		levels map[string]health.Level
		// says are fragments the named check's message must hold.
		says map[string][]string
	}{
		{
			name: "older good run asked about, newer run failed",
			run:  "daily",
			edit: func(f *fakeSource) { f.all = []httpapi.BatchSummary{newer(batch.ResultFailed), f.batches[0]} },
			want: health.Unhealthy,
			levels: map[string]health.Level{"state": health.OK, "published": health.OK, "export": health.OK,
				"newer_runs": health.Fail},
			says: map[string][]string{"newer_runs": {"1 newer run(s)", "live picks are batch " + batchID + " (run daily, succeeded)"}},
		},
		{
			name:   "older good run asked about, newer run cancelled",
			run:    "daily",
			edit:   func(f *fakeSource) { f.all = []httpapi.BatchSummary{newer(batch.ResultCancelled), f.batches[0]} },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"newer_runs": health.Fail},
		},
		{
			name:   "older good run asked about, newer run partial",
			run:    "daily",
			edit:   func(f *fakeSource) { f.all = []httpapi.BatchSummary{newer(batch.ResultPartial), f.batches[0]} },
			want:   health.Healthy,
			levels: map[string]health.Level{"newer_runs": health.OK},
		},
		{
			name: "newest run failed, the older good picks stay live",
			edit: func(f *fakeSource) { checkNewest(f, batch.ResultFailed) },
			want: health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail, "published": health.OK, "export": health.OK,
				"newer_runs": ""},
			says: map[string][]string{"published": {"not live", "live picks are batch " + batchID + " (run daily, succeeded)"}},
		},
		{
			name:   "newest run cancelled, the older good picks stay live",
			edit:   func(f *fakeSource) { checkNewest(f, batch.ResultCancelled) },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"state": health.Fail, "published": health.Skip},
			says:   map[string][]string{"published": {"cancelled, not published", "live picks are batch " + batchID}},
		},
		{
			name:   "newest run succeeded but the older picks stayed",
			edit:   func(f *fakeSource) { checkNewest(f, batch.ResultSucceeded) },
			want:   health.Unhealthy,
			levels: map[string]health.Level{"published": health.Fail},
			says:   map[string][]string{"published": {"stale", "live picks are batch " + batchID}},
		},
		{
			name: "newest run succeeded under an operator's pin",
			edit: func(f *fakeSource) {
				checkNewest(f, batch.ResultSucceeded)
				f.report.Publication.Pinned = true
			},
			want:   health.Healthy,
			levels: map[string]health.Level{"published": health.OK},
			says:   map[string][]string{"published": {"not live", "pinned by an operator"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := healthySource()
			tt.edit(src)
			r := health.Assess(t.Context(), src, health.Input{Date: date, Run: tt.run, Now: now})
			if r.Status != tt.want {
				t.Errorf("got %s, want %s; checks:\n%s", r.Status, tt.want, describe(r))
			}
			for name, lv := range tt.levels {
				c, ok := r.Find(name)
				switch {
				case lv == "" && ok:
					t.Errorf("check %s: got %s %q, want none", name, c.Level, c.Message)
				case lv != "" && c.Level != lv:
					t.Errorf("check %s: got %q %q, want %s", name, c.Level, c.Message, lv)
				}
			}
			for name, frags := range tt.says {
				c, _ := r.Find(name)
				for _, f := range frags {
					if !strings.Contains(c.Message, f) {
						t.Errorf("check %s says %q, want it to say %q", name, c.Message, f)
					}
				}
			}
			if r.Live == nil || r.Live.BatchID != batchID || r.Live.Run != "daily" || r.Live.Result != batch.ResultSucceeded {
				t.Errorf("live: %+v, want batch %s (daily, succeeded)", r.Live, batchID)
			}
		})
	}
}

func TestAssess_NoGames(t *testing.T) {
	t.Parallel()
	src := healthySource()
	b := src.report.Batch.Batch
	b.Total, b.Counts = 0, batch.Counts{}
	b.Meta = map[string]string{batch.MetaNoItems: "no games scheduled on " + date.String()}
	src.report.Batch = httpapi.Summarize(b)
	src.batches[0] = src.report.Batch
	src.report.Publication.Players, src.report.Publication.Predictions = 0, 0
	src.report.Export.Players, src.report.Export.Predictions = 0, 0
	r := health.Assess(t.Context(), src, health.Input{Date: date, Run: "daily", Now: now})
	if r.Status != health.Healthy {
		t.Fatalf("got %s, want healthy; checks:\n%s", r.Status, describe(r))
	}
	if c, _ := r.Find("state"); c.Level != health.OK || c.Message != "finalized: no games scheduled on 2026-01-15" {
		t.Fatalf("state check = %s %q; want ok \"finalized: no games scheduled on 2026-01-15\"", c.Level, c.Message)
	}
}

func TestAssess_ExportFailing(t *testing.T) {
	t.Parallel()
	src := healthySource()
	since := now.Add(-20 * time.Minute)
	src.report.Export = &httpapi.Export{Path: "exports/2026-01-15.json", Failing: "export: mkdir exports: not a directory",
		Failures: 3, FailingSince: since}
	r := health.Assess(t.Context(), src, health.Input{Date: date, Run: "daily", Now: now})
	c, _ := r.Find("export")
	if r.Status != health.Degraded || c.Level != health.Warn || !strings.Contains(c.Message, "not a directory") ||
		!strings.Contains(c.Message, "failed 3 time(s) since "+since.Format(time.RFC3339)) {
		t.Fatalf("got %s, export check %s %q; want degraded, a warning naming the failure:\n%s", r.Status, c.Level, c.Message, describe(r))
	}
}
