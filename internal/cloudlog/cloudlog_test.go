package cloudlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/internal/cloudlog"
)

// JSON logs carry Cloud Logging's severity and message keys, and its trace
// field when a record belongs to a trace: by the context, its own trace_id
// attribute, or one bound with With.
func TestNew_Trace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := cloudlog.New(&buf, slog.LevelInfo, "tipoff-prod")
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	want := "projects/tipoff-prod/traces/" + trace
	log.InfoContext(batch.WithTraceID(context.Background(), trace), "from context")
	log.Warn("from attribute", "batch_id", "b1", "trace_id", trace)
	log.With("trace_id", trace).Info("bound")
	log.Info("no trace")
	log.With("trace_id", "").Info("empty trace")
	log.Debug("below the level")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		got, _ := rec["logging.googleapis.com/trace"].(string)
		if (i < 3 && got != want) || (i >= 3 && got != "") {
			t.Errorf("line %d (%s): trace field %q", i, rec["message"], got)
		}
		if rec["severity"] == nil || rec["message"] == nil {
			t.Errorf("line %d lacks severity or message: %s", i, l)
		}
	}
	if !strings.Contains(lines[1], `"severity":"WARNING"`) {
		t.Errorf("a warning's severity is not WARNING: %s", lines[1])
	}
}

// Without a project no record carries a trace field.
func TestNew_NoProject(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	cloudlog.New(&buf, slog.LevelInfo, "").Info("x", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
	if strings.Contains(buf.String(), "logging.googleapis.com/trace") {
		t.Errorf("trace field without a project: %s", buf.String())
	}
}
