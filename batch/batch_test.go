package batch_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
)

func TestKey_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		key    batch.Key
		wantIn string // "" means valid
	}{
		{"ok", batch.Key{Date: "2026-01-15", Run: "daily"}, ""},
		{"label with punctuation", batch.Key{Date: "2026-01-15", Run: "re-run_2.b"}, ""},
		{"leap day", batch.Key{Date: "2028-02-29", Run: "daily"}, ""},
		{"not a leap year", batch.Key{Date: "2026-02-29", Run: "daily"}, "2026-02-29"},
		{"no date", batch.Key{Run: "daily"}, `""`},
		{"other date format", batch.Key{Date: "01/15/2026", Run: "daily"}, "01/15/2026"},
		{"date with time", batch.Key{Date: "2026-01-15T00:00:00Z", Run: "daily"}, "2026-01-15T00:00:00Z"},
		{"no run", batch.Key{Date: "2026-01-15"}, "run label"},
		{"upper case run", batch.Key{Date: "2026-01-15", Run: "Daily"}, "Daily"},
		{"run starting with a dash", batch.Key{Date: "2026-01-15", Run: "-daily"}, "-daily"},
		{"run with a slash", batch.Key{Date: "2026-01-15", Run: "a/b"}, "a/b"},
		{"run of 65 characters", batch.Key{Date: "2026-01-15", Run: strings.Repeat("a", 65)}, "run label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, tt.key.Validate(), tt.wantIn)
		})
	}
}

// checkInvalid fails unless err is nil when wantIn is empty, and otherwise
// wraps ErrInvalid and names wantIn.
func checkInvalid(t *testing.T, err error, wantIn string) {
	t.Helper()
	if wantIn == "" {
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("got %v, want an error wrapping ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), wantIn) {
		t.Fatalf("error %q does not name %s", err, wantIn)
	}
}

func TestPolicy_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		p      batch.Policy
		wantIn string
	}{
		{"zero takes defaults", batch.Policy{}, ""},
		{"all set", batch.Policy{ItemTimeout: time.Minute, MaxAttempts: 5, Deadline: time.Hour, MinSuccessRatio: 1}, ""},
		{"negative item timeout", batch.Policy{ItemTimeout: -time.Second}, "item timeout -1s"},
		{"negative attempts", batch.Policy{MaxAttempts: -1}, "max attempts -1"},
		{"negative deadline", batch.Policy{Deadline: -time.Hour}, "deadline -1h0m0s"},
		{"ratio below 0", batch.Policy{MinSuccessRatio: -0.1}, "-0.1"},
		{"ratio above 1", batch.Policy{MinSuccessRatio: 1.01}, "1.01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, tt.p.Validate(), tt.wantIn)
		})
	}
}

func TestPolicy_WithDefaults(t *testing.T) {
	t.Parallel()
	got := batch.Policy{MaxAttempts: 7}.WithDefaults()
	want := batch.Policy{ItemTimeout: batch.DefaultItemTimeout, MaxAttempts: 7, Deadline: batch.DefaultDeadline,
		MinSuccessRatio: batch.DefaultMinSuccessRatio}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestPolicy_Decide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ratio float64
		total int
		c     batch.Counts
		want  batch.Result
	}{
		{"all succeeded", 0.9, 10, batch.Counts{Succeeded: 10}, batch.ResultSucceeded},
		{"skipped counts as success", 0.9, 10, batch.Counts{Succeeded: 6, Skipped: 4}, batch.ResultSucceeded},
		{"one failure above the ratio", 0.9, 10, batch.Counts{Succeeded: 9, Failed: 1}, batch.ResultPartial},
		{"one timeout above the ratio", 0.9, 10, batch.Counts{Succeeded: 9, TimedOut: 1}, batch.ResultPartial},
		{"below the ratio", 0.9, 10, batch.Counts{Succeeded: 8, Failed: 2}, batch.ResultFailed},
		{"zero ratio means the default 0.9", 0, 10, batch.Counts{Succeeded: 8, Failed: 2}, batch.ResultFailed},
		{"ratio 1 makes any failure fatal", 1, 100, batch.Counts{Succeeded: 99, Failed: 1}, batch.ResultFailed},
		{"nothing succeeded", 0.5, 4, batch.Counts{Failed: 2, TimedOut: 2}, batch.ResultFailed},
		// Exactly at the minimum share: ratio×total rounds above the count
		// in floating point for each of these.
		{"7 of 100 at 0.07", 0.07, 100, batch.Counts{Succeeded: 7, Failed: 93}, batch.ResultPartial},
		{"14 of 25 at 0.56", 0.56, 25, batch.Counts{Succeeded: 14, TimedOut: 11}, batch.ResultPartial},
		{"51 of 75 at 0.68", 0.68, 75, batch.Counts{Succeeded: 50, Skipped: 1, Failed: 24}, batch.ResultPartial},
		{"just below 0.56", 0.56, 25, batch.Counts{Succeeded: 13, TimedOut: 12}, batch.ResultFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (batch.Policy{MinSuccessRatio: tt.ratio}).Decide(tt.total, tt.c); got != tt.want {
				t.Fatalf("Decide(%d, %+v) with ratio %v = %s, want %s", tt.total, tt.c, tt.ratio, got, tt.want)
			}
		})
	}
}

