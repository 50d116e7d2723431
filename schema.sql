-- volspike-oi schema, version 1 (seed 001 §6.1, extended). Applied idempotently by
-- `volspike-oi db migrate` (make db-migrate). Never edit a released version in a way that breaks
-- an existing database: later changes are numbered files in volspike_oi/store/migrations/.

CREATE TABLE IF NOT EXISTS schema_version (
    version     integer PRIMARY KEY,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Every OI reading. Range-partitioned by UTC day on ts; partitions are created ahead by the
-- service (and on demand for any day a batch touches). (symbol, ts, source) is the natural key:
-- a batch retried after an unacknowledged commit cannot double a row.
CREATE TABLE IF NOT EXISTS open_interest_snapshots (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    symbol            text        NOT NULL,
    ts                timestamptz NOT NULL,
    open_interest     numeric     NOT NULL CHECK (open_interest >= 0),
    open_interest_usd numeric,
    mark_price        numeric     CHECK (mark_price > 0),
    source            text        NOT NULL DEFAULT 'snapshot'
                      CHECK (source IN ('snapshot', 'realtime', 'snapshot_legacy')),
    exchange_time     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, ts),
    UNIQUE (symbol, ts, source)
) PARTITION BY RANGE (ts);

-- The unique key's index (symbol, ts, source) also serves "samples of one symbol since t" and
-- "latest per symbol" (a backward scan); a separate (symbol, ts) index would only add ~55 bytes
-- a row.

CREATE TABLE IF NOT EXISTS open_interest_alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol           text        NOT NULL,
    direction        text        NOT NULL CHECK (direction IN ('UP', 'DOWN')),
    baseline         numeric     NOT NULL,
    current          numeric     NOT NULL,
    pct_change       numeric     NOT NULL,
    abs_change       numeric     NOT NULL,
    source           text        NOT NULL,
    ts               timestamptz NOT NULL,
    baseline_samples integer,
    usd_change       numeric,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (symbol, direction, ts)
);
CREATE INDEX IF NOT EXISTS open_interest_alerts_ts ON open_interest_alerts (ts DESC);

-- The current liquid universe (seed 001 §6.1).
CREATE TABLE IF NOT EXISTS open_interest_liquid_symbols (
    symbol           text PRIMARY KEY,
    quote_volume_24h numeric     NOT NULL,
    entered_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL
);

-- Append-only history of universe changes, with the quote volume that caused each.
CREATE TABLE IF NOT EXISTS open_interest_universe_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol           text        NOT NULL,
    event            text        NOT NULL CHECK (event IN ('enter', 'exit')),
    quote_volume_24h numeric,
    enter_threshold  numeric     NOT NULL,
    exit_threshold   numeric     NOT NULL,
    ts               timestamptz NOT NULL,
    UNIQUE (symbol, event, ts)
);
CREATE INDEX IF NOT EXISTS open_interest_universe_events_ts ON open_interest_universe_events (ts DESC);

INSERT INTO schema_version (version, description) VALUES (1, 'initial schema')
ON CONFLICT (version) DO NOTHING;
