-- Published predictions: per game date, the predictions of the batch that
-- finalized last. A new publication replaces the date's rows in one
-- transaction. The key (date, player, system, line) keeps line variants apart.
CREATE TABLE publications (
	game_date        TEXT PRIMARY KEY,
	batch_id         TEXT NOT NULL,
	run_label        TEXT NOT NULL,
	result           TEXT NOT NULL,
	data_version     TEXT NOT NULL DEFAULT '',
	batch_created_at INTEGER NOT NULL,
	published_at     INTEGER NOT NULL
);

CREATE TABLE published_predictions (
	game_date   TEXT NOT NULL,
	player_id   TEXT NOT NULL,
	system      TEXT NOT NULL,
	line        REAL NOT NULL,
	player_name TEXT NOT NULL,
	team        TEXT NOT NULL,
	opponent    TEXT NOT NULL,
	home        INTEGER NOT NULL,
	line_offset REAL NOT NULL,
	line_source TEXT NOT NULL,
	estimated   INTEGER NOT NULL,
	points      REAL NOT NULL,
	confidence  REAL NOT NULL,
	edge        REAL NOT NULL,
	pick        TEXT NOT NULL,
	PRIMARY KEY (game_date, player_id, system, line)
) WITHOUT ROWID;