func TestSpec_Validate(t *testing.T) {
	t.Parallel()
	good := func() batch.Spec {
		return batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"},
			Items: []batch.NewItem{{ID: "1628983"}, {ID: "p:2"}, {ID: "a.b-c_d"}}}
	}
	tests := []struct {
		name   string
		mod    func(*batch.Spec)
		wantIn string
	}{
		{"ok", func(*batch.Spec) {}, ""},
		{"bad key", func(s *batch.Spec) { s.Key.Run = "" }, "run label"},
		{"bad policy", func(s *batch.Spec) { s.Policy.MaxAttempts = -2 }, "max attempts"},
		{"no items", func(s *batch.Spec) { s.Items = nil }, "2026-01-15/daily has no items and no meta no_items"},
		{"no items on purpose", func(s *batch.Spec) {
			s.Items, s.Meta = nil, map[string]string{batch.MetaNoItems: "no games scheduled on 2026-01-15"}
		}, ""},
		{"items beside a no_items reason", func(s *batch.Spec) { s.Meta = map[string]string{batch.MetaNoItems: "no games"} }, `has 3 items but meta no_items "no games"`},
		{"empty id", func(s *batch.Spec) { s.Items[1].ID = "" }, "item 1"},
		{"id with a space", func(s *batch.Spec) { s.Items[2].ID = "a b" }, `item 2: id "a b"`},
		{"id starting with a dash", func(s *batch.Spec) { s.Items[0].ID = "-1" }, `"-1"`},
		{"id of 129 characters", func(s *batch.Spec) { s.Items[0].ID = strings.Repeat("9", 129) }, "item 0"},
		{"repeated id", func(s *batch.Spec) { s.Items[2].ID = "1628983" }, `item 2: id "1628983" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := good()
			tt.mod(&s)
			checkInvalid(t, s.Validate(), tt.wantIn)
		})
	}
}

func TestOutcomeRecord_Validate(t *testing.T) {
	t.Parallel()
	ok := batch.OutcomeRecord{BatchID: "b1", ItemID: "p1", Outcome: batch.OutcomeSkipped}
	tests := []struct {
		name   string
		mod    func(*batch.OutcomeRecord)
		wantIn string
	}{
		{"ok", func(*batch.OutcomeRecord) {}, ""},
		{"no batch", func(r *batch.OutcomeRecord) { r.BatchID = "" }, "names no batch"},
		{"no item", func(r *batch.OutcomeRecord) { r.ItemID = "" }, "batch b1 names no item"},
		{"no outcome", func(r *batch.OutcomeRecord) { r.Outcome = batch.OutcomeNone }, `"" for b1/p1`},
		{"unknown outcome", func(r *batch.OutcomeRecord) { r.Outcome = "SUCCEEDED" }, `"SUCCEEDED"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tt.mod(&r)
			checkInvalid(t, r.Validate(), tt.wantIn)
		})
	}
}

func TestEvent_Validate(t *testing.T) {
	t.Parallel()
	ok := batch.Event{ID: batch.EventID("b1", batch.EventFinalized), Type: batch.EventFinalized, BatchID: "b1"}
	tests := []struct {
		name   string
		mod    func(*batch.Event)
		wantIn string
	}{
		{"ok", func(*batch.Event) {}, ""},
		{"no id", func(e *batch.Event) { e.ID = "" }, "no id"},
		{"no type", func(e *batch.Event) { e.Type = "" }, "b1/batch.finalized has no type"},
		{"another batch", func(e *batch.Event) { e.BatchID = "b2" }, `"b2", not b1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ok
			tt.mod(&e)
			checkInvalid(t, e.Validate("b1"), tt.wantIn)
		})
	}
}

func TestListOptions_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		o      batch.ListOptions
		wantIn string
	}{
		{"zero", batch.ListOptions{}, ""},
		{"all set", batch.ListOptions{Date: "2026-01-15", Run: "daily", State: batch.Finalizing, Limit: 5}, ""},
		{"bad date", batch.ListOptions{Date: "2026-1-15"}, "2026-1-15"},
		{"bad state", batch.ListOptions{State: "done"}, `"done"`},
		{"negative limit", batch.ListOptions{Limit: -3}, "-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, tt.o.Validate(), tt.wantIn)
		})
	}
	checkInvalid(t, batch.ItemsOptions{Limit: -1}.Validate(), "-1")
	checkInvalid(t, batch.ItemsOptions{Limit: 10, PendingOnly: true}.Validate(), "")
}

func TestCounts(t *testing.T) {
	t.Parallel()
	var c batch.Counts
	for _, o := range []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeSucceeded, batch.OutcomeSkipped,
		batch.OutcomeFailed, batch.OutcomeTimedOut, batch.OutcomeNone, "bogus"} {
		c = c.Add(o)
	}
	if want := (batch.Counts{Succeeded: 2, Skipped: 1, Failed: 1, TimedOut: 1}); c != want || c.Done() != 5 {
		t.Fatalf("got %+v (done %d), want %+v (done 5)", c, c.Done(), want)
	}
	b := batch.Batch{Total: 8, Counts: c}
	if b.Remaining() != 3 {
		t.Fatalf("Remaining = %d, want 3", b.Remaining())
	}
}

func TestPlausibleID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"2025-12-10-1a2469cbea0-f7fc20ce2a97": true, "b1": true, "": false, "\xff\xfe": false,
		"a/b": false, "a\x00b": false, strings.Repeat("x", 200): true, strings.Repeat("x", 201): false,
	} {
		if got := batch.PlausibleID(id); got != want {
			t.Errorf("PlausibleID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestProcessName(t *testing.T) {
	host, _ := os.Hostname()
	if got, want := batch.ProcessName(), host+":"+strconv.Itoa(os.Getpid()); got != want {
		t.Fatalf("ProcessName() = %q, want %q", got, want)
	}
}
