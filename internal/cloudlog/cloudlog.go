// Package cloudlog is the log handler for Cloud Logging: JSON lines in the
// shape Cloud Run's log agent reads (severity, message) and, where a record
// belongs to a trace, the trace field that links it to the request.
// It imports only batch (for the trace ID in a context or attribute).
package cloudlog

import (
	"context"
	"io"
	"log/slog"

	"tipoff/batch"
)

// New returns a logger writing JSON to w at level and above, in the shape
// Cloud Logging reads: "severity" (WARNING for slog's WARN) and "message".
// With a project, a record with a trace ID (the context's, see
// [batch.WithTraceID], or a trace_id attribute) also carries
// "logging.googleapis.com/trace": "projects/PROJECT/traces/ID".
func New(w io.Writer, level slog.Level, project string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replace}
	h := slog.Handler(slog.NewJSONHandler(w, opts))
	if project != "" {
		h = traceHandler{Handler: h, project: project}
	}
	return slog.New(h)
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
