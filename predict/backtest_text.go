package predict

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
)

// WriteTables prints the report for a person: per system (and the line's
// vig-free price as the reference) the points' error, the Brier score and
// log loss of P(over) beside the market's, the picks with their hit rate and
// return; then the Brier scores by book and the reliability of P(over).
func (rep *BacktestReport) WriteTables(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\trows\tMAE\tbias\tpriced\tBrier\tmarket\tlog loss\tmarket\tpicks\tstated\thit rate\tROI\tROI -110\t")
	all := append(slices.Clone(rep.Systems), rep.Market)
	all[len(all)-1].Name = "line (reference)"
	for _, s := range all {
		stated, rate, roi, roi110 := "-", "-", "-", "-"
		if s.Picks > 0 {
			stated, rate = pct(s.Stated), pct(s.HitRate)
			roi, roi110 = signedPct(s.ROI), signedPct(s.ROI110)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%+.3f\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.Rows, s.MAE, s.Bias,
			s.Prob.Rows, s.Prob.Brier, s.Prob.MarketBrier, s.Prob.LogLoss, s.Prob.MarketLogLoss, s.Picks, stated, rate, roi, roi110)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nBrier and log loss of P(over) on priced lines by book (system / market's vig-free price):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "system\t")
	for _, b := range rep.Market.Books {
		fmt.Fprintf(tw, "%s (%d)\t", b.Book, b.Rows)
	}
	fmt.Fprintln(tw)
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t", s.Name)
		for _, b := range s.Books {
			fmt.Fprintf(tw, "%.4f / %.4f\t", b.Brier, b.MarketBrier)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nreliability of P(over) on priced lines: n, mean stated -> share over")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "system\t")
	for _, b := range rep.Market.Reliability {
		fmt.Fprintf(tw, "%.0f-%.0f%%\t", 100*b.Lo, 100*b.Hi)
	}
	fmt.Fprintln(tw)
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t", s.Name)
		for _, b := range s.Reliability {
			if b.N == 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%d: %s -> %s\t", b.N, pct(b.Stated), pct(b.Realized))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nbias is predicted minus actual points; ROI is the profit per unit staked; break-even at -110 is 52.4%.")
	for _, s := range rep.Systems {
		if s.Picks > 0 {
			return
		}
	}
	fmt.Fprintln(w, NoPickMessage+": no system shows an edge at the offered odds over this period.")
}

func pct(v float64) string       { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
func signedPct(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }
