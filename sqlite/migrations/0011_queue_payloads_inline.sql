-- A message's body and attributes move into its queue_messages row: a
-- message is then one row, inserted once and deleted once, instead of two
-- in two tables (publishing, acking and dead-lettering each touched both).
-- Messages waiting in a file from before keep their payloads.
ALTER TABLE queue_messages ADD COLUMN body BLOB;
ALTER TABLE queue_messages ADD COLUMN attrs TEXT; -- JSON object; NULL when there are none
UPDATE queue_messages SET (body, attrs) = (SELECT p.body, p.attrs FROM queue_payloads p WHERE p.seq = queue_messages.seq);
DROP TABLE queue_payloads;
