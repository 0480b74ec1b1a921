package main

import (
	"context"
	"errors"
	"fmt"

	"tipoff/batch"
)

const cancelUsage = `Usage: tipoff cancel [--db FILE | --coordinator URL [--id-token]] [--reason TEXT] BATCH_ID

Ends a running batch at once with result cancelled: players still without an
outcome get none, nothing is published for it, and its "batch cancelled"
event is relayed. Outcomes that arrive later are ignored. A batch that has
already ended is left as it is (exit 1, "already finalized").

It changes the SQLite file (--db), or asks a coordinator to cancel
(--coordinator URL: POST /batches/BATCH_ID/cancel on "tipoff serve" or the
cloud coordinator, which requires an operator's token: --id-token sends a
Google ID token for the URL from Application Default Credentials; TIPOFF_TOKEN,
when set, is sent as the bearer token "tipoff serve" may require).`

func runCancel(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "cancel", cancelUsage)
	target := b.operator("cancel")
	reason := fs.String("reason", "cancelled by an operator", "why, recorded with the batch and its event")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("cancel: want one batch id, got %q", fs.Args())
	}
	id := fs.Arg(0)
	if len(*reason) > 500 {
		return fmt.Errorf("cancel: reason: %d bytes, want at most 500", len(*reason))
	}
	client, app, err := target.open(ctx, m, cfg)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	var got batch.Batch
	if client != nil {
		r, err := client.Cancel(ctx, id, *reason)
		if err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		got = batch.Batch{ID: r.BatchID, State: r.State, Result: r.Result}
	} else {
		defer app.Close()
		if got, err = app.engine.Cancel(ctx, id, *reason); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		// Relay the cancelled event now rather than leave it to a serve
		// process that may not be running.
		if _, err := app.engine.RelayEvents(ctx); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(m.Stderr, "tipoff: cancel: the batch is cancelled; its event waits for the next relay: %v\n", err)
		}
	}
	fmt.Fprintf(m.Stdout, "batch %s: %s, %s\n", got.ID, got.State, got.Result)
	return nil
}
