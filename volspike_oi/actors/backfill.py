"""Backfill: fill the alert baseline window of liquid symbols that have no history yet.

On a first start (nothing in Postgres) the 60–30 min baseline would take half an hour to fill;
`openInterestHist` (5-minute rows, weight 0, its own 1000 requests per 5 minutes) gives the
last hour at once. Runs for the liquid set of each `UniverseUpdate`, once per symbol.
"""

from __future__ import annotations

import logging

import trio

from volspike_oi import metrics as m
from volspike_oi.actors.alert_evaluator import AlertState
from volspike_oi.clock import WallClock
from volspike_oi.venues.binance.client import BinanceClient, ExchangeError
from volspike_oi.venues.binance.decode import DecodeError, OpenInterestHistRow, decode_list
from volspike_oi.messages import HistoryBackfill, UniverseUpdate
from volspike_oi.metrics import Metrics

log = logging.getLogger(__name__)

ROWS = 13
"""13 five-minute rows: the last hour, both ends included."""
COVERED_IF_OLDER_THAN_S = 55 * 60
FAILURES_BEFORE_PAUSE = 5
PAUSE_S = 30.0
"""After this many failures in a row the exchange looks down: wait before the next symbol."""
"""A symbol whose history already reaches this far back needs no backfill."""


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
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
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
                doc = await client.open_interest_hist(symbol, "5m", ROWS)
                rows = decode_list(doc, OpenInterestHistRow, "openInterestHist")
            except (ExchangeError, DecodeError) as exc:
                failures += 1
                log.warning("openInterestHist %s failed: %s", symbol, exc)
                continue
            failures = 0
            metrics.inc(m.BACKFILL_CALLS)
            samples = tuple(
                sorted((r.timestamp_ms / 1000, float(r.sum_open_interest)) for r in rows)
            )
            await out.send(HistoryBackfill(symbol, samples, "openInterestHist"))
