-- Named, time-limited claims of work that one process at a time should do
-- (the coordinator's dispatch, sweep and event relay): see batch.Claim.
CREATE TABLE claims (
	name    TEXT PRIMARY KEY,
	owner   TEXT NOT NULL,
	epoch   INTEGER NOT NULL,
	expires INTEGER NOT NULL
);
