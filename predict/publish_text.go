package predict

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTopPicks prints system's n picks at base lines with the best
// expected value at their offered price, or says that no pick clears it.
func (pub *Publication) WriteTopPicks(w io.Writer, system string, n int) {
	picks := pub.TopPicks(system, n)
	if len(picks) == 0 {
		fmt.Fprintf(w, "%s: %s (every prediction is a PASS)\n", system, NoPickMessage)
		return
	}
	fmt.Fprintf(w, "\ntop %d picks (%s, base line, by expected value at the offered price):\n", len(picks), system)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "player\tteam\tvs\tline\tpredicted\tP(over)\tpick\tprice\tbook\tP(win)\tEV\t")
	for _, p := range picks {
		vs := "@" + p.Player.Opponent
		if p.Player.Home {
			vs = p.Player.Opponent
		}
		pr := p.Prediction
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.0f%%\t%s\t%+d\t%s\t%.0f%%\t%+.2f\t\n", p.Player.Name, p.Player.Team, vs,
			pr.Line, pr.Points, 100*pr.POver, pr.Pick, pr.Price, pr.PriceBook, 100*pr.Confidence, pr.EV)
	}
	tw.Flush()
}
