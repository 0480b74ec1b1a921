package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"tipoff/batch"
	"tipoff/httpapi"
)

// logRecorder is a slog.Handler keeping every record, announcing each on
// wrote.
type logRecorder struct {
	mu    sync.Mutex
	recs  []slog.Record
	wrote chan slog.Record
}

func newLogRecorder() *logRecorder { return &logRecorder{wrote: make(chan slog.Record, 1000)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	select {
	case l.wrote <- r.Clone():
	default:
	}
	return nil
}

// records returns what was logged so far.
func (l *logRecorder) records() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]slog.Record(nil), l.recs...)
}

// noErrors fails t for every record at ERROR or above.
func (l *logRecorder) noErrors(t *testing.T) {
	t.Helper()
	for _, r := range l.records() {
		if r.Level >= slog.LevelError {
			t.Errorf("logged at %s: %q %v", r.Level, r.Message, attrsOf(r))
		}
	}
}

func attrsOf(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	return m
}

// hangingStore answers ListBatches only when the caller's context ends,
// with the error a backend gives then.
type hangingStore struct {
	batch.Store
	entered chan struct{}
}

func (s hangingStore) ListBatches(ctx context.Context, _ batch.ListOptions) ([]batch.Batch, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return nil, fmt.Errorf("list batches: %w", ctx.Err())
}

// A client that disconnects while its request is being served is routine:
// the request's failure is logged below ERROR, for the API and the pages.
func TestStatus_ClientGoneNotError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, path := range map[string]string{"api": "/api/batches", "page": "/"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := newLogRecorder()
			store := hangingStore{Store: e.store, entered: make(chan struct{}, 1)}
			srv := httptest.NewServer(httpapi.NewStatus(httpapi.StatusConfig{Store: store, Log: slog.New(rec)}).Handler())
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(t.Context())
			go func() { <-store.entered; cancel() }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s answered %s after the client gave up", path, resp.Status)
			}
			r := <-rec.wrote
			if r.Level >= slog.LevelError || !strings.Contains(r.Message, "client went away") {
				t.Errorf("logged %s %q %v; want below ERROR, saying the client went away", r.Level, r.Message, attrsOf(r))
			}
			rec.noErrors(t)
		})
	}
}

// brokenPipe is a response writer whose connection the client closed.
type brokenPipe struct{ h http.Header }

func (b *brokenPipe) Header() http.Header { return b.h }
func (b *brokenPipe) WriteHeader(int)     {}
func (b *brokenPipe) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
}

// An answer that cannot be written because the client closed the
// connection is logged below ERROR, on every read route.
func TestHandlers_BrokenPipeNotError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, players(t, 2), batch.Policy{}, t0)
	rec := newLogRecorder()
	log := slog.New(rec)
	mux := http.NewServeMux()
	httpapi.NewStatus(httpapi.StatusConfig{Store: e.store, Publications: e.db, DeadLetters: e.queue, QueueDepths: e.queue.Depths,
		NowFunc: e.clock, Log: log}).Register(mux)
	mux.Handle("GET /metrics", httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, Log: log}).Handler())
	mux.Handle("GET /health", httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Log: log}))
	for _, path := range []string{"/api/batches", "/api/batches/" + b.ID, "/api/queue", "/", "/batches/" + b.ID, "/batches/nosuchbatch", "/metrics", "/health"} {
		before := len(rec.records())
		mux.ServeHTTP(&brokenPipe{h: http.Header{}}, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		recs := rec.records()[before:]
		if len(recs) == 0 {
			t.Errorf("GET %s: the failed write was not logged", path)
		}
		for _, r := range recs {
			if r.Level >= slog.LevelError || !strings.Contains(fmt.Sprint(attrsOf(r)["err"]), "broken pipe") {
				t.Errorf("GET %s: logged %s %q %v; want below ERROR, naming the broken pipe", path, r.Level, r.Message, attrsOf(r))
			}
		}
	}
}
