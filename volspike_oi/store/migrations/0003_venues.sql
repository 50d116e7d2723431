-- Every venue in one table (issue 11). A reading is (venue, symbol, ts, source): Bybit's
-- BTCUSDT is not Binance's. Rows stored before this migration are Binance's. `asset` is the
-- canonical coin (1000PEPEUSDT → PEPE) and `coin` the open interest in units of it, so venues
-- compare (contracts of different venues never add up). Older rows keep NULL for both: they were
-- not recorded then, and rewriting every partition to derive them would take the table for hours.
ALTER TABLE open_interest_snapshots
    ADD COLUMN IF NOT EXISTS venue text NOT NULL DEFAULT 'binance',
    ADD COLUMN IF NOT EXISTS asset text,
    ADD COLUMN IF NOT EXISTS coin  numeric CHECK (coin >= 0);

ALTER TABLE open_interest_snapshots
    DROP CONSTRAINT IF EXISTS open_interest_snapshots_symbol_ts_source_key;
ALTER TABLE open_interest_snapshots
    ADD CONSTRAINT open_interest_snapshots_venue_symbol_ts_source_key
    UNIQUE (venue, symbol, ts, source);

-- Alerts of one venue, or of an asset across venues (`venue = 'all'`, issue 12: `symbol` is
-- the asset, `drivers` each venue's own move as JSON).
ALTER TABLE open_interest_alerts
    ADD COLUMN IF NOT EXISTS venue   text NOT NULL DEFAULT 'binance',
    ADD COLUMN IF NOT EXISTS drivers jsonb;
ALTER TABLE open_interest_alerts
    DROP CONSTRAINT IF EXISTS open_interest_alerts_symbol_direction_ts_key;
ALTER TABLE open_interest_alerts
    ADD CONSTRAINT open_interest_alerts_venue_symbol_direction_ts_key
    UNIQUE (venue, symbol, direction, ts);
