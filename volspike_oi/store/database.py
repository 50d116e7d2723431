"""Writes and reads of the store, as sync psycopg in worker threads.

psycopg's async API needs asyncio (it calls `asyncio.get_running_loop()`), so under trio every
database call runs in `trio.to_thread.run_sync` on one dedicated thread slot (`CapacityLimiter(1)`):
the connection is used by one operation at a time, and database slowness never takes the
threads trio's own DNS lookups use. Writes are idempotent (COPY into a temporary table, then
`INSERT … ON CONFLICT DO NOTHING` on the natural key), so a batch retried after an unknown
outcome is never doubled.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import psycopg
import trio
from psycopg.types.json import Jsonb

from volspike_oi.messages import LiquidMember, OiAlert, OiSample, UniverseUpdate
from volspike_oi.store.protocol import CoinRow, WriteBatch
from volspike_oi.store.schema import drop_partitions_before, ensure_partitions, migrate
from volspike_oi.views import AlertDriverView, OiAlertView, OiStoredSample
from volspike_oi.wire import ABSENT

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 30_000
SAMPLE_COLUMNS = (
    "venue, symbol, ts, open_interest, open_interest_usd, mark_price, source, exchange_time, "
    "asset, coin"
)
ALERT_COLUMNS = (
    "venue, symbol, direction, baseline, current, pct_change, abs_change, source, ts, baseline_samples, "
    "usd_change, baseline_usd, current_usd, mark_price_change_pct, window_minutes, drivers"
)


def utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)


def sample_row(sample: OiSample) -> tuple[Any, ...]:
    return (
        sample.venue,
        sample.symbol,
        utc(sample.received_at),
        sample.contracts,
        sample.usd,
        sample.mark_price,
        sample.source,
        utc(sample.exchange_time_ms / 1000),
        sample.asset,
        sample.coin,
    )


def write_samples(conn: psycopg.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY `rows` in, skipping any already stored; returns how many were new."""
    if not rows:
        return 0
    # One transaction (a savepoint inside write_batch's): on an autocommit connection the COPY
    # would commit on its own and ON COMMIT DELETE ROWS would empty the stage before the INSERT.
    with conn.transaction(), conn.cursor() as cur:
        ensure_partitions(conn, {row[2].date() for row in rows})
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS oi_stage_v3 (venue text, symbol text, "
            "ts timestamptz, open_interest numeric, open_interest_usd numeric, mark_price numeric, "
            "source text, exchange_time timestamptz, asset text, coin numeric) "
            "ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY oi_stage_v3 ({SAMPLE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO open_interest_snapshots ({SAMPLE_COLUMNS}) "
            f"SELECT {SAMPLE_COLUMNS} FROM oi_stage_v3 ORDER BY ts "
            "ON CONFLICT (venue, symbol, ts, source) DO NOTHING"
        )
        return cur.rowcount


def write_alerts(conn: psycopg.Connection, alerts: Sequence[OiAlert]) -> None:
    for a in alerts:
        conn.execute(
            f"INSERT INTO open_interest_alerts ({ALERT_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (venue, symbol, direction, ts) DO NOTHING",
            (
                a.venue,
                a.symbol,
                a.direction,
                a.baseline,
                a.current,
                a.pct_change,
                a.abs_change,
                a.source,
                utc(a.timestamp),
                a.baseline_samples,
                a.usd_change,
                a.baseline_usd,
                a.current_usd,
                a.mark_price_change_pct,
                a.window_minutes,
                Jsonb([attrs.asdict(d) for d in a.drivers]) if a.drivers else None,
            ),
        )


def write_universe(conn: psycopg.Connection, update: UniverseUpdate) -> None:
    at = utc(update.classified_at)
    th = update.thresholds
    for symbol in sorted(update.entered | update.exited):
        conn.execute(
            "INSERT INTO open_interest_universe_events (symbol, event, quote_volume_24h, "
            "enter_threshold, exit_threshold, ts) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (symbol, event, ts) DO NOTHING",
            (
                symbol,
                "enter" if symbol in update.entered else "exit",
                update.quote_volume_24h.get(symbol),
                th.enter_quote_24h,
                th.exit_quote_24h,
                at,
            ),
        )
    conn.execute(
        "DELETE FROM open_interest_liquid_symbols WHERE NOT (symbol = ANY(%s))",
        ([m.symbol for m in update.liquid],),
    )
    for member in update.liquid:
        conn.execute(
            "INSERT INTO open_interest_liquid_symbols (symbol, quote_volume_24h, entered_at, "
            "last_seen_at) VALUES (%s, %s, %s, %s) ON CONFLICT (symbol) DO UPDATE SET "
            "quote_volume_24h = EXCLUDED.quote_volume_24h, last_seen_at = EXCLUDED.last_seen_at",
            (member.symbol, member.quote_volume_24h, utc(member.entered_at), at),
        )


