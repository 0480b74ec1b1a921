package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tipoff/batch"
)

// Daily is a time of day in the league's time zone at which the day's run
// starts.
type Daily struct {
	Hour, Minute int
}

// ParseDaily parses "HH:MM" (24-hour, league time).
func ParseDaily(s string) (Daily, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Daily{}, fmt.Errorf("daily %q: want HH:MM in 24-hour league time (%s)", s, LeagueTZ)
	}
	return Daily{Hour: t.Hour(), Minute: t.Minute()}, nil
}

// At returns the run time on the league date of now.
func (d Daily) At(now time.Time) time.Time {
	y, m, dd := now.In(leagueLoc).Date()
	return time.Date(y, m, dd, d.Hour, d.Minute, 0, 0, leagueLoc)
}

// Due returns the league date whose run should exist by now: today if
// today's run time has passed, else "" (nothing due yet today). A run missed
// while the process was down is therefore caught up at start, and creating
// it is idempotent by date and label, so a catch-up never makes a second
// batch.
func (d Daily) Due(now time.Time) string {
	if now.Before(d.At(now)) {
		return ""
	}
	return LeagueToday(now)
}

// Next returns the first run time strictly after now.
func (d Daily) Next(now time.Time) time.Time {
	t := d.At(now)
	if !t.After(now) {
		y, m, dd := now.In(leagueLoc).Date()
		t = time.Date(y, m, dd+1, d.Hour, d.Minute, 0, 0, leagueLoc)
	}
	return t
}

// DailyConfig configures [RunDaily]. Start and Dispatch are required.
type DailyConfig struct {
	At Daily
	// Start starts a date's run: [Starter.Start].
	Start func(ctx context.Context, req StartRequest) (b batch.Batch, created bool, err error)
	// Dispatch publishes a new batch's items: [batch.Coordinator.Dispatch].
	Dispatch func(batchID string)
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	// WaitFunc waits until t, or returns false once ctx ends; default a
	// timer.
	WaitFunc func(ctx context.Context, t time.Time) bool
	Log      *slog.Logger
}

// startRetry is how long RunDaily waits before it tries a failed start
// again.
const startRetry = time.Minute

// RunDaily starts the day's run at cfg.At every day until ctx ends,
// catching up a run that is due but missing when it starts. A date with no
// games is recorded by its start like any other run (a batch with no
// items, finalized at once), so it waits for the next day like a started
// run. A start that fails is retried a minute later.
func RunDaily(ctx context.Context, cfg DailyConfig) {
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.WaitFunc == nil {
		cfg.WaitFunc = func(ctx context.Context, t time.Time) bool {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		next := cfg.At.Next(cfg.NowFunc())
		if date := cfg.At.Due(cfg.NowFunc()); date != "" {
			b, created, err := cfg.Start(ctx, StartRequest{Date: date})
			reason, quiet := b.NoItems()
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				log.Error("scheduled run failed to start; retrying in a minute", "run_date", date, "err", err)
				next = cfg.NowFunc().Add(startRetry)
			case quiet:
				log.Info("nothing to run today: "+reason, "batch_id", b.ID, "run_date", date, "created", created)
			case created:
				cfg.Dispatch(b.ID)
				log.Info("scheduled run started", "batch_id", b.ID, "run_date", date, "items", b.Total, "trace_id", b.Meta[batch.AttrTraceID])
			default:
				log.Info("scheduled run already exists", "batch_id", b.ID, "run_date", date, "state", b.State)
			}
		}
		log.Info("next scheduled run", "at", next.Format(time.RFC3339))
		if !cfg.WaitFunc(ctx, next) {
			return
		}
	}
}
