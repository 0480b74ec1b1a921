package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"tipoff/batch"
	"tipoff/internal/cloudlog"
	"tipoff/pipeline"
)

// Config is every setting of the binary. Its values come from flags, then
// TIPOFF_* environment variables, then DefaultConfig.
type Config struct {
	DB         string        // SQLite file (embedded shape)
	Date       string        // game date YYYY-MM-DD; "" means today in the league's time zone
	Run        string        // run label
	Workers    int           // worker goroutines
	Receive    int           // requests a worker takes from the queue at a time
	ExportDir  string        // where finalize writes the day's picks JSON
	Policy     batch.Policy  // item timeout, attempts, deadline, success ratio
	Lease      time.Duration // queue visibility timeout
	Finalize   time.Duration // finalize lease: a finalizer stalled longer is taken over and fenced out
	PushWait   time.Duration // how long the coordinator works on one push before answering 503
	SweepEvery time.Duration // sweeper period
	LogLevel   string        // debug, info, warn, error
	LogFormat  string        // text or json
}

// DefaultConfig returns the built-in defaults.
func DefaultConfig() Config {
	return Config{
		DB:         "tipoff.db",
		Run:        "daily",
		Workers:    runtime.NumCPU(),
		Receive:    64,
		ExportDir:  "exports",
		Policy:     batch.Policy{}.WithDefaults(),
		Lease:      30 * time.Second,
		Finalize:   batch.DefaultLeaseTTL,
		PushWait:   20 * time.Second,
		SweepEvery: 2 * time.Second,
		LogLevel:   "info",
		LogFormat:  "text",
	}
}

// Validate returns every problem with c, each naming the setting and value.
func (c Config) Validate() error {
	var errs []error
	if c.DB == "" {
		errs = append(errs, errors.New("db: empty path"))
	}
	if c.Date != "" {
		if _, err := time.Parse(time.DateOnly, c.Date); err != nil {
			errs = append(errs, fmt.Errorf("date %q: want YYYY-MM-DD", c.Date))
		}
	}
	if err := (batch.Key{Date: "2000-01-01", Run: c.Run}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("run %q: 1-64 of a-z 0-9 . _ - starting with a letter or digit", c.Run))
	}
	if c.Workers < 0 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers %d: want 0 to 1024", c.Workers))
	}
	if c.Receive < 1 || c.Receive > 1000 {
		errs = append(errs, fmt.Errorf("receive-batch %d: want 1 to 1000", c.Receive))
	}
	if c.Lease < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease %v: want at least 100ms", c.Lease))
	}
	if c.Finalize < 100*time.Millisecond || c.Finalize > time.Hour {
		errs = append(errs, fmt.Errorf("finalize-lease %v: want 100ms to 1h", c.Finalize))
	}
	if c.PushWait < time.Second || c.PushWait > 10*time.Minute {
		errs = append(errs, fmt.Errorf("push-timeout %v: want 1s to 10m", c.PushWait))
	}
	if c.SweepEvery < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("sweep-every %v: want at least 10ms", c.SweepEvery))
	}
	p := c.Policy
	if p.ItemTimeout <= 0 {
		errs = append(errs, fmt.Errorf("item-timeout %v: want a positive duration", p.ItemTimeout))
	}
	if p.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max-attempts %d: want at least 1", p.MaxAttempts))
	}
	if p.Deadline <= 0 {
		errs = append(errs, fmt.Errorf("deadline %v: want a positive duration", p.Deadline))
	}
	if p.MinSuccessRatio < 0 || p.MinSuccessRatio > 1 {
		errs = append(errs, fmt.Errorf("min-success %v: want 0 to 1", p.MinSuccessRatio))
	}
	if _, err := cloudlog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// GameDate returns c.Date, or today's date in the league's time zone.
func (c Config) GameDate(now time.Time) string {
	if c.Date != "" {
		return c.Date
	}
	return pipeline.LeagueToday(now)
}

// Logger builds the process's logger: text for a terminal, JSON in the
// shape Cloud Logging and Error Reporting read (see cloudlog.New).
func (c Config) Logger(w io.Writer, project string) *slog.Logger {
	level, _ := cloudlog.ParseLevel(c.LogLevel)
	return cloudlog.NewProcess(w, c.LogFormat, level, project)
}
