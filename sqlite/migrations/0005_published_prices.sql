-- The calibrated probability, the offered price and the expected value of
-- each published prediction: what its pick stands on, shown in the export,
-- the pages and the run summary.
ALTER TABLE published_predictions ADD COLUMN model_p_over  REAL NOT NULL DEFAULT 0;
ALTER TABLE published_predictions ADD COLUMN market_p_over REAL NOT NULL DEFAULT 0;
ALTER TABLE published_predictions ADD COLUMN p_over        REAL NOT NULL DEFAULT 0;
ALTER TABLE published_predictions ADD COLUMN side          TEXT NOT NULL DEFAULT '';
ALTER TABLE published_predictions ADD COLUMN price         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE published_predictions ADD COLUMN price_book    TEXT NOT NULL DEFAULT '';
ALTER TABLE published_predictions ADD COLUMN ev            REAL NOT NULL DEFAULT 0;
