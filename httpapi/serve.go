package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// IsLoopback reports whether addr (HOST:PORT) listens on loopback only:
// "localhost" or a loopback IP. An empty host (":8080"), 0.0.0.0, any
// other IP or a name listens where others can reach it.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ShutdownBudget is how long a service takes to stop after SIGTERM: Cloud
// Run kills the container 10 s after it.
const ShutdownBudget = 8 * time.Second

// ServerLimits bound each phase of a request on a server of
// [NewServerWith]: the time to read its headers, to read all of it (body
// included), to write the answer, and to wait idle for the next request on
// a keep-alive connection; and the size of its headers.
type ServerLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// DefaultServerLimits are the limits both shapes listen with: headers in
// 10 s, a whole request in 30 s, an answer in 60 s, an idle keep-alive for
// 2 minutes; headers of at most 64 KiB.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second,
		Idle: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// NewServer returns the server both shapes listen with, with
// [DefaultServerLimits]: every phase of a request is bounded, so slow or
// idle clients cannot hold connections open.
func NewServer(h http.Handler) *http.Server { return NewServerWith(h, DefaultServerLimits()) }

// NewServerWith returns a server of h with the limits l; tests shorten
// them.
func NewServerWith(h http.Handler, l ServerLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// Serve serves h on addr until ctx ends, running the background loops
// meanwhile, each with ctx. When ctx ends (SIGTERM) it stops taking
// requests, lets those in flight finish within [ShutdownBudget] (a push is
// acked only by its answer, so none is lost), and waits for the loops,
// which finish what they hold. attrs are logged with the address.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, attrs []any, loops ...func(context.Context)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := NewServer(h)
	log.Info("serving", append([]any{"addr", ln.Addr().String()}, attrs...)...)
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { l(ctx) })
	}
	stopped := make(chan struct{})
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownBudget)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil {
			log.Warn("shutdown: requests still in flight were cut off", "err", err)
		}
	})
	err = srv.Serve(ln)
	close(stopped)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		log.Info("stopped")
		return nil
	}
	return err
}
