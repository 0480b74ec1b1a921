package main

import (
	"context"
	"fmt"
	"os"

	"tipoff/httpapi"
	"tipoff/pipeline"
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
	b.db()
	coord := ""
	b.env.String("TIPOFF_COORDINATOR", &coord)
	fs.StringVar(&coord, "coordinator", coord, "publish through the coordinator at this `URL` instead of the SQLite file (TIPOFF_COORDINATOR)")
	useToken := fs.Bool("id-token", false, "call the coordinator with a Google ID token for its URL, from Application Default Credentials")
	unpin := fs.Bool("unpin", false, "publish without pinning: later runs may replace it per the publication policy")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("publish: want one batch id, got %q", fs.Args())
	}
	var r httpapi.PublishResponse
	if coord != "" {
		client, err := coordinatorClient(ctx, coord, *useToken)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if r, err = client.Publish(ctx, fs.Arg(0), *unpin); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	} else {
		if _, err := os.Stat(cfg.DB); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		app, err := openEmbedded(ctx, cfg, pipeline.Settings{}, nil, cfg.Logger(m.Stderr, ""))
		if err != nil {
			return err
		}
		defer app.Close()
		got, err := app.job.Publish(ctx, fs.Arg(0), !*unpin)
		if err != nil {
			return err
		}
		r = httpapi.Published(got)
	}
	pin := "pinned"
	if !r.Pinned {
		pin = "not pinned"
	}
	fmt.Fprintf(m.Stdout, "published %s: batch %s (run %s, %s), %d predictions for %d players, %s\n",
		r.Date, r.BatchID, r.Run, r.Result, r.Predictions, r.Players, pin)
	if r.Export != "" {
		fmt.Fprintf(m.Stdout, "export %s\n", r.Export)
	}
	return nil
}