def write_batch(conn: psycopg.Connection, batch: WriteBatch) -> int:
    """Everything in `batch`, in one transaction; returns the number of new sample rows."""
    with conn.transaction():
        inserted = write_samples(conn, [sample_row(s) for s in batch.samples])
        write_alerts(conn, batch.alerts)
        for update in batch.universes:
            write_universe(conn, update)
    return inserted


def recent_samples(
    conn: psycopg.Connection, since: float
) -> dict[str, list[tuple[float, float, float]]]:
    """(epoch seconds, contracts, mark price or NaN) per symbol since `since`, oldest first."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    rows = conn.execute(
        "SELECT symbol, extract(epoch FROM ts)::float8, open_interest::float8, "
        "coalesce(mark_price::float8, 'NaN') "
        "FROM open_interest_snapshots WHERE venue = 'binance' AND ts >= %s ORDER BY symbol, ts",
        (utc(since),),
    ).fetchall()
    for symbol, t, oi, mark in rows:
        out.setdefault(symbol, []).append((t, oi, mark))
    return out


def recent_coin(conn: psycopg.Connection, since: float) -> list[CoinRow]:
    """Every reading with a coin quantity since `since` (rows of every venue), oldest first."""
    rows = conn.execute(
        "SELECT venue, asset, symbol, extract(epoch FROM ts)::float8, coin::float8, "
        "open_interest_usd::float8 FROM open_interest_snapshots "
        "WHERE ts >= %s AND coin IS NOT NULL AND asset IS NOT NULL ORDER BY ts",
        (utc(since),),
    ).fetchall()
    return [(v, a, s, t, c, u) for v, a, s, t, c, u in rows]


def last_alerts(
    conn: psycopg.Connection, since: float, source: str, venue: str = "binance"
) -> list[OiAlert]:
    """Each (symbol, direction)'s newest alert of `venue` from `source` since `since`."""
    rows = conn.execute(
        "SELECT DISTINCT ON (symbol, direction) symbol, direction, baseline::float8, "
        "current::float8, pct_change::float8, abs_change::float8, extract(epoch FROM ts)::float8, "
        "coalesce(baseline_samples, 0) FROM open_interest_alerts "
        "WHERE ts >= %s AND source = %s AND venue = %s ORDER BY symbol, direction, ts DESC",
        (utc(since), source, venue),
    ).fetchall()
    return [
        OiAlert(sym, direction, base, current, pct, delta, t, samples, source=source, venue=venue)
        for sym, direction, base, current, pct, delta, t, samples in rows
    ]


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def read_samples(
    conn: psycopg.Connection, symbol: str, since: float | None, limit: int, venue: str = "binance"
) -> list[OiStoredSample]:
    """Newest first, at most `limit`, only since `since` (epoch seconds) when given."""
    rows = conn.execute(
        "SELECT ts, open_interest, open_interest_usd, mark_price, source, exchange_time, coin "
        "FROM open_interest_snapshots WHERE venue = %s AND symbol = %s AND ts >= %s "
        "ORDER BY ts DESC LIMIT %s",
        (venue, symbol, utc(since if since is not None else 0.0), limit),
    ).fetchall()
    return [
        OiStoredSample(
            ts=_iso(ts),
            open_interest=float(oi),
            open_interest_usd=None if usd is None else float(usd),
            mark_price=None if mark is None else float(mark),
            source=source,
            exchange_time=None if ex is None else _iso(ex),
            coin=_float(coin),
        )
        for ts, oi, usd, mark, source, ex, coin in rows
    ]


