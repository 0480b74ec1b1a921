package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// NewTraceID returns a random trace ID in Cloud Trace's form: 32 lower-case
// hex digits. A batch carries its trace in Meta[AttrTraceID], and so does
// every request and outcome of it.
func NewTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// traceKey is the context key of the trace ID.
type traceKey struct{}

// WithTraceID returns ctx carrying trace ID id (ctx itself for "").
func WithTraceID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceIDFrom returns the trace ID ctx carries, or "".
func TraceIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}
