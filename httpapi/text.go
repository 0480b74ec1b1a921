package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// WriteProgressText prints one batch's progress for a person, as "tipoff
// status" shows it, and whether its predictions are the date's live
// publication pub (nil: nothing is published) or whose are.
func WriteProgressText(w io.Writer, p batch.Progress, pub *predict.Publication) {
	b := p.Batch
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := string(b.State)
	if b.Result != "" {
		state += " (" + string(b.Result) + ")"
	}
	done := b.Counts.Done()
	pct := 100.0
	if b.Total > 0 {
		pct = 100 * float64(done) / float64(b.Total)
	}
	fmt.Fprintf(tw, "batch\t%s\n", b.ID)
	fmt.Fprintf(tw, "date / run\t%s / %s\n", b.Key.Date, b.Key.Run)
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "progress\t%d/%d (%.1f%%), %d remaining\n", done, b.Total, pct, p.Remaining)
	fmt.Fprintf(tw, "outcomes\tsucceeded %d, skipped %d, failed %d, timed out %d\n",
		b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut)
	fmt.Fprintf(tw, "created\t%s\n", b.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "deadline\t%s\n", b.Deadline.Format(time.RFC3339))
	if !b.FinalizedAt.IsZero() {
		fmt.Fprintf(tw, "finalized\t%s (%d finalize attempts)\n", b.FinalizedAt.Format(time.RFC3339), b.FinalizeAttempts)
	} else if b.FinalizeAttempts > 0 {
		fmt.Fprintf(tw, "finalize\t%d attempts, lease %s until %s\n", b.FinalizeAttempts, b.Lease.Owner, b.Lease.Expires.Format(time.RFC3339))
	}
	if b.CancelReason != "" {
		fmt.Fprintf(tw, "cancelled\t%s\n", b.CancelReason)
	}
	if reason, ok := b.NoItems(); ok {
		fmt.Fprintf(tw, "no items\t%s\n", reason)
	}
	tw.Flush()
	if len(p.Missing) > 0 {
		more := ""
		if p.Remaining > len(p.Missing) {
			more = fmt.Sprintf(" (first %d of %d)", len(p.Missing), p.Remaining)
		}
		fmt.Fprintf(w, "without an outcome%s: %s\n", more, strings.Join(p.Missing, ", "))
	}
	fmt.Fprintln(w, "published: "+liveLine(b, pub))
}

// liveLine says, for a person, whether b's predictions are the date's
// live publication pub (nil: nothing is published), and whose are when
// they are not.
func liveLine(b batch.Batch, pub *predict.Publication) string {
	switch {
	case pub == nil:
		return "nothing for " + b.Key.Date
	case pub.BatchID == b.ID && pub.Pinned:
		return "live, pinned by an operator"
	case pub.BatchID == b.ID:
		return "live"
	}
	s := fmt.Sprintf("not live; the live picks are batch %s (run %s, %s)", pub.BatchID, pub.Run, pub.Result)
	if b.State == batch.Finalized {
		s = fmt.Sprintf("not live (%s; its predictions stay as its own record); the live picks are batch %s (run %s, %s)", b.Result, pub.BatchID, pub.Run, pub.Result)
	}
	if pub.Pinned {
		s += ", pinned by an operator"
	}
	return s
}

// WriteExportText prints the recorded state of the export of b's date, if
// any, as "tipoff status" shows it.
func WriteExportText(ctx context.Context, w io.Writer, exports predict.ExportLog, b batch.Batch) {
	date, err := predict.ParseDate(b.Key.Date)
	if err != nil {
		return
	}
	switch st, err := exports.ExportState(ctx, date); {
	case err != nil:
	case st.Failing():
		fmt.Fprintf(w, "export      %s FAILING %d time(s) since %s: %s (retried)\n", st.Path, st.Failures, st.FailingSince.Format(time.RFC3339), st.Error)
	default:
		fmt.Fprintf(w, "export      %s written %s\n", st.Path, st.At.Format(time.RFC3339))
	}
}

// ProgressOf returns the progress of each batch of ids, in order, listing
// at most missing players without an outcome for each.
func ProgressOf(ctx context.Context, store StatusStore, ids []string, missing int) ([]batch.Progress, error) {
	ps := make([]batch.Progress, 0, len(ids))
	for _, id := range ids {
		p, err := store.Progress(ctx, id, missing)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// WriteStatusText prints each batch's progress as "tipoff status" shows
// it, a blank line between two: [WriteProgressText] with its date's
// publication read from pubs, then [WriteExportText].
func WriteStatusText(ctx context.Context, w io.Writer, ps []batch.Progress, pubs Publications, exports predict.ExportLog) error {
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		d, _ := predict.ParseDate(p.Batch.Key.Date)
		pub, err := pubs.Published(ctx, d)
		if err != nil && !errors.Is(err, batch.ErrNotFound) {
			return err
		}
		WriteProgressText(w, p, pub)
		WriteExportText(ctx, w, exports, p.Batch)
	}
	return nil
}
