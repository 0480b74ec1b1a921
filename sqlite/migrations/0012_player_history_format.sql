-- data_players.history in a compact form (format 2, see sqlite/history.go):
-- a string table per blob, small numbers for dates, minutes and lines. The
-- rows of a file from before are format 1; Open re-encodes them in the
-- migration's transaction (upgradeHistories), so a crash leaves either the
-- old file or the upgraded one.
ALTER TABLE data_players ADD COLUMN format INTEGER NOT NULL DEFAULT 1;
