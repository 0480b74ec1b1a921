package cloudlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// logFinalizeFailure is a named function for the report location to name.
func logFinalizeFailure(log *slog.Logger) {
	log.Error("finalize failed", "batch_id", "b1", "err", errors.New("disk full"))
}

// An error record is an Error Reporting event: its type, the service, where
// it was logged and a Go-shaped stack trace starting there. Other records
// carry none of it.
func TestNew_ErrorReporting(t *testing.T) {
	t.Setenv("K_SERVICE", "tipoff-coordinator")
	t.Setenv("K_REVISION", "tipoff-coordinator-00007-abc")
	var buf bytes.Buffer
	log := cloudlog.New(&buf, slog.LevelInfo, "tipoff-prod")
	log.Warn("not an error")
	logFinalizeFailure(log)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "@type") || strings.Contains(lines[0], "stack_trace") {
		t.Errorf("a warning carries Error Reporting fields: %s", lines[0])
	}
	var rec struct {
		Type           string `json:"@type"`
		Severity       string `json:"severity"`
		Message        string `json:"message"`
		ServiceContext struct {
			Service, Version string
		} `json:"serviceContext"`
		Context struct {
			ReportLocation struct {
				FilePath     string `json:"filePath"`
				LineNumber   int    `json:"lineNumber"`
				FunctionName string `json:"functionName"`
			} `json:"reportLocation"`
		} `json:"context"`
		StackTrace string `json:"stack_trace"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	loc := rec.Context.ReportLocation
	switch {
	case rec.Type != "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent":
		t.Errorf("@type %q", rec.Type)
	case rec.Severity != "ERROR" || rec.Message != "finalize failed":
		t.Errorf("severity %q message %q", rec.Severity, rec.Message)
	case rec.ServiceContext.Service != "tipoff-coordinator" || rec.ServiceContext.Version != "tipoff-coordinator-00007-abc":
		t.Errorf("serviceContext %+v", rec.ServiceContext)
	case !strings.HasSuffix(loc.FunctionName, ".logFinalizeFailure") || !strings.HasSuffix(loc.FilePath, "cloudlog_test.go") || loc.LineNumber == 0:
		t.Errorf("reportLocation %+v, want logFinalizeFailure in cloudlog_test.go", loc)
	case !strings.HasPrefix(rec.StackTrace, "panic: finalize failed: disk full\n\ngoroutine 1 [running]:\n"):
		t.Errorf("stack_trace does not start as a Go panic with the message and error:\n%s", rec.StackTrace)
	}
	frames := strings.SplitN(rec.StackTrace, "[running]:\n", 2)[1]
	if !strings.HasPrefix(frames, loc.FunctionName+"(...)\n\t") || !strings.Contains(frames, ".TestNew_ErrorReporting(...)\n\t") {
		t.Errorf("stack_trace frames do not start at the logging function and reach its caller:\n%s", frames)
	}
	if strings.Contains(frames, "log/slog") || strings.Contains(frames, "cloudlog.errorHandler") {
		t.Errorf("stack_trace holds the logger's own frames:\n%s", frames)
	}
}

// Levels parse in any case, and a bad one is named with what is wanted.
func TestParseLevel(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := cloudlog.ParseLevel(s); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := cloudlog.ParseLevel("loud"); err == nil || err.Error() != `log-level "loud": want debug, info, warn or error` {
		t.Errorf("ParseLevel(loud) = %v; want the setting and the choices named", err)
	}
}

// A process logs text unless it asks for JSON, which is Cloud Logging's
// shape; either way records below the level are dropped.
func TestNewProcess(t *testing.T) {
	t.Parallel()
	var text, js bytes.Buffer
	cloudlog.NewProcess(&text, "text", slog.LevelInfo, "").Info("batch created", "items", 3)
	cloudlog.NewProcess(&text, "text", slog.LevelInfo, "").Debug("hidden")
	if got := text.String(); !strings.Contains(got, `level=INFO msg="batch created" items=3`) || strings.Contains(got, "hidden") {
		t.Errorf("text log %q", got)
	}
	cloudlog.NewProcess(&js, "json", slog.LevelWarn, "p").Warn("retried")
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil || rec["severity"] != "WARNING" || rec["message"] != "retried" {
		t.Errorf("json log %q (%v); want severity WARNING, message retried", js.String(), err)
	}
}
