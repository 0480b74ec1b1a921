package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"tipoff/pipeline"
)

// HealthCheck is one dependency GET /health checks: Check returns nil when
// it is reachable.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// HealthConfig configures [NewHealth].
type HealthConfig struct {
	// Program, Version and Commit identify the binary (DESIGN.md:
	// deploys must show what they run).
	Program string
	Version string
	Commit  string
	// Role is the service's role, "coordinator" or "worker".
	Role   string
	Checks []HealthCheck
	// Data, when set, reports the input data; a failed last load makes the
	// service unhealthy.
	Data func() pipeline.DataInfo
	// Timeout bounds each check; default 5 s.
	Timeout time.Duration
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	Log     *slog.Logger
}

// CheckResult is one check's outcome in a [HealthReport].
type CheckResult struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	TookMs float64 `json:"took_ms"`
}

// HealthReport is the body of GET /health. [Client.Health] reads its
// program, version and commit.
type HealthReport struct {
	Program string `json:"program"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Role    string `json:"role,omitempty"`
	// Status is "ok" (200) or "unavailable" (503).
	Status    string             `json:"status"`
	Checks    []CheckResult      `json:"checks"`
	Data      *pipeline.DataInfo `json:"data,omitempty"`
	CheckedAt time.Time          `json:"checked_at"`
}

// Health serves GET /health: who the binary is, and whether the store, the
// queue and the input data are reachable, checked concurrently at request
// time. It answers 200 when every check passes and 503 otherwise, so a load
// balancer or uptime check can act on the status alone.
type Health struct {
	cfg HealthConfig
	log *slog.Logger
}

// NewHealth returns the /health handler for cfg.
func NewHealth(cfg HealthConfig) *Health {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Health{cfg: cfg, log: log}
}

// Report runs the checks and returns the report.
func (h *Health) Report(ctx context.Context) HealthReport {
	rep := HealthReport{Program: h.cfg.Program, Version: h.cfg.Version, Commit: h.cfg.Commit, Role: h.cfg.Role,
		Status: "ok", Checks: make([]CheckResult, len(h.cfg.Checks)), CheckedAt: h.cfg.NowFunc().UTC()}
	var wg sync.WaitGroup
	for i, c := range h.cfg.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
			defer cancel()
			start := time.Now()
			err := c.Check(cctx)
			r := CheckResult{Name: c.Name, OK: err == nil, TookMs: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Error = err.Error()
			}
			rep.Checks[i] = r
		})
	}
	wg.Wait()
	if h.cfg.Data != nil {
		d := h.cfg.Data()
		rep.Data = &d
		rep.Checks = append(rep.Checks, CheckResult{Name: "data", OK: d.Problem == "", Error: d.Problem})
	}
	for _, c := range rep.Checks {
		if !c.OK {
			rep.Status = "unavailable"
			h.log.Warn("health check failed", "check", c.Name, "err", c.Error)
		}
	}
	return rep
}

// ServeHTTP answers GET /health.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.Report(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	logUndelivered(h.log, r, enc.Encode(rep))
}
