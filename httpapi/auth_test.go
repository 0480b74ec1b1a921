package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"tipoff/httpapi"
	"tipoff/internal/oidctest"
)

const (
	testAudience = "https://coordinator-abc123-uc.a.run.app"
	pushAccount  = "pubsub-push@tipoff-prod.iam.gserviceaccount.com"
	schedAccount = "scheduler@tipoff-prod.iam.gserviceaccount.com"
	testKeyID    = oidctest.KeyID
)

// newIssuer returns a test OIDC issuer: a key and its JWKS server.
func newIssuer(t *testing.T) *oidctest.Issuer { return oidctest.New(t) }

// sign is oidctest.Sign: a JWT of claims signed with key under kid and alg.
var sign = oidctest.Sign

// validator returns the real idtoken validator, with Google's key endpoint
// answered by the issuer's JWKS server.
func validator(t *testing.T, is *oidctest.Issuer) *idtoken.Validator {
	t.Helper()
	target, _ := url.Parse(is.JWKS.URL)
	client := &http.Client{Transport: redirect{target: target}}
	v, err := idtoken.NewValidator(t.Context(), option.WithHTTPClient(client))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// redirect sends every request to target.
type redirect struct{ target *url.URL }

func (rt redirect) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rt.target.Scheme, rt.target.Host
	r.Host = rt.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// claims are a Pub/Sub push token's, valid for an hour.
func goodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": testAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"sub": "112233445566778899000", "email": pushAccount, "email_verified": true,
	}
}

// guarded is a handler behind Auth that records what reached it.
type guarded struct {
	calls  atomic.Int32
	caller atomic.Pointer[httpapi.Caller]
	body   atomic.Pointer[string]
}

func (g *guarded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	if c, ok := httpapi.CallerFrom(r.Context()); ok {
		g.caller.Store(&c)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s := string(b)
	g.body.Store(&s)
	w.WriteHeader(http.StatusNoContent)
}

func mustNewAuth(t *testing.T, cfg httpapi.AuthConfig) *httpapi.Auth {
	t.Helper()
	a, err := httpapi.NewAuth(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("NewAuth: %v", err)
	}
	return a
}

func TestAuth(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(c map[string]any)) map[string]any {
		c := goodClaims()
		change(c)
		return c
	}
	good := sign(t, is.Key, testKeyID, "RS256", goodClaims())
	tests := []struct {
		name   string
		header string // Authorization
		want   int
	}{
		{"good", "Bearer " + good, http.StatusNoContent},
		{"scheme in lower case", "bearer " + good, http.StatusNoContent},
		{"scheduler account", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["email"] = schedAccount })), http.StatusNoContent},
		{"issuer without scheme", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["iss"] = "accounts.google.com" })), http.StatusNoContent},
		{"second audience", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["aud"] = "tipoff-push" })), http.StatusNoContent},
		{"email_verified as a string", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["email_verified"] = "true" })), http.StatusNoContent},

		{"missing", "", http.StatusUnauthorized},
		{"basic auth", "Basic cHVzaDpzZWNyZXQ=", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"malformed", "Bearer not-a-jwt", http.StatusUnauthorized},
		{"malformed segments", "Bearer a.b.c", http.StatusUnauthorized},
		{"unsigned", "Bearer " + sign(t, is.Key, testKeyID, "none", goodClaims()), http.StatusUnauthorized},
		{"signed by another key", "Bearer " + sign(t, otherKey, testKeyID, "RS256", goodClaims()), http.StatusUnauthorized},
		{"unknown key id", "Bearer " + sign(t, is.Key, "no-such-key", "RS256", goodClaims()), http.StatusUnauthorized},
		{"tampered claims", "Bearer " + tamper(t, good), http.StatusUnauthorized},
		{"expired", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		})), http.StatusUnauthorized},
		{"wrong issuer", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), http.StatusUnauthorized},
		{"wrong audience", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["aud"] = "https://worker-abc123-uc.a.run.app" })), http.StatusUnauthorized},

		{"wrong email", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["email"] = "intruder@other-project.iam.gserviceaccount.com" })), http.StatusForbidden},
		{"email not verified", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { c["email_verified"] = false })), http.StatusForbidden},
		{"no email", "Bearer " + sign(t, is.Key, testKeyID, "RS256", with(func(c map[string]any) { delete(c, "email") })), http.StatusForbidden},
	}
	g := &guarded{}
	a := mustNewAuth(t, httpapi.AuthConfig{
		Audiences: []string{testAudience, "tipoff-push"},
		Emails:    []string{pushAccount, schedAccount},
		Validator: validator(t, is),
	})
	srv := httptest.NewServer(a.Wrap(g))
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.calls.Load()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/push/outcomes", strings.NewReader(`{"message":{}}`))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			called := g.calls.Load() > before
			if ok := tt.want < 300; called != ok {
				t.Fatalf("wrapped handler called: %v, want %v", called, ok)
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if called {
				c := g.caller.Load()
				if c == nil || (c.Email != pushAccount && c.Email != schedAccount) || c.Subject != "112233445566778899000" {
					t.Fatalf("caller in the context: %+v, want a verified allowed account", c)
				}
				if b := g.body.Load(); b == nil || *b != `{"message":{}}` {
					t.Fatalf("body seen by the handler: %v", b)
				}
			}
		})
	}
}

