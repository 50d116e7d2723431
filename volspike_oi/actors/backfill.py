"""Backfill: fill the alert baseline window so alerts work at once after any start.

A restart reloads the last hour from Postgres (`warm_start`, before the actors start). On a
first start (nothing in Postgres) the 60–30 min baseline would take half an hour to fill;
`openInterestHist` (5-minute rows, weight 0, its own 1000 requests per 5 minutes) gives the
last hour at once: `run` asks for it for the liquid set of each `UniverseUpdate`, once per
symbol that has no history yet.
"""

from __future__ import annotations

import contextlib
import logging
import math

import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.messages import (
    CoinBackfill,
    HistoryBackfill,
    OiSample,
    UniverseUpdate,
    binance_bundle,
)
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AlertState
from volspike_oi.store.protocol import StoreReader
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.binance.decode import OpenInterestHistRow
from volspike_oi.venues.binance.errors import ExchangeError

log = logging.getLogger(__name__)

ROWS = 13
"""13 five-minute rows: the last hour, both ends included."""
COVERED_IF_OLDER_THAN_S = 55 * 60
"""A symbol whose history already reaches this far back needs no backfill."""
FAILURES_BEFORE_PAUSE = 5
"""After this many failures in a row the exchange looks down: wait `PAUSE_S` before the next
symbol."""
PAUSE_S = 30.0
WARM_START_S = 65 * 60
"""Samples loaded from Postgres at start: the 60–30 min baseline window and a margin."""


def hist_sample(row: OpenInterestHistRow) -> tuple[float, float, float]:
    """(epoch seconds, contracts, mark price): the price is the row's USD value per contract,
    NaN when the row has no value (never 0)."""
    contracts = float(row.sum_open_interest)
    value = row.sum_open_interest_value
    mark = float(value) / contracts if value is not None and value > 0 < contracts else math.nan
    return row.timestamp_ms / 1000, contracts, mark


def needs_backfill(state: AlertState, symbol: str, now: float) -> bool:
    history = state.histories.get(symbol)
    if history is None or not len(history):
        return True
    oldest = next(iter(history))[0]
    return now - oldest < COVERED_IF_OLDER_THAN_S


async def run(
    client: BinanceClient,
    clock: WallClock,
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    out: trio.MemorySendChannel[HistoryBackfill],
    state: AlertState,
    metrics: Metrics,
    *,
    coin_out: trio.MemorySendChannel[CoinBackfill] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`coin_out`: the same rows in coin of the asset for the aggregator's Binance baseline
    (dropped when it is full: the aggregator then builds that baseline live)."""
    done: set[str] = set()
    task_status.started()
    async for update in universe_in:
        todo = sorted(
            s for s in update.liquid_symbols - done if needs_backfill(state, s, clock.now())
        )
        done |= update.liquid_symbols
        if todo:
            log.info("backfilling %d liquid symbols from openInterestHist", len(todo))
        failures = 0
        for symbol in todo:
            if failures >= FAILURES_BEFORE_PAUSE:
                await trio.sleep(PAUSE_S)
                failures = 0
            try:
                rows = await client.open_interest_hist(symbol, "5m", ROWS)
            except ExchangeError as exc:
                failures += 1
                log.warning("openInterestHist %s failed: %s", symbol, exc)
                continue
            failures = 0
            metrics.inc(m.BACKFILL_CALLS)
            samples = tuple(sorted(hist_sample(r) for r in rows))
            await out.send(HistoryBackfill(symbol, samples, "openInterestHist"))
            if coin_out is not None:
                asset, per_unit = binance_bundle(symbol)
                points = tuple((t, contracts * float(per_unit)) for t, contracts, _ in samples)
                with contextlib.suppress(trio.WouldBlock):
                    coin_out.send_nowait(CoinBackfill("binance", asset, symbol, points))


async def warm_start(
    store: StoreReader,
    clock: WallClock,
    out: trio.MemorySendChannel[OiSample | HistoryBackfill],
) -> None:
    """Reload the last hour of samples so alerts work at once after a restart."""
    try:
        recent = await store.recent_samples(clock.now() - WARM_START_S)
    except Exception as exc:  # the database may be down at start; the service still runs
        log.warning("warm start skipped: cannot read recent samples (%s)", exc)
        return
    for symbol, samples in recent.items():
        await out.send(HistoryBackfill(symbol, tuple(samples), "postgres"))
    log.info(
        "warm start: %d samples of %d symbols from Postgres",
        sum(map(len, recent.values())),
        len(recent),
    )
