package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// logLines is a writer passing each line written to it on lines.
type logLines struct {
	mu    sync.Mutex
	all   strings.Builder
	lines chan string
}

func (w *logLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.all.Write(p)
	w.mu.Unlock()
	for l := range strings.Lines(string(p)) {
		select {
		case w.lines <- l:
		default:
		}
	}
	return len(p), nil
}

var servingAddr = regexp.MustCompile(`msg=serving addr=\S*:(\d+)`)

// startServe runs "tipoff serve" with env and args until the test ends,
// and returns the port it listens on and every line it logged before.
func startServe(t *testing.T, env map[string]string, args ...string) (port string, before []string) {
	t.Helper()
	logs := &logLines{lines: make(chan string, 1000)}
	m := &Main{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, append([]string{"serve", "--db", filepath.Join(t.TempDir(), "tipoff.db"), "--workers", "0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for {
		select {
		case l := <-logs.lines:
			if mm := servingAddr.FindStringSubmatch(l); mm != nil {
				return mm[1], before
			}
			before = append(before, l)
		case err := <-done:
			done <- err
			t.Fatalf("serve stopped before serving: %v\n%s", err, strings.Join(before, ""))
		}
	}
}

// status GETs path from 127.0.0.1:port with the bearer token (none if
// empty) and returns the status code.
func status(t *testing.T, port, method, path, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+net.JoinHostPort("127.0.0.1", port)+path, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// serve on an address others can reach refuses to start without a token or
// the insecure flag, and says how to fix it.
func TestServe_ListenAnyRefused(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.10:0", "tipoff.example:0"} {
		_, _, err := runWithEnv(t, nil, "serve", "--db", filepath.Join(t.TempDir(), "tipoff.db"), "--addr", addr)
		if err == nil || !strings.Contains(err.Error(), "TIPOFF_TOKEN") || !strings.Contains(err.Error(), "--insecure-listen-any") {
			t.Errorf("serve --addr %s: %v; want a refusal naming TIPOFF_TOKEN and --insecure-listen-any", addr, err)
		}
	}
}

// With TIPOFF_TOKEN, every operator route needs it, on any address; with
// --insecure-listen-any instead the routes are open and a WARN says so; on
// loopback without either they are open as before.
func TestServe_Token(t *testing.T) {
	t.Parallel()
	const token = "correct-horse-battery-staple"
	port, _ := startServe(t, map[string]string{"TIPOFF_TOKEN": token}, "--addr", "0.0.0.0:0")
	for _, r := range []struct{ method, path string }{{"GET", "/"}, {"GET", "/api/batches"}, {"GET", "/metrics"}, {"POST", "/sweep"}, {"POST", "/start"}} {
		if code := status(t, port, r.method, r.path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", r.method, r.path, code)
		}
		if code := status(t, port, r.method, r.path, token+"x"); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d, want 401", r.method, r.path, code)
		}
		if code := status(t, port, r.method, r.path, token); code == http.StatusUnauthorized {
			t.Errorf("%s %s with the token: 401", r.method, r.path)
		}
	}

	port, before := startServe(t, nil, "--addr", "0.0.0.0:0", "--insecure-listen-any")
	if !strings.Contains(strings.Join(before, ""), "level=WARN msg=\"INSECURE: serving a non-loopback address") {
		t.Errorf("--insecure-listen-any logged no warning before serving:\n%s", strings.Join(before, ""))
	}
	if code := status(t, port, "GET", "/api/batches", ""); code != http.StatusOK {
		t.Errorf("GET /api/batches with --insecure-listen-any: %d, want 200", code)
	}

	port, before = startServe(t, nil, "--addr", "127.0.0.1:0")
	if strings.Contains(strings.Join(before, ""), "INSECURE") {
		t.Errorf("serve on loopback warned:\n%s", strings.Join(before, ""))
	}
	if code := status(t, port, "GET", "/api/batches", ""); code != http.StatusOK {
		t.Errorf("GET /api/batches on loopback: %d, want 200", code)
	}
}