// tamper changes the claims of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	c := goodClaims()
	c["email"] = pushAccount + ".evil"
	b, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// The clock decides expiry too, whatever the validator accepts.
func TestAuth_ExpiryByClock(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	g := &guarded{}
	a := mustNewAuth(t, httpapi.AuthConfig{
		Audiences: []string{testAudience}, Emails: []string{pushAccount}, Validator: validator(t, is),
		NowFunc: func() time.Time { return time.Now().Add(2 * time.Hour) },
	})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/start", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, is.Key, testKeyID, "RS256", goodClaims()))
	rec := httptest.NewRecorder()
	a.Wrap(g).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || g.calls.Load() != 0 {
		t.Fatalf("token expired by the clock: status %d, handler calls %d; want 401, 0", rec.Code, g.calls.Load())
	}
}

func TestAuth_BodyLimit(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	g := &guarded{}
	a := mustNewAuth(t, httpapi.AuthConfig{
		Audiences: []string{testAudience}, Emails: []string{pushAccount}, Validator: validator(t, is), MaxBodyBytes: 1024,
	})
	srv := httptest.NewServer(a.Wrap(g))
	defer srv.Close()
	token := sign(t, is.Key, testKeyID, "RS256", goodClaims())
	tests := []struct {
		name    string
		body    io.Reader
		chunked bool
		token   string
		want    int
	}{
		{"at the limit", strings.NewReader(strings.Repeat("x", 1024)), false, token, http.StatusNoContent},
		{"declared too long", strings.NewReader(strings.Repeat("x", 1025)), false, token, http.StatusRequestEntityTooLarge},
		{"streamed too long", strings.NewReader(strings.Repeat("x", 4096)), true, token, http.StatusRequestEntityTooLarge},
		// Unauthenticated requests are refused before their body is read.
		{"too long without a token", strings.NewReader(strings.Repeat("x", 4096)), false, "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.calls.Load()
			body := tt.body
			if tt.chunked {
				body = io.MultiReader(tt.body) // unknown length: sent chunked
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/push/requests", body)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if called := g.calls.Load() > before; called != (tt.want < 300) {
				t.Fatalf("wrapped handler called: %v with status %d", called, resp.StatusCode)
			}
		})
	}
}

func TestNewAuth_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  httpapi.AuthConfig
		want []string
	}{
		{"nothing", httpapi.AuthConfig{}, []string{"Audiences", "Emails"}},
		{"empty audience", httpapi.AuthConfig{Audiences: []string{""}, Emails: []string{pushAccount}}, []string{"Audiences"}},
		{"no emails", httpapi.AuthConfig{Audiences: []string{testAudience}}, []string{"Emails"}},
		{"negative limit", httpapi.AuthConfig{Audiences: []string{testAudience}, Emails: []string{pushAccount}, MaxBodyBytes: -1}, []string{"MaxBodyBytes -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := httpapi.NewAuth(t.Context(), tt.cfg, nil)
			if err == nil {
				t.Fatal("NewAuth accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewAuth error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCallerFrom(t *testing.T) {
	t.Parallel()
	if _, ok := httpapi.CallerFrom(t.Context()); ok {
		t.Fatal("CallerFrom found a caller in a bare context")
	}
	want := httpapi.Caller{Email: pushAccount, Subject: "1"}
	got, ok := httpapi.CallerFrom(httpapi.WithCaller(t.Context(), want))
	if !ok || got != want {
		t.Fatalf("CallerFrom(WithCaller(c)) = %+v, %v; want %+v, true", got, ok, want)
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true, "127.1.2.3:0": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.168.1.5:8080": false, "example.com:80": false, "nonsense": false,
	} {
		if got := httpapi.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
