package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/httpapi"
)

const opsAccount = "oncall@tipoff-prod.iam.gserviceaccount.com"

// Each route group answers its own callers only: the scheduler's token
// starts runs, Pub/Sub's pushes, and an operator's reads and calls the
// operator verbs; each refuses the others' (403) and a request without a
// token (401), reads included. /health answers anyone.
func TestCoordinator_RouteGroups(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	v := validator(t, is)
	auth := func(email string) httpapi.Middleware {
		return mustNewAuth(t, httpapi.AuthConfig{Audiences: []string{testAudience}, Emails: []string{email}, Validator: v}).Wrap
	}
	ce := newGroupedCoordEnv(t, 3, httpapi.Guards{Start: auth(schedAccount), Push: auth(pushAccount), Operator: auth(opsAccount)})
	ps := players(t, 3)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	token := func(email string) string {
		c := goodClaims()
		c["email"] = email
		return "Bearer " + sign(t, is.Key, testKeyID, "RS256", c)
	}
	callers := map[string]string{"scheduler": token(schedAccount), "push": token(pushAccount), "operator": token(opsAccount)}
	routes := []struct {
		group, method, path string
		body                []byte
	}{
		{"scheduler", "POST", "/start", []byte(`{"date":"` + gameDate + `","run":"other"}`)},
		{"push", "POST", "/push/outcomes", outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)},
		{"push", "POST", "/complete", outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)},
		{"push", "POST", "/push/dead-letters", pushOf(t, batch.RequestMessage(batch.Item{BatchID: b.ID, ID: ps[1].ID}, 1, ""))},
		{"push", "POST", "/dead-letter", pushOf(t, batch.RequestMessage(batch.Item{BatchID: b.ID, ID: ps[1].ID}, 1, ""))},
		{"push", "POST", "/push/outcome-dead-letters", outcomePush(t, b.ID, ps[2], batch.OutcomeSucceeded)},
		{"operator", "GET", "/", nil},
		{"operator", "GET", "/batches/" + b.ID, nil},
		{"operator", "GET", "/api/batches", nil},
		{"operator", "GET", "/api/batches/" + b.ID, nil},
		{"operator", "GET", "/api/queue", nil},
		{"operator", "GET", "/metrics", nil},
		{"operator", "POST", "/sweep", nil},
		{"operator", "POST", "/batches/" + b.ID + "/cancel", []byte(`{"reason":"test"}`)},
	}
	do := func(method, path string, body []byte, auth string) (int, string) {
		t.Helper()
		headers := []string{"Content-Type", "application/json"}
		if auth != "" {
			headers = append(headers, "Authorization", auth)
		}
		if method == "GET" {
			req, err := http.NewRequestWithContext(t.Context(), method, ce.srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, ""
		}
		return post(t, ce.srv.URL+path, body, headers...)
	}
	// Refused first, so nothing has changed when the owners call.
	for _, rt := range routes {
		if code, body := do(rt.method, rt.path, rt.body, ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d %s, want 401", rt.method, rt.path, code, body)
		}
		for who, tok := range callers {
			if who == rt.group {
				continue
			}
			if code, body := do(rt.method, rt.path, rt.body, tok); code != http.StatusForbidden {
				t.Errorf("%s %s by the %s: %d %s, want 403", rt.method, rt.path, who, code, body)
			}
		}
	}
	if cur, err := ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.Counts.Done() != 0 || cur.State != batch.Running {
		t.Fatalf("refused calls changed the batch: %+v %s, %v", cur.Counts, cur.State, err)
	}
	for _, rt := range routes {
		if code, body := do(rt.method, rt.path, rt.body, callers[rt.group]); code >= 300 {
			t.Errorf("%s %s by the %s: %d %s, want success", rt.method, rt.path, rt.group, code, body)
		}
	}
	if cur, err := ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.Result != batch.ResultCancelled {
		t.Errorf("after the operator's cancel: %s %s, %v; want cancelled", cur.State, cur.Result, err)
	}
	body, code := get(t, ce.srv.URL+"/health")
	if code != http.StatusOK || !strings.Contains(body, `"status": "ok"`) {
		t.Errorf("GET /health without a token: %d %s; want 200 ok", code, body)
	}
}

// RequireToken lets through only the configured bearer token.
func TestRequireToken(t *testing.T) {
	t.Parallel()
	ce := newCoordEnv(t, 2, httpapi.RequireToken("s3cret-token", testLogger(t)))
	for _, tt := range []struct {
		name, header string
		want         int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer s3cret-tokem", http.StatusUnauthorized},
		{"prefix", "Bearer s3cret", http.StatusUnauthorized},
		{"longer", "Bearer s3cret-token2", http.StatusUnauthorized},
		{"not bearer", "Basic s3cret-token", http.StatusUnauthorized},
		{"right", "Bearer s3cret-token", http.StatusOK},
		{"right, any case of scheme", "bearer s3cret-token", http.StatusOK},
	} {
		var headers []string
		if tt.header != "" {
			headers = []string{"Authorization", tt.header}
		}
		if code, body := post(t, ce.srv.URL+"/sweep", nil, headers...); code != tt.want {
			t.Errorf("%s: POST /sweep: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}
	if _, code := get(t, ce.srv.URL+"/api/batches"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/batches without the token: %d, want 401", code)
	}
}
