package predict

import (
	"encoding/json"
	"io"
)

// backtestJSON is the report as [BacktestReport.WriteJSON] writes it.
type backtestJSON struct {
	From    Date          `json:"from"`
	To      Date          `json:"to"`
	Rows    int           `json:"rows"`
	Pricing Pricing       `json:"pricing"`
	Systems []SystemScore `json:"systems"`
	Line    struct {
		Rows int     `json:"rows"`
		MAE  float64 `json:"mae"`
	} `json:"line"`
	// Market is the reference: the line's vig-free probability.
	Market SystemScore `json:"market"`
}

// WriteJSON writes the report for machines as one indented JSON object:
// the range, the graded rows, pricing (the rule the picks were made by),
// every system's score, the line's own error and the market reference.
func (rep *BacktestReport) WriteJSON(w io.Writer, pricing Pricing) error {
	out := backtestJSON{From: rep.From, To: rep.To, Rows: rep.Rows, Pricing: pricing, Systems: rep.Systems, Market: rep.Market}
	out.Line.Rows, out.Line.MAE = rep.Line.Rows, rep.Line.MAE
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
