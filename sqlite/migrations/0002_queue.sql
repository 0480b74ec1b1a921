-- The durable queue: one queue_messages row per message not yet acked, on
-- any topic, and its body and attributes in queue_payloads under the same
-- seq. Receiving and settling touch only the small queue_messages rows; a
-- payload is written once and deleted once.
--
-- seq never repeats (AUTOINCREMENT), so a receipt (seq, deliveries) names
-- one delivery of one message for good: a stale receipt can never match a
-- later message or a later delivery.
--
-- A message is ready when visible_at <= now; leased while leased = 1 and
-- visible_at (its lease's end) is in the future; delayed while leased = 0
-- and visible_at (the end of a nack's backoff) is in the future. Times are
-- Unix nanoseconds.
CREATE TABLE queue_messages (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	topic        TEXT NOT NULL,
	id           TEXT NOT NULL,
	published_at INTEGER NOT NULL,
	visible_at   INTEGER NOT NULL,
	deliveries   INTEGER NOT NULL DEFAULT 0,
	leased       INTEGER NOT NULL DEFAULT 0,
	-- A second publish of an ID that is still on the topic is dropped.
	UNIQUE (topic, id)
);
-- Receive takes the head of a topic in visible_at order; the depth counts
-- read only this index.
CREATE INDEX queue_messages_visible ON queue_messages (topic, visible_at, leased);

CREATE TABLE queue_payloads (
	seq   INTEGER PRIMARY KEY, -- queue_messages.seq
	body  BLOB,
	attrs TEXT                 -- JSON object; NULL when there are none
);
