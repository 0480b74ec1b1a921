-- Whether an operator published the date's batch explicitly ("tipoff
-- publish"): a batch's own finalize never replaces a pinned publication.
ALTER TABLE publications ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