def read_alerts(conn: psycopg.Connection, symbol: str | None, limit: int) -> list[OiAlertView]:
    rows = conn.execute(
        "SELECT symbol, direction, baseline, current, pct_change, abs_change, ts, source, "
        "baseline_samples, usd_change, baseline_usd, current_usd, mark_price_change_pct, "
        "window_minutes, venue, drivers FROM open_interest_alerts "
        "WHERE %s::text IS NULL OR symbol = %s ORDER BY ts DESC LIMIT %s",
        (symbol, symbol, limit),
    ).fetchall()
    return [
        OiAlertView(
            symbol=sym,
            direction=direction,
            baseline=float(baseline),
            current=float(current),
            pct_change=float(pct),
            abs_change=float(delta),
            timestamp=_iso(ts),
            source=source,
            baseline_samples=samples,
            usd_change=_float(usd),
            baseline_usd=_float(baseline_usd),
            current_usd=_float(current_usd),
            mark_price_change_pct=_float(mark_pct),
            window_minutes=_float(window),
            venue=venue,
            drivers=ABSENT if drivers is None else [_driver(d) for d in drivers],
        )
        for (
            sym,
            direction,
            baseline,
            current,
            pct,
            delta,
            ts,
            source,
            samples,
            usd,
            baseline_usd,
            current_usd,
            mark_pct,
            window,
            venue,
            drivers,
        ) in rows
    ]


def _driver(stored: dict[str, Any]) -> AlertDriverView:
    share = stored.get("share_of_change")
    return AlertDriverView(
        venue=stored["venue"],
        baseline=float(stored["baseline"]),
        current=float(stored["current"]),
        pct_change=float(stored["pct_change"]),
        share_of_change=None if share is None else float(share),
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def read_liquid_members(conn: psycopg.Connection) -> list[LiquidMember]:
    """The liquid set as the last universe update left it, by symbol."""
    rows = conn.execute(
        "SELECT symbol, quote_volume_24h::float8, extract(epoch FROM entered_at)::float8 "
        "FROM open_interest_liquid_symbols ORDER BY symbol"
    ).fetchall()
    return [LiquidMember(symbol, volume, entered_at) for symbol, volume, entered_at in rows]


def connect(uri: str) -> psycopg.Connection:
    return psycopg.connect(
        uri,
        connect_timeout=CONNECT_TIMEOUT_S,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        autocommit=True,
    )


class PostgresStore:
    """The async face of the store: each call runs on the one database thread slot."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: psycopg.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)

    async def _run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        def call() -> T:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.uri)
            try:
                return fn(self._conn)
            except psycopg.OperationalError:
                # The server went away or the link broke: start from a fresh connection.
                self._conn.close()
                self._conn = None
                raise

        return await trio.to_thread.run_sync(call, limiter=self._limiter)

    async def migrate(self) -> int:
        return await self._run(migrate)

    async def write(self, batch: WriteBatch) -> int:
        return await self._run(lambda conn: write_batch(conn, batch))

    async def recent_samples(self, since: float) -> dict[str, list[tuple[float, float, float]]]:
        return await self._run(lambda conn: recent_samples(conn, since))

    async def recent_coin(self, since: float) -> list[CoinRow]:
        return await self._run(lambda conn: recent_coin(conn, since))

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        return await self._run(lambda conn: last_alerts(conn, since, source, venue))

    async def samples(
        self, symbol: str, since: float | None, limit: int, venue: str = "binance"
    ) -> list[OiStoredSample]:
        return await self._run(lambda conn: read_samples(conn, symbol, since, limit, venue))

    async def alerts(self, symbol: str | None, limit: int) -> list[OiAlertView]:
        return await self._run(lambda conn: read_alerts(conn, symbol, limit))

    async def liquid_members(self) -> list[LiquidMember]:
        return await self._run(read_liquid_members)

    async def prepare_partitions(self, now: float, days_ahead: int) -> None:
        """Create the daily partitions from today to `days_ahead` days on, ahead of need."""
        today = utc(now).date()
        days = {today + dt.timedelta(days=k) for k in range(days_ahead + 1)}
        await self._run(lambda conn: ensure_partitions(conn, days))

    async def drop_partitions_before(self, cutoff: float) -> list[str]:
        day = utc(cutoff).date()
        return await self._run(lambda conn: drop_partitions_before(conn, day))

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await trio.to_thread.run_sync(conn.close, limiter=self._limiter)
