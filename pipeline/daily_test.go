package pipeline_test

import (
	"testing"
	"time"

	"tipoff/pipeline"
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
