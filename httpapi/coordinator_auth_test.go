package httpapi_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
)

// Every endpoint that changes state, of the coordinator and of the worker,
// refuses a request without a valid token of an allowed caller, and records
// nothing for it; a good token gets through.
func TestServices_Auth(t *testing.T) {
	is := newIssuer(t)
	auth := mustNewAuth(t, httpapi.AuthConfig{
		Audiences: []string{testAudience}, Emails: []string{pushAccount, schedAccount}, Validator: validator(t, is),
	})
	ce := newCoordEnv(t, 3, auth.Wrap)
	wsrv := newWorkerServer(t, ce.env, nil, auth.Wrap)
	ps := players(t, 3)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	doomed := ce.create(t, batch.Key{Date: gameDate, Run: "doomed"}, ps, batch.Policy{}, t0)
	ended := ce.create(t, batch.Key{Date: gameDate, Run: "ended"}, ps, batch.Policy{}, t0)
	if _, err := ce.eng.Cancel(t.Context(), ended.ID, "test"); err != nil {
		t.Fatal(err)
	}

	with := func(change func(c map[string]any)) string {
		c := goodClaims()
		change(c)
		return "Bearer " + sign(t, is.Key, testKeyID, "RS256", c)
	}
	refused := []struct {
		name   string
		header string
		want   int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"expired", with(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}), http.StatusUnauthorized},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = "https://other-service.a.run.app" }), http.StatusUnauthorized},
		{"wrong email", with(func(c map[string]any) { c["email"] = "intruder@elsewhere.iam.gserviceaccount.com" }), http.StatusForbidden},
	}
	endpoints := []struct {
		name string
		url  string
		body []byte
	}{
		{"coordinator /start", ce.srv.URL + "/start", []byte(`{"date":"` + gameDate + `","run":"other"}`)},
		{"coordinator /complete", ce.srv.URL + "/complete", outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)},
		{"coordinator /dead-letter", ce.srv.URL + "/dead-letter",
			pushOf(t, batch.RequestMessage(batch.Item{BatchID: b.ID, ID: ps[1].ID}, batch.DefaultMaxAttempts, ""))},
		{"coordinator /sweep", ce.srv.URL + "/sweep", nil},
		{"coordinator cancel", ce.srv.URL + "/batches/" + doomed.ID + "/cancel", []byte(`{"reason":"test"}`)},
		{"coordinator publish", ce.srv.URL + "/batches/" + ended.ID + "/publish", nil},
		{"worker /predict", wsrv.URL + "/predict", requestPush(t, b.ID, ps[2], "")},
	}
	for _, ep := range endpoints {
		for _, tt := range refused {
			t.Run(ep.name+"/"+tt.name, func(t *testing.T) {
				var headers []string
				if tt.header != "" {
					headers = []string{"Authorization", tt.header}
				}
				if code, body := post(t, ep.url, ep.body, headers...); code != tt.want {
					t.Fatalf("status %d (%s), want %d", code, body, tt.want)
				}
			})
		}
	}
	// Nothing was recorded, started or published.
	cur, err := ce.store.GetBatch(t.Context(), b.ID)
	if err != nil || cur.Counts.Done() != 0 {
		t.Fatalf("refused pushes recorded outcomes: %+v, %v", cur.Counts, err)
	}
	if bs, err := ce.store.ListBatches(t.Context(), batch.ListOptions{}); err != nil || len(bs) != 3 {
		t.Fatalf("refused starts created batches: %d, %v; want only the test's three", len(bs), err)
	}
	if _, err := ce.db.Published(t.Context(), predict.MustParseDate(gameDate)); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("refused publishes published: %v", err)
	}
	if cur, err := ce.store.GetBatch(t.Context(), doomed.ID); err != nil || cur.State != batch.Running {
		t.Fatalf("refused cancels ended the batch: %s, %v", cur.State, err)
	}
	expectNone(t, ce.queue, batch.TopicOutcomes)

	// The allowed callers get through.
	good := "Bearer " + sign(t, is.Key, testKeyID, "RS256", goodClaims())
	sched := with(func(c map[string]any) { c["email"] = schedAccount })
	for _, ep := range endpoints {
		h := good
		if ep.name == "coordinator /start" || ep.name == "coordinator /sweep" || ep.name == "coordinator cancel" || ep.name == "coordinator publish" {
			h = sched
		}
		if code, body := post(t, ep.url, ep.body, "Authorization", h, "Content-Type", "application/json"); code >= 300 {
			t.Fatalf("%s with a good token: %d %s", ep.name, code, body)
		}
	}
	if cur, err = ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.Counts != (batch.Counts{Succeeded: 1, Failed: 1}) {
		t.Fatalf("after the good pushes: %+v, %v; want one success and one dead letter", cur.Counts, err)
	}
	receiveAll(t, ce.queue, batch.TopicOutcomes, 1)
	if cur, err := ce.store.GetBatch(t.Context(), doomed.ID); err != nil || cur.Result != batch.ResultCancelled {
		t.Fatalf("after the good cancel: %s %s, %v; want cancelled", cur.State, cur.Result, err)
	}
	if pub, err := ce.db.Published(t.Context(), predict.MustParseDate(gameDate)); err != nil || pub.BatchID != ended.ID {
		t.Fatalf("after the good publish: %+v, %v; want batch %s published", pub, err, ended.ID)
	}
}
