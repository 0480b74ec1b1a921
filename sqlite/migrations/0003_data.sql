-- Prediction input data: the schedule, player game logs, prop lines and
-- availability reports of one imported data set, replaced as a whole by
-- each import (one transaction). data_meta holds the data set's version
-- (a checksum of its rows) so re-importing the same data is a no-op and a
-- load can check it read back what was written. Dates are YYYY-MM-DD.
CREATE TABLE data_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE data_games (
	date        TEXT NOT NULL,
	home        TEXT NOT NULL,
	away        TEXT NOT NULL,
	id          TEXT NOT NULL,
	season      TEXT NOT NULL,
	season_type TEXT NOT NULL,
	home_pts    INTEGER NOT NULL,
	away_pts    INTEGER NOT NULL,
	final       INTEGER NOT NULL,
	PRIMARY KEY (date, home, away)
) WITHOUT ROWID;

CREATE TABLE data_game_logs (
	player_id   TEXT NOT NULL,
	date        TEXT NOT NULL,
	game_id     TEXT NOT NULL,
	season      TEXT NOT NULL,
	season_type TEXT NOT NULL,
	player_name TEXT NOT NULL,
	team        TEXT NOT NULL,
	opponent    TEXT NOT NULL,
	home        INTEGER NOT NULL,
	starter     INTEGER NOT NULL,
	played      INTEGER NOT NULL,
	dnp_reason  TEXT NOT NULL,
	minutes     REAL NOT NULL,
	pts INTEGER NOT NULL, reb INTEGER NOT NULL, oreb INTEGER NOT NULL, dreb INTEGER NOT NULL,
	ast INTEGER NOT NULL, stl INTEGER NOT NULL, blk INTEGER NOT NULL, tov INTEGER NOT NULL,
	pf INTEGER NOT NULL, fgm INTEGER NOT NULL, fga INTEGER NOT NULL, fg3m INTEGER NOT NULL,
	fg3a INTEGER NOT NULL, ftm INTEGER NOT NULL, fta INTEGER NOT NULL, plus_minus INTEGER NOT NULL,
	PRIMARY KEY (player_id, date)
) WITHOUT ROWID;

-- Prop lines have no natural key (a pick'em book may list several lines for
-- one player-game), so rows keep their import order.
CREATE TABLE data_prop_lines (
	seq        INTEGER PRIMARY KEY,
	date       TEXT NOT NULL,
	game_id    TEXT NOT NULL,
	player_id  TEXT NOT NULL,
	team       TEXT NOT NULL,
	book       TEXT NOT NULL,
	line       REAL NOT NULL,
	over_odds  INTEGER NOT NULL,
	under_odds INTEGER NOT NULL,
	main       INTEGER NOT NULL,
	source     TEXT NOT NULL
);
CREATE INDEX data_prop_lines_player ON data_prop_lines (player_id, date);

CREATE TABLE data_statuses (
	date      TEXT NOT NULL,
	player_id TEXT NOT NULL,
	status    TEXT NOT NULL,
	PRIMARY KEY (date, player_id)
) WITHOUT ROWID;
