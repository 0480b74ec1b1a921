-- What one date's batch needs, read without loading the whole data set:
-- game logs by team and date (who played for a team lately), prop lines by
-- book (the bookmakers the data has), and the calibrations fitted for each
-- date, kept under the data version they were fitted on (an import of
-- other data deletes them) and the systems and options that decide the fit.
CREATE INDEX data_game_logs_team ON data_game_logs (team, date);
CREATE INDEX data_prop_lines_book ON data_prop_lines (book);

CREATE TABLE data_calibrations (
	version     TEXT NOT NULL,
	date        TEXT NOT NULL,
	key         TEXT NOT NULL,
	calibration TEXT NOT NULL,
	PRIMARY KEY (version, date, key)
) WITHOUT ROWID;

-- Each player's game logs and prop lines in compact blobs, one per stretch
-- of the schedule of one season that has any (see sqlite/history.go),
-- written by the import with the rows. start is the stretch's first date
-- (predict.Date, days), 0 for a player's whole history in one blob.
CREATE TABLE data_players (
	player_id TEXT NOT NULL,
	start     INTEGER NOT NULL,
	history   BLOB NOT NULL,
	PRIMARY KEY (player_id, start)
);
