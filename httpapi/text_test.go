package httpapi_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
)

// The status text shows each batch named, in order, with its players
// without an outcome and whether its predictions are live (naming the live
// batch when they are not), a blank line between batches; an unknown batch
// is an error.
func TestWriteStatusText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 3)
	good := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for _, p := range ps {
		e.record(t, good.ID, p, batch.OutcomeSucceeded, t0.Add(time.Second))
	}
	e.finalize(t, good.ID, t0.Add(2*time.Second))
	running := e.create(t, batch.Key{Date: gameDate, Run: "second"}, ps, batch.Policy{}, t0.Add(time.Minute))
	e.record(t, running.ID, ps[0], batch.OutcomeSucceeded, t0.Add(time.Minute+time.Second))

	progress, err := httpapi.ProgressOf(t.Context(), e.store, []string{running.ID, good.ID}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := httpapi.WriteStatusText(t.Context(), &out, progress, e.db, e.db); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(out.String(), "\n\n")
	if len(parts) != 2 {
		t.Fatalf("want two batches separated by a blank line:\n%s", out.String())
	}
	for _, tt := range []struct {
		text string
		want []string
	}{
		{parts[0], []string{"batch       " + running.ID, "progress    1/3", "without an outcome (first 1 of 2): ", "published: not live; the live picks are batch " + good.ID}},
		{parts[1], []string{"batch       " + good.ID, "state       finalized (succeeded)", "published: live"}},
	} {
		for _, w := range tt.want {
			if !strings.Contains(tt.text, w) {
				t.Errorf("status text lacks %q:\n%s", w, tt.text)
			}
		}
	}
	if _, err := httpapi.ProgressOf(t.Context(), e.store, []string{"nosuchbatch"}, 1); err == nil {
		t.Error("ProgressOf an unknown batch: nil error")
	}
}
