-- What a trader needs beside the move in contracts (issue 10). Nullable: alerts stored before
-- this migration, and ingested ones that do not send them, have no value (never 0).
ALTER TABLE open_interest_alerts
    ADD COLUMN IF NOT EXISTS baseline_usd          numeric,
    ADD COLUMN IF NOT EXISTS current_usd           numeric,
    ADD COLUMN IF NOT EXISTS mark_price_change_pct numeric,
    ADD COLUMN IF NOT EXISTS window_minutes        numeric;
