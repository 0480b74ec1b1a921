//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tipoff/httpapi"
	"tipoff/pipeline"
)

// slowServer is "tipoff serve"'s handler stack on a real listener, with
// the server both shapes use (httpapi.NewServerWith), counting the
// connections it closes. Its connections hold the read deadlines the
// server sets in the future until release is closed, and then apply them:
// a test holds every slow client at once, however long connecting them
// takes on a busy machine, and then lets the server's own timeouts act.
type slowServer struct {
	addr    string
	closed  atomic.Int64
	release chan struct{}
}

// gatedConn is a connection whose future read deadlines wait for gate.
// Past and zero deadlines (the server's way to interrupt or clear a read)
// apply at once.
type gatedConn struct {
	net.Conn
	gate    chan struct{}
	mu      sync.Mutex
	pending time.Time
	waiting bool
}

func (c *gatedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = t
	select {
	case <-c.gate:
		return c.Conn.SetReadDeadline(t)
	default:
	}
	if t.IsZero() || t.Before(time.Now()) {
		return c.Conn.SetReadDeadline(t)
	}
	if !c.waiting {
		c.waiting = true
		go func() {
			<-c.gate
			c.mu.Lock()
			defer c.mu.Unlock()
			c.Conn.SetReadDeadline(c.pending)
		}()
	}
	return nil
}

type gatedListener struct {
	net.Listener
	gate chan struct{}
}

func (l gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, gate: l.gate}, nil
}

func startSlowServer(tb testing.TB, l httpapi.ServerLimits) *slowServer {
	tb.Helper()
	dir := tb.TempDir()
	cfg := DefaultConfig()
	cfg.DB, cfg.ExportDir = filepath.Join(dir, "tipoff.db"), filepath.Join(dir, "exports")
	app, err := openEmbedded(tb.Context(), cfg, pipeline.Settings{}, nil, discardLogger())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { app.Close() })
	s := &slowServer{release: make(chan struct{})}
	srv := httpapi.NewServerWith(app.handler(nil), l)
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			s.closed.Add(1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	served := make(chan struct{})
	go func() { srv.Serve(gatedListener{Listener: ln, gate: s.release}); close(served) }()
	tb.Cleanup(func() { srv.Close(); <-served })
	return s
}

// raiseFDLimit raises the soft limit on open files to at least need, up to
// the hard limit; it skips the test when the hard limit is lower.
func raiseFDLimit(tb testing.TB, need uint64) {
	tb.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		tb.Skipf("needs %d open files; the hard limit (ulimit -Hn) is %d", need, rl.Max)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatalf("raise the open files limit to %d: %v", rl.Max, err)
	}
}

// slowPosts holds n POST /start requests to addr open, each announcing a
// 64-byte JSON body: the even ones send a byte of it every interval, the
// odd ones one byte and then nothing. held is done once every request has
// sent its first byte; gone counts the connections that ended from the
// server's side (EOF or reset) within wait, and done is done when every
// connection has ended either way.
func slowPosts(tb testing.TB, addr string, n int, interval, wait time.Duration) (held, done *sync.WaitGroup, gone *atomic.Int64) {
	tb.Helper()
	held, done, gone = &sync.WaitGroup{}, &sync.WaitGroup{}, &atomic.Int64{}
	head := "POST /start HTTP/1.1\r\nHost: tipoff\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{"
	dials := make(chan int)
	var dialers sync.WaitGroup
	for range 32 {
		dialers.Go(func() {
			for i := range dials {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					_, err = io.WriteString(c, head)
				}
				if err != nil {
					tb.Errorf("slow client %d: %v", i, err)
					held.Done()
					done.Done()
					continue
				}
				held.Done()
				ended := make(chan struct{})
				go func() { // reads until the server closes the connection
					defer done.Done()
					defer c.Close()
					defer close(ended)
					c.SetReadDeadline(time.Now().Add(wait))
					_, err := io.Copy(io.Discard, c)
					if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
						gone.Add(1)
					}
				}()
				if i%2 == 0 {
					go func() { // a byte every interval, until the connection ends
						t := time.NewTicker(interval)
						defer t.Stop()
						for {
							select {
							case <-ended:
								return
							case <-t.C:
								if _, err := c.Write([]byte(" ")); err != nil {
									return
								}
							}
						}
					}()
				}
			}
		})
	}
	held.Add(n)
	done.Add(n)
	for i := range n {
		dials <- i
	}
	close(dials)
	dialers.Wait()
	return held, done, gone
}

// 2,000 clients trickling request bodies, or never finishing them, do not
// keep a normal request from being answered, and the server's read timeout
// closes every one of their connections.
func TestServe_SlowClients(t *testing.T) {
	t.Parallel()
	const n = 2000
	raiseFDLimit(t, 2*n+1000) // both ends of each connection are in this process
	l := httpapi.DefaultServerLimits()
	l.ReadHeader, l.Read, l.Write, l.Idle = 2*time.Second, 2*time.Second, 2*time.Second, 2*time.Second
	s := startSlowServer(t, l)
	began := time.Now()
	held, done, gone := slowPosts(t, s.addr, n, time.Second, time.Minute)
	held.Wait()
	t.Logf("%d slow clients connected in %v", n, time.Since(began))

	client := &http.Client{Timeout: time.Minute}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.addr+"/api/batches", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("GET /api/batches with %d slow clients held: %v", n, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	closedBefore := s.closed.Load()
	t.Logf("GET /api/batches with %d slow clients held: %s in %v (%d of them closed by then)", n, resp.Status, took, closedBefore)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/batches: %s, want 200", resp.Status)
	}
	if closedBefore != 0 {
		// Not a failure: the GET answered beside the rest.
		t.Logf("%d connections were closed before the slow clients' read deadlines applied", closedBefore)
	}
	client.CloseIdleConnections()

	close(s.release) // the server's read deadlines now apply
	done.Wait()
	if got := gone.Load(); got != n {
		t.Errorf("the server closed %d of the %d slow connections, want all", got, n)
	}
	// The server closes a connection before it reports it closed: a client
	// can see the close first.
	for deadline := time.Now().Add(30 * time.Second); s.closed.Load() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.closed.Load(); got < n {
		t.Errorf("the server reports %d connections closed, want at least %d", got, n)
	}
}

// BenchmarkServe_SlowClients times GET /api/batches on the serve handler
// stack, alone and beside 2,000 held slow request bodies.
func BenchmarkServe_SlowClients(b *testing.B) {
	for _, n := range []int{0, 2000} {
		b.Run(fmt.Sprintf("held=%d", n), func(b *testing.B) {
			raiseFDLimit(b, uint64(2*n+1000))
			l := httpapi.DefaultServerLimits()
			l.ReadHeader, l.Read = 10*time.Minute, 10*time.Minute
			s := startSlowServer(b, l)
			if n > 0 {
				held, _, _ := slowPosts(b, s.addr, n, time.Second, 10*time.Minute)
				held.Wait()
			}
			client := &http.Client{Timeout: time.Minute}
			b.Cleanup(client.CloseIdleConnections)
			for b.Loop() {
				resp, err := client.Get("http://" + s.addr + "/api/batches")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET /api/batches: %s", resp.Status)
				}
			}
		})
	}
}
