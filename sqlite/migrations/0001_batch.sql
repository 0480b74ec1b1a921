-- Batch state: batches, their items (the manifest, outcomes and results) and
-- the event outbox. Counts live on the batch row and change in the same
-- transaction as the item's outcome. Times are Unix microseconds, 0 for
-- none.
CREATE TABLE batches (
	id                TEXT PRIMARY KEY,
	run_date          TEXT NOT NULL,
	run_label         TEXT NOT NULL,
	state             TEXT NOT NULL,
	result            TEXT NOT NULL DEFAULT '',
	total             INTEGER NOT NULL,
	succeeded         INTEGER NOT NULL DEFAULT 0,
	skipped           INTEGER NOT NULL DEFAULT 0,
	failed            INTEGER NOT NULL DEFAULT 0,
	timed_out         INTEGER NOT NULL DEFAULT 0,
	policy            TEXT NOT NULL,
	meta              TEXT NOT NULL DEFAULT '{}',
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	deadline          INTEGER NOT NULL,
	finalized_at      INTEGER NOT NULL DEFAULT 0,
	lease_owner       TEXT NOT NULL DEFAULT '',
	lease_expires     INTEGER NOT NULL DEFAULT 0,
	finalize_attempts INTEGER NOT NULL DEFAULT 0,
	cancel_reason     TEXT NOT NULL DEFAULT '',
	UNIQUE (run_date, run_label)
);
CREATE INDEX batches_created ON batches (created_at, id);
CREATE INDEX batches_state ON batches (state, created_at, id);

CREATE TABLE items (
	batch_id     TEXT NOT NULL REFERENCES batches (id),
	id           TEXT NOT NULL,
	request      BLOB,
	published    INTEGER NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	outcome      TEXT NOT NULL DEFAULT '',
	result       BLOB,
	error        TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	published_at INTEGER NOT NULL DEFAULT 0,
	completed_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (batch_id, id)
) WITHOUT ROWID;
-- Items without an outcome, in ID order: progress's missing list, the
-- overdue scan and the deadline sweep. Recording an outcome removes the
-- item's entry, so these stay as small as what is left to do.
CREATE INDEX items_pending ON items (batch_id, id) WHERE outcome = '';
-- The dispatch outbox: items neither published nor finished.
CREATE INDEX items_outbox ON items (batch_id, id) WHERE outcome = '' AND published = 0;

CREATE TABLE events (
	id           TEXT PRIMARY KEY,
	type         TEXT NOT NULL,
	batch_id     TEXT NOT NULL REFERENCES batches (id),
	payload      BLOB,
	created_at   INTEGER NOT NULL,
	published_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_pending ON events (created_at, id) WHERE published_at = 0;
