-- The state of each date's export file: whether the last attempt to write
-- it failed, why, and since when. The publication is the source of truth;
-- a failing export is retried and reported by health.
CREATE TABLE exports (
	game_date     TEXT PRIMARY KEY,
	batch_id      TEXT NOT NULL,
	path          TEXT NOT NULL,
	error         TEXT NOT NULL DEFAULT '',
	failures      INTEGER NOT NULL DEFAULT 0,
	at            INTEGER NOT NULL,
	failing_since INTEGER NOT NULL DEFAULT 0
);
