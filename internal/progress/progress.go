// Package progress shows how far a batch has come on a terminal: a live bar
// when the output is a terminal, a plain line every few seconds otherwise
// (a log, a pipe, CI). It imports nothing of ours.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// View shows a batch's progress: a live bar on a terminal, a line
// every few seconds otherwise.
type View struct {
	total int
	bar   *progressbar.ProgressBar
	w     io.Writer
	start time.Time
	last  time.Time
	done  int
	shown int // done when the last plain line was written; -1 before any
}

// New returns a view of total players writing to w.
func New(w io.Writer, total int) *View {
	v := &View{total: total, w: w, start: time.Now(), last: time.Now(), shown: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("players"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("players"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30), progressbar.OptionFullWidth())
	}
	return v
}

// Update shows done players of the total.
func (v *View) Update(done int) {
	v.done = done
	if v.bar != nil {
		v.bar.Set(done)
		return
	}
	// A count that has not moved is not written again: a wait shows as
	// one line, not one every few seconds.
	if done != v.shown && time.Since(v.last) >= 2*time.Second {
		v.last = time.Now()
		v.line()
	}
}

// Note writes msg on a line of its own.
func (v *View) Note(msg string) {
	if v.bar != nil {
		fmt.Fprintln(v.w)
	}
	fmt.Fprintln(v.w, msg)
}

func (v *View) line() {
	v.shown = v.done
	el := time.Since(v.start).Seconds()
	rate := float64(v.done) / max(el, 1e-3)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(v.total-v.done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(v.w, "progress %d/%d players (%.0f%%), %.0f/s, eta %s\n", v.done, v.total, 100*float64(v.done)/max(float64(v.total), 1), rate, eta)
}

// Finish shows the final count and ends the bar.
func (v *View) Finish() {
	if v.bar != nil {
		v.bar.Finish()
		fmt.Fprintln(v.w)
		return
	}
	if v.shown != v.done {
		v.line()
	}
}

// Abort ends the bar's line where it stands.
func (v *View) Abort() {
	if v.bar != nil {
		fmt.Fprintln(v.w)
	}
}
