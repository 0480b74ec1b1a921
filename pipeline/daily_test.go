package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

func TestDaily(t *testing.T) {
	t.Parallel()
	d, err := pipeline.ParseDaily("07:00")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation(pipeline.LeagueTZ)
	tests := []struct {
		name     string
		now      time.Time
		wantDue  string
		wantNext time.Time
	}{
		{"before the run time", time.Date(2025, 12, 25, 6, 59, 0, 0, ny), "", time.Date(2025, 12, 25, 7, 0, 0, 0, ny)},
		{"at the run time", time.Date(2025, 12, 25, 7, 0, 0, 0, ny), "2025-12-25", time.Date(2025, 12, 26, 7, 0, 0, 0, ny)},
		{"late evening catches up today", time.Date(2025, 12, 25, 23, 30, 0, 0, ny), "2025-12-25", time.Date(2025, 12, 26, 7, 0, 0, 0, ny)},
		// 03:00 UTC on the 26th is still the 25th in New York: the league
		// date, not the UTC date, is due.
		{"utc already tomorrow", time.Date(2025, 12, 26, 3, 0, 0, 0, time.UTC), "2025-12-25", time.Date(2025, 12, 26, 7, 0, 0, 0, ny)},
		{"spring forward", time.Date(2026, 3, 8, 1, 0, 0, 0, ny), "", time.Date(2026, 3, 8, 7, 0, 0, 0, ny)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Due(tt.now); got != tt.wantDue {
				t.Errorf("Due(%v) = %q, want %q", tt.now, got, tt.wantDue)
			}
			if got := d.Next(tt.now); !got.Equal(tt.wantNext) {
				t.Errorf("Next(%v) = %v, want %v", tt.now, got, tt.wantNext)
			}
		})
	}
	if _, err := pipeline.ParseDaily("7am"); err == nil {
		t.Error("pipeline.ParseDaily(7am) succeeded, want an error")
	}
}

func TestLeagueToday(t *testing.T) {
	t.Parallel()
	// 02:00 UTC on Dec 26 is 21:00 on Dec 25 in New York.
	if got := pipeline.LeagueToday(time.Date(2025, 12, 26, 2, 0, 0, 0, time.UTC)); got != "2025-12-25" {
		t.Fatalf("LeagueToday = %s, want 2025-12-25", got)
	}
}

// dailyRun runs RunDaily at 07:00 from start until its first wait, and
// returns what it waited for and what it logged.
func dailyRun(t *testing.T, start time.Time, startFunc func(context.Context, pipeline.StartRequest) (batch.Batch, bool, error)) (time.Time, string) {
	t.Helper()
	var logs bytes.Buffer
	var waited time.Time
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pipeline.RunDaily(ctx, pipeline.DailyConfig{At: pipeline.Daily{Hour: 7}, Start: startFunc,
		Dispatch: func(string) { t.Error("a batch was dispatched") },
		NowFunc:  func() time.Time { return start },
		WaitFunc: func(ctx context.Context, at time.Time) bool { waited = at; return false },
		Log:      slog.New(slog.NewTextHandler(&logs, nil))})
	return waited, logs.String()
}

// On a day without games the daily run records the day and waits for the
// next day's run time, logging no error; a start that fails is an error,
// tried again a minute later.
func TestRunDaily_NoGames(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	day := predict.MustParseDate(offDay(t, e.league))
	ny, _ := time.LoadLocation(pipeline.LeagueTZ)
	y, m, d := day.Civil()
	now := time.Date(y, time.Month(m), d, 8, 0, 0, 0, ny)

	waited, logs := dailyRun(t, now, e.starter.Start)
	if want := time.Date(y, time.Month(m), d+1, 7, 0, 0, 0, ny); !waited.Equal(want) {
		t.Errorf("after the off day %s it waits until %v, want %v", day, waited, want)
	}
	if strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "nothing to run today: no games scheduled on "+day.String()) {
		t.Errorf("logs of the off day: want no error and \"nothing to run today: no games scheduled\":\n%s", logs)
	}
	bs, err := e.store.ListBatches(t.Context(), batch.ListOptions{Date: day.String()})
	if err != nil || len(bs) != 1 || bs[0].State != batch.Finalized {
		t.Fatalf("batches of the off day: %+v, %v; want one finalized", bs, err)
	}

	failing := func(context.Context, pipeline.StartRequest) (batch.Batch, bool, error) {
		return batch.Batch{}, false, errors.New("data unreadable")
	}
	waited, logs = dailyRun(t, now, failing)
	if want := now.Add(time.Minute); !waited.Equal(want) {
		t.Errorf("after a failed start it waits until %v, want %v", waited, want)
	}
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "data unreadable") {
		t.Errorf("logs of a failed start: want an error naming the cause:\n%s", logs)
	}
}
