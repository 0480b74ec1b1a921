-- Each large item request in a table of its own, written once when its
-- batch is created. In the items row a request of a few kilobytes spilled
-- onto overflow pages that every update of the row (published, attempts,
-- the outcome) read and wrote again, and that reading any column after it
-- walked. Requests of up to 512 bytes stay in items.request; a larger one's
-- items.request is NULL (see inlineRequest in sqlite/store.go).
--
-- A rowid table with the key in an index of its own, not WITHOUT ROWID: a
-- search of a WITHOUT ROWID table reads the whole row of every cell it
-- compares whose row spills onto overflow pages, so each lookup of a
-- request read a dozen or more others.
CREATE TABLE item_requests (
	batch_id TEXT NOT NULL REFERENCES batches (id),
	id       TEXT NOT NULL,
	request  BLOB,
	UNIQUE (batch_id, id)
);
INSERT INTO item_requests (batch_id, id, request) SELECT batch_id, id, request FROM items WHERE length(request) > 512;
-- By the keys just copied: a WHERE on the rows being rewritten would make
-- SQLite hold every one of them (hundreds of MB on a big file) first.
UPDATE items SET request = NULL WHERE (batch_id, id) IN (SELECT batch_id, id FROM item_requests);
