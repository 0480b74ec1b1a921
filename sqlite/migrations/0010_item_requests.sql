-- Each large item request in a table of its own, written once when its
-- batch is created. In the items row a request of a few kilobytes spilled
-- onto overflow pages that every update of the row (published, attempts,
-- the outcome) read and wrote again, and that reading any column after it
-- walked. Requests of up to 512 bytes stay in items.request; a larger one's
-- items.request is NULL (see inlineRequest in sqlite/store.go).
CREATE TABLE item_requests (
	batch_id TEXT NOT NULL REFERENCES batches (id),
	id       TEXT NOT NULL,
	request  BLOB,
	PRIMARY KEY (batch_id, id)
) WITHOUT ROWID;
INSERT INTO item_requests (batch_id, id, request) SELECT batch_id, id, request FROM items WHERE length(request) > 512;
UPDATE items SET request = NULL WHERE length(request) > 512;
