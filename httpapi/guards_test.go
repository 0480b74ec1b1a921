package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/httpapi"
	"tipoff/internal/logtest"
)

// Each route group takes its own accounts, or else Emails; a service that
// serves pushes only has that group alone.
func TestGuardConfig_Groups(t *testing.T) {
	t.Parallel()
	c := httpapi.GuardConfig{Emails: []string{"old@p"}, Operators: []string{"ops@p"}}
	want := map[string][]string{"start-invokers": {"old@p"}, "push-invokers": {"old@p"}, "operators": {"ops@p"}}
	if got := c.Groups(); !cmp.Equal(got, want) {
		t.Errorf("Groups() = %v, want %v", got, want)
	}
	c.PushOnly, c.PushInvokers = true, []string{"push@p"}
	if got, want := c.Groups(), map[string][]string{"push-invokers": {"push@p"}}; !cmp.Equal(got, want) {
		t.Errorf("push-only Groups() = %v, want %v", got, want)
	}
}

// Validate names every problem: no audience, each group without accounts,
// a keys URL that is not http(s). With the check off only the URL counts.
func TestGuardConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    httpapi.GuardConfig
		want []string // "" alone: valid
	}{
		{"complete", httpapi.GuardConfig{Audiences: []string{"a"}, Emails: []string{"e@p"}}, []string{""}},
		{"empty", httpapi.GuardConfig{}, []string{"auth-audiences: empty", "operators and auth-emails: empty",
			"push-invokers and auth-emails: empty", "start-invokers and auth-emails: empty"}},
		{"push only", httpapi.GuardConfig{Audiences: []string{"a"}, StartInvokers: []string{"s@p"}, PushOnly: true},
			[]string{"push-invokers and auth-emails: empty"}},
		{"off", httpapi.GuardConfig{NoAuth: true}, []string{""}},
		{"off, bad keys url", httpapi.GuardConfig{NoAuth: true, KeysURL: "ftp://x"}, []string{`auth-keys-url "ftp://x": want an http or https URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			if tt.want[0] == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want problems")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to name %q", err, w)
				}
			}
		})
	}
}

// Guards checks each group's callers against that group's accounts only;
// with the check off every guard is open.
func TestGuardConfig_Guards(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	c := httpapi.GuardConfig{Audiences: []string{testAudience}, StartInvokers: []string{schedAccount}, PushInvokers: []string{pushAccount},
		Operators: []string{opsAccount}, KeysURL: is.JWKS.URL}
	g, err := c.Guards(t.Context(), 1<<20, logtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	call := func(guard httpapi.Middleware, email string) int {
		claims := goodClaims()
		claims["email"] = email
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		r.Header.Set("Authorization", "Bearer "+is.Token(t, claims))
		w := httptest.NewRecorder()
		guard(&guarded{}).ServeHTTP(w, r)
		return w.Code
	}
	for _, tt := range []struct {
		group string
		guard httpapi.Middleware
		own   string
	}{{"start", g.Start, schedAccount}, {"push", g.Push, pushAccount}, {"operator", g.Operator, opsAccount}} {
		if code := call(tt.guard, tt.own); code != http.StatusNoContent {
			t.Errorf("%s guard, its own caller: %d, want 204", tt.group, code)
		}
		other := pushAccount
		if tt.own == pushAccount {
			other = schedAccount
		}
		if code := call(tt.guard, other); code != http.StatusForbidden {
			t.Errorf("%s guard, another group's caller: %d, want 403", tt.group, code)
		}
	}
	if g, err := (httpapi.GuardConfig{NoAuth: true}).Guards(t.Context(), 1<<20, logtest.New(t)); err != nil || g.Start != nil || g.Push != nil || g.Operator != nil {
		t.Fatalf("Guards() with the check off = %+v, %v; want no guards", g, err)
	}
}
