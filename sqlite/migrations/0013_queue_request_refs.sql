-- A request message that the store publishes from its outbox refers to
-- its item's request in item_requests (req_batch, req_item) instead of
-- carrying a copy in body: a busiest-day batch wrote its 3 MB of requests
-- twice, and its checkpoints copied both. Requests are written once and
-- never change. A message with a body, or without a reference, is read as
-- before.
ALTER TABLE queue_messages ADD COLUMN req_batch TEXT;
ALTER TABLE queue_messages ADD COLUMN req_item TEXT;
