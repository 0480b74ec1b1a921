// Package cloudlog is the log handler for Cloud Logging: JSON lines in the
// shape Cloud Run's log agent reads (severity, message), where a record
// belongs to a trace the trace field that links it to the request, and on
// errors the fields Error Reporting groups them by (a stack trace and where
// it was logged); and a process's choice between it and text
// ([NewProcess], [ParseLevel]).
// It imports only batch (for the trace ID in a context or attribute).
package cloudlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"tipoff/batch"
)

// New returns a logger writing JSON to w at level and above, in the shape
// Cloud Logging reads: "severity" (WARNING for slog's WARN) and "message".
// With a project, a record with a trace ID (the context's, see
// [batch.WithTraceID], or a trace_id attribute) also carries
// "logging.googleapis.com/trace": "projects/PROJECT/traces/ID".
//
// A record at ERROR or above is also an Error Reporting event: it carries
// "@type" (ReportedErrorEvent), "serviceContext" (the Cloud Run service
// and revision, from K_SERVICE and K_REVISION), "context.reportLocation"
// (the function, file and line that logged it) and "stack_trace" (the
// message and the logging goroutine's stack, in the shape of a Go panic).
func New(w io.Writer, level slog.Level, project string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replace}
	h := slog.Handler(slog.NewJSONHandler(w, opts))
	if project != "" {
		h = traceHandler{Handler: h, project: project}
	}
	service := os.Getenv("K_SERVICE")
	if service == "" {
		service = "tipoff"
	}
	return slog.New(errorHandler{Handler: h, service: service, version: os.Getenv("K_REVISION")})
}

// reportedErrorEvent is the "@type" that makes Error Reporting take a log
// entry as an error event whatever else it holds.
const reportedErrorEvent = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"

// errorHandler adds Error Reporting's fields to records at ERROR and above.
type errorHandler struct {
	slog.Handler
	service, version string
	grouped          bool // attributes added now would land in a group
}

func (h errorHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError || h.grouped {
		return h.Handler.Handle(ctx, r)
	}
	r = r.Clone()
	frames := stack(r.PC)
	svc := []any{slog.String("service", h.service)}
	if h.version != "" {
		svc = append(svc, slog.String("version", h.version))
	}
	attrs := []slog.Attr{slog.String("@type", reportedErrorEvent), slog.Group("serviceContext", svc...)}
	if len(frames) > 0 {
		f := frames[0]
		attrs = append(attrs, slog.Group("context", slog.Group("reportLocation",
			slog.String("filePath", f.File), slog.Int("lineNumber", f.Line), slog.String("functionName", f.Function))))
	}
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	attrs = append(attrs, slog.String("stack_trace", panicTrace(msg, frames)))
	r.AddAttrs(attrs...)
	return h.Handler.Handle(ctx, r)
}

func (h errorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(attrs)
	return h
}

func (h errorHandler) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	h.grouped = true
	return h
}

// stack returns the current goroutine's frames from the one at pc (the
// function that logged) outwards; every frame when pc is not on the stack.
func stack(pc uintptr) []runtime.Frame {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	var all []runtime.Frame
	at := -1
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if at < 0 && pc != 0 && (f.PC == pc-1 || f.PC == pc) {
			at = len(all)
		}
		all = append(all, f)
		if !more {
			break
		}
	}
	if at < 0 {
		return all
	}
	return all[at:]
}

// panicTrace writes msg and frames as a Go panic prints them, the stack
// shape Error Reporting parses for Go.
func panicTrace(msg string, frames []runtime.Frame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "panic: %s\n\ngoroutine 1 [running]:\n", msg)
	for _, f := range frames {
		fmt.Fprintf(&b, "%s(...)\n\t%s:%d\n", f.Function, f.File, f.Line)
	}
	return b.String()
}

// replace renames the level and message keys as Cloud Logging wants them.
func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		a.Key = "severity"
		if lv, ok := a.Value.Any().(slog.Level); ok && lv == slog.LevelWarn {
			a.Value = slog.StringValue("WARNING")
		}
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

// traceKey is the field Cloud Logging reads a log entry's trace from.
const traceKey = "logging.googleapis.com/trace"

// traceHandler adds traceKey ("projects/P/traces/ID") to records with a
// trace ID.
type traceHandler struct {
	slog.Handler
	project string
	bound   string // a trace_id attribute bound by With
	grouped bool   // attributes added now would land in a group
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	id := batch.TraceIDFrom(ctx)
	if id == "" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == batch.AttrTraceID {
				id = a.Value.String()
				return false
			}
			return true
		})
	}
	if id == "" {
		id = h.bound
	}
	if id != "" && !h.grouped {
		r = r.Clone()
		r.AddAttrs(slog.String(traceKey, "projects/"+h.project+"/traces/"+id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == batch.AttrTraceID && !h.grouped {
			h.bound = a.Value.String()
		}
	}
	h.Handler = h.Handler.WithAttrs(attrs)
	return h
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	h.grouped = true
	return h
}

// ParseLevel parses a log level: debug, info, warn or error (any case).
// Its error names the setting as log-level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewProcess returns a process's logger at level and above: JSON in the
// shape Cloud Logging and Error Reporting read (see [New]) when format is
// "json", else text for a terminal.
func NewProcess(w io.Writer, format string, level slog.Level, project string) *slog.Logger {
	if format != "json" {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return New(w, level, project)
}
