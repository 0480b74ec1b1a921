package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"tipoff/httpapi"
	"tipoff/predict"
)

type fakeReliability struct {
	rel    *predict.Reliability
	err    error
	system string
}

func (f *fakeReliability) Reliability(_ context.Context, system string) (*predict.Reliability, error) {
	f.system = system
	return f.rel, f.err
}

var circleRE = regexp.MustCompile(`<circle cx="([0-9.]+)" cy="([0-9.]+)"`)

// The reliability page draws the published system's buckets as an inline
// SVG diagram (no script), one dot per non-empty bucket placed at (stated,
// realized), and says so plainly when nothing was picked.
func TestStatusPages_Reliability(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rel := &predict.Reliability{System: "ensemble", From: predict.MustParseDate("2026-01-01"), Through: predict.MustParseDate("2026-01-20"),
		Days: 18, Score: predict.ProbScore{Rows: 900, Brier: 0.2489, MarketBrier: 0.2493},
		Buckets: []predict.Bucket{{Lo: 0.4, Hi: 0.5, N: 500, Stated: 0.47, Realized: 0.46}, {Lo: 0.5, Hi: 0.6, N: 400, Stated: 0.53, Realized: 0.55}, {Lo: 0.6, Hi: 0.7}}}
	src := &fakeReliability{rel: rel}
	srv := httptest.NewServer(httpapi.NewStatus(httpapi.StatusConfig{Store: e.store, Reliability: src}).Handler())
	t.Cleanup(srv.Close)

	body, code := get(t, srv.URL+"/reliability")
	if code != http.StatusOK || src.system != "ensemble" {
		t.Fatalf("GET /reliability: %d for system %q\n%s", code, src.system, body)
	}
	dots := circleRE.FindAllStringSubmatch(body, -1)
	// The plot is 260 px wide from 40: stated 0.47 at 162.2, realized 0.46 at 300 − 119.6.
	if len(dots) != 2 || dots[0][1] != "162.2" || dots[0][2] != "180.4" || dots[1][1] != "177.8" || dots[1][2] != "157" {
		t.Errorf("dots %v: want two, at (162.2, 180.4) and (177.8, 157)", dots)
	}
	for _, want := range []string{`<svg class="chart" id="reliability"`, "2026-01-01 to 2026-01-20", "900 predictions", "0.2489", "0.2493", "No pick in this period: no pick cleared the price"} {
		if !strings.Contains(body, want) {
			t.Errorf("reliability page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the reliability page carries a script")
	}

	rel.Picks, rel.Hits, rel.Stated = 40, 22, 0.551
	if body, _ = get(t, srv.URL+"/reliability"); !strings.Contains(body, "Picks: 40, stated 55.1% on average, won 22.") {
		t.Errorf("reliability page with picks lacks their record:\n%s", body)
	}

	src.err = errors.New("data unreadable")
	if _, code = get(t, srv.URL+"/reliability"); code != http.StatusInternalServerError {
		t.Errorf("GET /reliability with a failing source: %d, want 500", code)
	}

	off := httptest.NewServer(httpapi.NewStatus(httpapi.StatusConfig{Store: e.store}).Handler())
	t.Cleanup(off.Close)
	if body, code = get(t, off.URL+"/reliability"); code != http.StatusOK || !strings.Contains(body, "no graded results") {
		t.Errorf("GET /reliability without a source: %d\n%s", code, body)
	}
}
