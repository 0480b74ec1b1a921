package predict_test

import (
	"bytes"
	"testing"

	"tipoff/predict"
)

// WriteJSON writes the range as dates, the rows, the pricing rule, each
// system's score, the line's rows and error (not its bias) and the market
// reference, and leaves out the request count.
func TestBacktestReport_WriteJSON(t *testing.T) {
	t.Parallel()
	rep := &predict.BacktestReport{From: predict.MustParseDate("2025-12-01"), To: predict.MustParseDate("2025-12-02"), Rows: 7, Requests: 9,
		Systems: []predict.SystemScore{{Name: "baseline", Rows: 7, MAE: 4.5}},
		Line:    predict.LineScore{Rows: 7, MAE: 4.25, Bias: 0.5}, Market: predict.SystemScore{Name: "market", Rows: 7}}
	var out bytes.Buffer
	if err := rep.WriteJSON(&out, predict.Pricing{MinEV: 0.02, BestPrice: true}); err != nil {
		t.Fatal(err)
	}
	score := func(name string, mae string) string {
		return `{
      "name": "` + name + `",
      "rows": 7,
      "mae": ` + mae + `,
      "bias": 0,
      "picks": 0,
      "hits": 0,
      "hit_rate": 0,
      "stated": 0,
      "roi": 0,
      "roi_110": 0,
      "prob": {
        "rows": 0,
        "brier": 0,
        "log_loss": 0,
        "market_brier": 0,
        "market_log_loss": 0
      },
      "books": null,
      "reliability": null
    }`
	}
	want := `{
  "from": "2025-12-01",
  "to": "2025-12-02",
  "rows": 7,
  "pricing": {
    "min_ev": 0.02,
    "best_price": true
  },
  "systems": [
    ` + score("baseline", "4.5") + `
  ],
  "line": {
    "rows": 7,
    "mae": 4.25
  },
  "market": ` + reindent(score("market", "0")) + `
}
`
	if got := out.String(); got != want {
		t.Fatalf("WriteJSON wrote\n%s\nwant\n%s", got, want)
	}
}

// reindent moves a system score written at the depth of the systems'
// elements out one level, to the depth of "market".
func reindent(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte("\n  "), []byte("\n")))
}
