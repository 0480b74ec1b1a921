package main

import (
	"context"
	"fmt"

	"tipoff/httpapi"
)

const publishUsage = `Usage: tipoff publish [--db FILE | --coordinator URL [--id-token]] [--unpin] BATCH_ID

Makes a finalized batch's predictions the date's publication, whatever its
result and whatever is published now, and rewrites the date's export file
from it. A batch that has not finalized is refused (exit 1, conflict).

Publication policy: a batch's own finalize replaces the date's publication
only when its result is at least as good as the published one's (succeeded >
partial > failed/cancelled; among equals the newer batch). A worse run keeps
its predictions as its own record, visible in "tipoff status" and on the
status pages, but not live. "tipoff publish" overrides the policy: the
publication it makes is pinned, and no later finalize replaces it until an
operator publishes again. --unpin publishes without pinning, so later runs
may replace it per the policy: "tipoff publish --unpin" of the live batch
lifts a pin.

It changes the SQLite file (--db), or asks a coordinator to publish
(--coordinator URL: POST /batches/BATCH_ID/publish on "tipoff serve" or the
cloud coordinator, which requires an operator's token: --id-token sends a
Google ID token for the URL from Application Default Credentials).`

func runPublish(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "publish", publishUsage)
	target := b.operator("publish")
	b.String(&b.cfg.ExportDir, "export-dir", "TIPOFF_EXPORT_DIR", "`directory` of the <date>.json picks export to rewrite, with --db")
	unpin := fs.Bool("unpin", false, "publish without pinning: later runs may replace it per the publication policy")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("publish: want one batch id, got %q", fs.Args())
	}
	client, app, err := target.open(ctx, m, cfg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var r httpapi.PublishResponse
	if client != nil {
		r, err = client.Publish(ctx, fs.Arg(0), *unpin)
	} else {
		defer app.Close()
		r, err = httpapi.Published(app.job.Publish(ctx, fs.Arg(0), !*unpin))
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(m.Stdout, "published %s: batch %s (run %s, %s), %d predictions for %d players, pinned %v, export %q\n",
		r.Date, r.BatchID, r.Run, r.Result, r.Predictions, r.Players, r.Pinned, r.Export)
	return nil
}
