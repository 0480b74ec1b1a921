package gcpstorage_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/gcpstorage"
)

// proxy is a server in front of a fake Cloud Storage server that records
// the requests it gets and answers those fail picks with a status of its
// own instead of passing them on.
type proxy struct {
	mu   sync.Mutex
	reqs []*http.Request
	fail func(r *http.Request) int // the status to answer with; 0: pass on
}

// newProxied starts a fake server with an empty bucket behind a proxy and
// returns a client of the proxy.
func newProxied(t *testing.T, fail func(r *http.Request) int) (*gcpstorage.Client, *proxy) {
	t.Helper()
	_, srv := newServer(t)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{fail: fail}
	rp := httputil.NewSingleHostReverseProxy(u)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Clone(r.Context()))
		status := 0
		if p.fail != nil {
			status = p.fail(r)
		}
		p.mu.Unlock()
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	c, err := gcpstorage.NewEmulatorClient(t.Context(), hs.URL) // a URL as well as host:port
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func (p *proxy) requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.reqs...)
}

// TestData_VersionAsksForNamesAndGenerations: the version check is one read
// of the pointer and one listing of the version's objects that asks for
// their names and generations only.
func TestData_VersionAsksForNamesAndGenerations(t *testing.T) {
	t.Parallel()
	c, p := newProxied(t, nil)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	res, err := d.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	before := len(p.requests())
	if _, err := d.Version(t.Context()); err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()[before:]
	if len(reqs) != 2 {
		t.Fatalf("version check made %d requests, want 2 (the pointer, one listing)", len(reqs))
	}
	ptr, list := reqs[0], reqs[1]
	if ptr.Method != "GET" || ptr.URL.Query().Get("alt") != "media" || !strings.HasSuffix(ptr.URL.EscapedPath(), "/o/nba%2FCURRENT") {
		t.Errorf("first request %s %s, want a read of nba/CURRENT", ptr.Method, ptr.URL)
	}
	q := list.URL.Query()
	if list.Method != "GET" || !strings.HasSuffix(list.URL.Path, "/b/"+bucket+"/o") || q.Get("prefix") != "nba/v/"+res.Version+"/" ||
		q.Get("delimiter") != "/" || q.Get("fields") != "nextPageToken,items(name,generation)" {
		t.Errorf("second request %s %s, want a listing of nba/v/%s/ asking for names and generations only", list.Method, list.URL, res.Version)
	}
}

// TestClient_Retries: transient failures (503, 429) are tried again, reads
// and uploads alike; a failure that persists ends after 5 tries with the
// server's error, and one that is not transient (403) is not tried again.
func TestClient_Retries(t *testing.T) {
	t.Parallel()
	t.Run("Transient", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		c, p := newProxied(t, func(r *http.Request) int {
			key := r.Method + " " + r.URL.String()
			if r.Method == "POST" {
				key = r.Method + " " + r.URL.Query().Get("ifGenerationMatch") // an upload's retry has the same condition
			}
			if seen[key] {
				return 0
			}
			seen[key] = true
			if r.Method == "POST" {
				return http.StatusTooManyRequests
			}
			return http.StatusServiceUnavailable
		})
		d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
		res, err := d.Push(t.Context(), dataV1(t))
		if err != nil {
			t.Fatalf("push through failing-once requests: %v", err)
		}
		ds, ptr, err := d.Read(t.Context())
		if err != nil || ptr.Version != res.Version || ds.Version() != res.DataVersion {
			t.Fatalf("read through failing-once requests: %v (version %s, want %s)", err, ptr.Version, res.Version)
		}
		if n := len(p.requests()); n < 2*len(seen) {
			t.Fatalf("%d requests for %d distinct ones, want each made twice", n, len(seen))
		}
	})
	t.Run("Persistent", func(t *testing.T) {
		t.Parallel()
		c, p := newProxied(t, func(*http.Request) int { return http.StatusServiceUnavailable })
		d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
		start := time.Now()
		_, err := d.Current(t.Context())
		if err == nil || errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "gs://"+bucket+"/nba/CURRENT") {
			t.Fatalf("pointer behind a failing server: %v, want the 503 naming gs://%s/nba/CURRENT", err, bucket)
		}
		if n := len(p.requests()); n != 5 {
			t.Fatalf("%d tries in %v, want 5", n, time.Since(start))
		}
	})
	t.Run("NotTransient", func(t *testing.T) {
		t.Parallel()
		c, p := newProxied(t, func(*http.Request) int { return http.StatusForbidden })
		d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
		if _, err := d.Current(t.Context()); err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("pointer behind a refusing server: %v, want the 403", err)
		}
		if n := len(p.requests()); n != 1 {
			t.Fatalf("%d tries, want 1", n)
		}
	})
}

func TestNewEmulatorClient_BadHost(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"http://", "http://[::1"} {
		if _, err := gcpstorage.NewEmulatorClient(t.Context(), host); err == nil || !strings.Contains(err.Error(), "STORAGE_EMULATOR_HOST") {
			t.Errorf("NewEmulatorClient(%q): %v, want an error naming STORAGE_EMULATOR_HOST", host, err)
		}
	}
}
