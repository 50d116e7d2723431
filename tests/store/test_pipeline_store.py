"""The service with its Postgres store on the real clock: outages lose nothing, restarts are warm.

Real Postgres (embedded), real clock: the database work runs in a worker thread, which
MockClock would jump over (trio-stack-facts §2e).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import trio

from tests.conftest import START_MS, count_rows
from tests.service_harness import NO_STREAM, start_stack, wait_until
from volspike_oi import metrics as m
from volspike_oi.sim.binance import BinanceSim, SimSettings
from volspike_oi.store.database import PostgresStore, connect
from volspike_oi.store.schema import ensure_partitions, migrate
from volspike_oi.store.server import EmbeddedPostgres


def stored_rows(uri: str) -> int:
    return count_rows(uri, "open_interest_snapshots")


async def test_a_60_s_database_outage_loses_no_sample_and_doubles_none(
    pg_server: EmbeddedPostgres, pg_uri: str, pg_store: PostgresStore
):
    produced = 0
    async with trio.open_nursery() as nursery:
        stack = await start_stack(nursery, sim={"symbols": 120}, env=NO_STREAM, store=pg_store)
        await trio.sleep(5)
        await trio.to_thread.run_sync(pg_server.kill)
        await trio.sleep(60)
        assert stack.service.writer.down_since is not None
        assert stack.service.writer.buffered > 1000
        await trio.to_thread.run_sync(pg_server.restart)
        writer = stack.service.writer
        await wait_until(lambda: writer.down_since is None and writer.buffered < 100, 60)
        nursery.cancel_scope.cancel()  # shutdown flushes what is still buffered
    produced = sum(len(v) for v in stack.recorder.samples.values())
    assert produced > 1000
    assert stack.service.writer.dropped == 0
    assert stored_rows(pg_uri) == produced


def store_an_hour_12_pct_lower(pg_uri: str, symbol: str) -> None:
    """The hour before the simulator's start, 12 % under what it will show for `symbol`."""
    probe = BinanceSim(SimSettings(start_ms=START_MS, symbols=120))
    current = probe.market.symbols[symbol].open_interest
    with connect(pg_uri) as conn:
        migrate(conn)
        ensure_partitions(conn, {dt.datetime.fromtimestamp(START_MS / 1000, tz=dt.UTC).date()})
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY open_interest_snapshots (symbol, ts, open_interest, source) FROM STDIN"
            ) as copy,
        ):
            for k in range(360):
                ts = dt.datetime.fromtimestamp(START_MS / 1000 - 3600 + 10 * k, tz=dt.UTC)
                copy.write_row((symbol, ts, round(current / 1.12, 3), "realtime"))
        conn.execute("SELECT 1")


async def test_a_restarted_service_can_alert_at_once_from_stored_history_and_not_twice(
    pg_uri: str,
):
    symbol = "LINKUSDT"
    store_an_hour_12_pct_lower(pg_uri, symbol)
    store = PostgresStore(pg_uri)
    async with trio.open_nursery() as nursery:
        stack = await start_stack(nursery, sim={"symbols": 120}, env=NO_STREAM, store=store)
        await wait_until(lambda: any(a.symbol == symbol for a in stack.recorder.alerts), 30)
        await trio.sleep(2)  # let the writer store the alert
        nursery.cancel_scope.cancel()
    [alert] = [a for a in stack.recorder.alerts if a.symbol == symbol]
    assert alert.direction == "UP"
    assert 0.11 < alert.pct_change < 0.13
    assert alert.baseline_samples >= 3
    with psycopg.connect(pg_uri) as conn:
        rows = conn.execute("SELECT symbol, direction FROM open_interest_alerts").fetchall()
    assert rows == [(symbol, "UP")]

    # Issue 10: another restart restores the alert gate from the store. LINK's +12 % is still
    # over the threshold, but it was alerted: held (cooldown), not alerted again.
    async with trio.open_nursery() as nursery:
        again = await start_stack(nursery, sim={"symbols": 120}, env=NO_STREAM, store=store)
        held = m.alerts_suppressed("cooldown")
        await wait_until(lambda: again.service.metrics.get(held) >= 1, 30)
        nursery.cancel_scope.cancel()
    assert again.recorder.alerts == []
    with psycopg.connect(pg_uri) as conn:
        assert conn.execute("SELECT count(*) FROM open_interest_alerts").fetchone() == (1,)
    await store.aclose()


async def test_a_first_start_on_an_empty_database_backfills_the_baseline(
    pg_uri: str, pg_store: PostgresStore
):
    async with trio.open_nursery() as nursery:
        stack = await start_stack(nursery, sim={"symbols": 40}, env=NO_STREAM, store=pg_store)
        service = stack.service
        await wait_until(lambda: service.status.universe is not None, 10)
        assert service.status.universe is not None
        liquid = service.status.universe.liquid_symbols
        await wait_until(lambda: service.metrics.get(m.BACKFILL_CALLS) >= len(liquid), 30)
        nursery.cancel_scope.cancel()
    start = START_MS / 1000
    for symbol in liquid:
        oldest = next(iter(service.alerts.histories[symbol]))[0]
        assert oldest <= start - 55 * 60  # the 60–30 min baseline window is covered at once
    assert stored_rows(pg_uri) > 0
