package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// CheckMetricsAddr returns an error unless addr (HOST:PORT) is a loopback
// address or allowAny is set. The metrics listener answers without a
// token, so it is meant for a collector in the same network namespace
// (the Managed Service for Prometheus sidecar of a Cloud Run instance);
// anywhere else the coordinator's state would be readable by anyone who
// reaches the port.
func CheckMetricsAddr(addr string, allowAny bool) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("metrics-addr %q: want HOST:PORT", addr)
	}
	if !allowAny && !IsLoopback(addr) {
		return fmt.Errorf("metrics-addr %s is not loopback: it answers without a token, so it listens on 127.0.0.1 or localhost only (or pass --insecure-metrics-listen-any)", addr)
	}
	return nil
}

// MetricsListener serves GET /metrics of a [Metrics] on an address of its
// own, without a token: the same registry the main listener serves to
// operators' tokens, for a collector that can present none.
type MetricsListener struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// ListenMetrics opens the metrics listener on addr, which
// [CheckMetricsAddr] must accept. Start it with [MetricsListener.Serve];
// until then connections wait in the backlog.
func ListenMetrics(addr string, allowAny bool, m *Metrics, log *slog.Logger) (*MetricsListener, error) {
	if err := CheckMetricsAddr(addr, allowAny); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return &MetricsListener{ln: ln, srv: NewServer(mux), log: log}, nil
}

// Addr returns the address the listener listens on (with the port chosen
// when addr asked for port 0).
func (l *MetricsListener) Addr() string { return l.ln.Addr().String() }

// Serve serves until ctx ends, then stops taking connections and lets
// scrapes in flight finish within [ShutdownBudget]. A collector that scrapes
// once more at shutdown (the Cloud Run sidecar does) is answered as long as
// its scrape starts before ctx ends.
func (l *MetricsListener) Serve(ctx context.Context) {
	l.log.Info("serving metrics", "addr", l.Addr())
	var wg sync.WaitGroup
	stopped := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownBudget)
		defer cancel()
		if err := l.srv.Shutdown(shut); err != nil {
			l.log.Warn("metrics listener: scrapes still in flight were cut off", "err", err)
		}
	})
	err := l.srv.Serve(l.ln)
	close(stopped)
	wg.Wait()
	if !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("metrics listener stopped", "addr", l.Addr(), "err", err)
	}
}

// MetricsLoops opens the metrics listener on addr, when addr is set, and
// returns the loop that serves it, for [Serve]: opened now, so a bad or
// taken address fails the start. It returns none for an empty addr.
func MetricsLoops(addr string, allowAny bool, m *Metrics, log *slog.Logger) ([]func(context.Context), error) {
	if addr == "" {
		return nil, nil
	}
	l, err := ListenMetrics(addr, allowAny, m, log)
	if err != nil {
		return nil, err
	}
	return []func(context.Context){l.Serve}, nil
}

// Close closes the listener without serving; for a listener opened and
// then not used.
func (l *MetricsListener) Close() error { return l.ln.Close() }
