package gcpstorage_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
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
	// cut, when it says so, sends the answer's headers and the first half
	// of its body, then drops the connection.
	cut func(r *http.Request) bool
	// lose, when it says so, passes the request on but answers 503, as
	// when an answer is lost on the way back.
	lose func(r *http.Request) bool
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
		status, cut, lose := 0, false, false
		if p.fail != nil {
			status = p.fail(r)
		}
		if p.cut != nil {
			cut = p.cut(r)
		}
		if p.lose != nil {
			lose = p.lose(r)
		}
		p.mu.Unlock()
		switch {
		case lose:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		case status != 0:
			http.Error(w, http.StatusText(status), status)
		case cut:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	c, err := gcpstorage.NewEmulatorClient(t.Context(), hs.URL) // a URL as well as host:port
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func (p *proxy) setCut(cut func(r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
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

// TestData_ReadResumesBrokenDownload: a download cut off halfway reads on
// from where it stopped, at the same generation, and the read returns the
// data whole.
func TestData_ReadResumesBrokenDownload(t *testing.T) {
	t.Parallel()
	c, p := newProxied(t, nil)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	res, err := d.Push(t.Context(), dataV1(t))
	if err != nil {
		t.Fatal(err)
	}
	isLogs := func(r *http.Request) bool {
		return r.URL.Query().Get("alt") == "media" && strings.HasSuffix(r.URL.EscapedPath(), "%2Fplayer_game_logs.csv")
	}
	cuts := 0
	p.setCut(func(r *http.Request) bool {
		if isLogs(r) && cuts == 0 {
			cuts++
			return true
		}
		return false
	})
	before := len(p.requests())
	ds, _, err := d.Read(t.Context())
	if err != nil {
		t.Fatalf("read across a cut download: %v", err)
	}
	if ds.Version() != res.DataVersion || pts(t, ds) != 20 {
		t.Fatalf("read across a cut download: data %s (%d pts), want %s (20 pts)", ds.Version(), pts(t, ds), res.DataVersion)
	}
	var logs []*http.Request
	for _, r := range p.requests()[before:] {
		if isLogs(r) {
			logs = append(logs, r)
		}
	}
	if len(logs) != 2 {
		t.Fatalf("%d downloads of the logs, want 2 (cut, then the rest)", len(logs))
	}
	gen := logs[0].URL.Query().Get("generation")
	rng := logs[1].Header.Get("Range")
	if gen == "" || logs[1].URL.Query().Get("generation") != gen || !strings.HasPrefix(rng, "bytes=") || rng == "bytes=0-" {
		t.Fatalf("second download: generation %q, Range %q; want generation %q and the bytes after the cut",
			logs[1].URL.Query().Get("generation"), rng, gen)
	}
}

// TestData_PushPointerAnswerLost: the pointer moved, but its answer was
// lost and the retry found its condition failed: the push is current, and
// says so.
func TestData_PushPointerAnswerLost(t *testing.T) {
	t.Parallel()
	c, p := newProxied(t, nil)
	d, _ := gcpstorage.NewData(c, "gs://"+bucket+"/nba")
	if _, err := d.Push(t.Context(), dataV1(t)); err != nil {
		t.Fatal(err)
	}
	lost := 0
	p.mu.Lock()
	p.lose = func(r *http.Request) bool {
		// The pointer's upload is the one conditional on a generation.
		if g := r.URL.Query().Get("ifGenerationMatch"); r.Method == http.MethodPost && g != "" && g != "0" && lost == 0 {
			lost++
			return true
		}
		return false
	}
	p.mu.Unlock()
	res, err := d.Push(t.Context(), dataV2(t))
	if err != nil {
		t.Fatalf("push whose pointer answer was lost: %v", err)
	}
	if lost != 1 {
		t.Fatalf("%d pointer answers lost, want 1", lost)
	}
	cur, err := d.Current(t.Context())
	if err != nil || cur.Version != res.Version {
		t.Fatalf("current %+v (%v), want version %s", cur, err, res.Version)
	}
}
