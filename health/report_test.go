package health_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/health"
	"tipoff/httpapi"
	"tipoff/predict"
)

func TestReport_Finish(t *testing.T) {
	tests := []struct {
		name   string
		levels []health.Level
		want   health.Status
		code   int
	}{
		{"no checks", nil, health.Healthy, 0},
		{"ok and skip", []health.Level{health.OK, health.Skip}, health.Healthy, 0},
		{"a warning", []health.Level{health.OK, health.Warn, health.Skip}, health.Degraded, 2},
		{"a failure", []health.Level{health.OK, health.Fail}, health.Unhealthy, 1},
		{"a failure before a warning", []health.Level{health.Fail, health.Warn}, health.Unhealthy, 1},
		{"a warning before a failure", []health.Level{health.Warn, health.Fail, health.OK}, health.Unhealthy, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r health.Report
			for i, lv := range tt.levels {
				r.Add(string(rune('a'+i)), lv, "message")
			}
			r.Finish()
			if r.Status != tt.want || r.ExitCode != tt.code {
				t.Errorf("Finish of %v: got %s (exit %d), want %s (exit %d)", tt.levels, r.Status, r.ExitCode, tt.want, tt.code)
			}
		})
	}
}

// Finish may be called again after more checks; the verdict follows them.
func TestReport_FinishAgain(t *testing.T) {
	var r health.Report
	r.Add("run", health.OK, "batch")
	r.Finish()
	r.Add("store", health.Fail, "cannot open")
	r.Finish()
	if r.Status != health.Unhealthy || r.ExitCode != 1 {
		t.Errorf("got %s (exit %d), want unhealthy (exit 1)", r.Status, r.ExitCode)
	}
}

func TestStatus_ExitCode(t *testing.T) {
	tests := []struct {
		s    health.Status
		want int
	}{
		{health.Healthy, 0},
		{health.Unhealthy, 1},
		{health.Degraded, 2},
		{"", 1},
		{"unknown", 1},
	}
	for _, tt := range tests {
		if got := tt.s.ExitCode(); got != tt.want {
			t.Errorf("Status(%q).ExitCode() = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestReport_Find(t *testing.T) {
	var r health.Report
	r.Add("run", health.OK, "first")
	r.Add("state", health.Warn, "second", "p01")
	if c, ok := r.Find("state"); !ok || !cmp.Equal(c, health.Check{Name: "state", Level: health.Warn, Message: "second", Items: []string{"p01"}}) {
		t.Errorf("Find(state) = %+v, %v; want the second check", c, ok)
	}
	if c, ok := r.Find("export"); ok {
		t.Errorf("Find(export) = %+v, true; want none", c)
	}
}

// The JSON field names are what "tipoff health --json" prints: scripts
// read them, so renaming one breaks its users.
func TestReport_JSONFields(t *testing.T) {
	r := health.Report{Status: health.Degraded, ExitCode: 2, Date: "2026-01-15", Run: "daily", Source: "db tipoff.db",
		CheckedAt: now, Checks: []health.Check{{Name: "failed", Level: health.Warn, Message: "1 player(s)", Items: []string{"p01"}}},
		Service: &httpapi.ServiceInfo{}, Batch: &httpapi.BatchReport{}, Others: []string{"older"}, Queue: &httpapi.QueueReport{}}
	var b bytes.Buffer
	if err := health.WriteJSON(&b, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "{\n  \"") || !strings.HasSuffix(b.String(), "}\n") {
		t.Errorf("WriteJSON wrote %q; want one indented object and a newline", b.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"batch", "checked_at", "checks", "date", "exit_code", "other_batches", "queue", "run", "service", "source", "status"}
	if keys := slices.Sorted(maps.Keys(got)); !cmp.Equal(keys, want) {
		t.Errorf("report fields: got %v, want %v", keys, want)
	}
	var checks []map[string]any
	if err := json.Unmarshal(got["checks"], &checks); err != nil {
		t.Fatal(err)
	}
	wantCheck := map[string]any{"name": "failed", "level": "warn", "message": "1 player(s)", "items": []any{"p01"}}
	if len(checks) != 1 || !cmp.Equal(checks[0], wantCheck) {
		t.Errorf("checks: got %v, want [%v]", checks, wantCheck)
	}
	if string(got["status"]) != `"degraded"` || string(got["exit_code"]) != "2" {
		t.Errorf("status %s, exit_code %s; want \"degraded\", 2", got["status"], got["exit_code"])
	}
}

func TestSchedule_Due(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    health.Schedule
		d    string
		want time.Time
	}{
		{"winter, league time", health.Schedule{Hour: 7, Minute: 0, Location: ny}, "2026-01-15", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)},
		{"summer, league time", health.Schedule{Hour: 7, Minute: 30, Location: ny}, "2026-07-01", time.Date(2026, 7, 1, 11, 30, 0, 0, time.UTC)},
		{"no location is UTC", health.Schedule{Hour: 23, Minute: 59}, "2026-01-15", time.Date(2026, 1, 15, 23, 59, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Due(predict.MustParseDate(tt.d)); !got.Equal(tt.want) {
				t.Errorf("Due(%s) = %v, want %v", tt.d, got, tt.want)
			}
		})
	}
}
