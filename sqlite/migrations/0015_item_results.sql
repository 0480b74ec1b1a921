-- Each large item result in a table of its own, written once when its
-- outcome is recorded, as large requests are (0010_item_requests.sql). In
-- the items row a result of a kilobyte or more grew the row from about a
-- hundred bytes, so recording a group of outcomes split and rewrote the
-- items pages around each: on the busiest day 359 pages of the run's
-- 1,213, scattered through the file, which the checkpoint then copied.
-- Results of up to 512 bytes stay in items.result; a larger one's
-- items.result is NULL. Results recorded before this stay in their rows.
CREATE TABLE item_results (
	batch_id TEXT NOT NULL REFERENCES batches (id),
	id       TEXT NOT NULL,
	result   BLOB,
	UNIQUE (batch_id, id)
);
