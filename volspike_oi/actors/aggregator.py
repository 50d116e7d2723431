"""Aggregator: every asset summed across venues, live, and the alerts no single venue shows.

Every venue's readings (Binance's polls and the push venues' streams) arrive here without ever
holding a venue back (fanout: dropped and counted when this falls behind). Each second the
assets whose readings changed (or went stale) get a new total (`aggregate.AssetBook`), pushed
to WebSocket clients of the `assets` channel in one message. Every `SAMPLE_EVERY_S` each
asset's per-venue coin enters its history, its total the last hour's series, and the asset is
judged by the per-symbol alert rules on its total coin over the venues present both in the
baseline window and now (`aggregate.evaluate_asset`); a fired verdict is an `OiAlert` with
venue "all", sent where the per-symbol alerts go.

Staleness per venue: a push venue's own limit (`VenueStatus.stale_after_s`); Binance's is
`BINANCE_STALE_S`, since most of its perps are read only every 5 minutes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping

import trio

from volspike_oi.aggregate import (
    AGGREGATE_VENUE,
    SAMPLE_EVERY_S,
    AggregateVerdict,
    evaluate_asset,
    restored_fired,
)
from volspike_oi.alerts import AlertRules
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut
from volspike_oi.messages import ALERT_SOURCE, AlertDriver, CoinBackfill, OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AssetState, VenueStatus
from volspike_oi.store.protocol import StoreReader
from volspike_oi.views import asset_summary_view
from volspike_oi.web.hub import Hub
from volspike_oi.wire import to_json

log = logging.getLogger(__name__)

BINANCE_STALE_S = 660.0
"""Two 5-minute coverage rounds and a minute of slack: a Binance perp outside the liquid set is
read every 300 s, so a shorter limit would drop Binance from most assets between two reads."""
PUSH_EVERY_S = 1.0
MIN_VENUES = 2
"""An aggregate alert needs this many venues summed: a move on one venue alone is that venue's
symbol's alert (Binance's evaluator raises it), not news across venues."""
SERIES_POINTS = int(3600 / SAMPLE_EVERY_S) + 1
"""The last hour of totals at one point per sample interval."""
GATE_LOOKBACK_S = 24 * 3600.0
FORGET_AFTER_LIMITS = 10.0
"""A venue-symbol silent for this many times its venue's staleness limit is forgotten (a
delisting, a symbol left behind): its asset then names the venue missing, not stale forever."""
FORGET_EVERY_S = 60.0


async def run(
    samples_in: trio.MemoryReceiveChannel[OiSample],
    state: AssetState,
    venues: Mapping[str, VenueStatus],
    binance_enabled: bool,
    alerts: FanOut[OiAlert] | None,
    hub: Hub | None,
    clock: WallClock,
    metrics: Metrics,
    *,
    rules: AlertRules,
    store: StoreReader | None = None,
    backfill_in: trio.MemoryReceiveChannel[CoinBackfill] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`alerts` None: totals only (OI_ALERTS_ENABLED=false); `hub` None: no HTTP;
    `backfill_in`: venues' history read back on a first start."""

    def limits() -> dict[str, float]:
        out = {name: v.stale_after_s for name, v in venues.items()}
        if binance_enabled:
            out["binance"] = BINANCE_STALE_S
        state.stale_after_s = out
        return out

    if store is not None and not state.warm_started:
        await _warm_start(state, store, clock, rules)
    if store is not None and alerts is not None and not state.gate_restored:
        await _restore_gate(state, store, clock, rules)

    async def take() -> None:
        async for sample in samples_in:
            if sample.coin is None:
                continue
            state.book.record(
                sample.venue,
                sample.symbol,
                sample.asset,
                float(sample.coin),
                None if sample.usd is None else float(sample.usd),
                sample.received_at,
            )

    def forget_silent(now: float, stale: Mapping[str, float]) -> None:
        for asset in state.book.assets():
            for r in state.book.readings(asset):
                limit = stale.get(r.venue)
                if limit is None or now - r.at > FORGET_AFTER_LIMITS * limit:
                    state.book.forget(r.venue, r.symbol)

    async def push_totals() -> None:
        tick = trio.current_time()
        forgot_at = tick
        while True:
            # On a fixed beat: the work of one tick does not push the next one later.
            tick += PUSH_EVERY_S
            await trio.sleep_until(max(tick, trio.current_time()))
            now, stale = clock.now(), limits()
            if trio.current_time() - forgot_at >= FORGET_EVERY_S:
                forgot_at = trio.current_time()
                forget_silent(now, stale)
            changed = state.book.take_changed(now, stale)
            for asset in changed:
                total = state.book.total(asset, now, stale)
                if total is not None and (total.venues or total.stale):
                    state.totals[asset] = total
                else:  # listed nowhere any more
                    state.totals.pop(asset, None)
            if hub is not None and changed and hub.wants("assets"):
                rows = [
                    to_json(asset_summary_view(state.totals[a], state.series.get(a), now))
                    for a in changed
                    if a in state.totals
                ]
                if rows:
                    hub.publish("assets", "asset_totals", rows)

    async def sample_and_judge() -> None:
        while True:
            await trio.sleep(SAMPLE_EVERY_S)
            now = clock.now()
            for asset, total in list(state.totals.items()):
                state.history.offer_total(total, now)
                if total.venues:
                    series = state.series.setdefault(asset, deque(maxlen=SERIES_POINTS))
                    series.append((now, total.coin, total.usd))
                if alerts is None:
                    continue
                verdict = evaluate_asset(
                    asset,
                    now,
                    total.current(),
                    state.history.baseline_windows(asset, now, rules),
                    rules,
                    state.gate,
                    min_venues=MIN_VENUES,
                )
                state.verdicts[verdict.verdict] = state.verdicts.get(verdict.verdict, 0) + 1
                if verdict.fired:
                    alert = _alert(verdict)
                    log.info(
                        "aggregate %s %s %+.2f%% over %s",
                        alert.symbol,
                        alert.direction,
                        alert.pct_change * 100,
                        ", ".join(verdict.venues),
                    )
                    await alerts.send(alert)

    async def take_backfill(channel: trio.MemoryReceiveChannel[CoinBackfill]) -> None:
        async for message in channel:
            # Only samples older than the oldest held are merged in front, so a history restored
            # from the store or already sampled live is completed, never doubled.
            state.history.backfill(message.asset, message.venue, message.points)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take)
        if backfill_in is not None:
            nursery.start_soon(take_backfill, backfill_in)
        nursery.start_soon(push_totals)
        nursery.start_soon(sample_and_judge)
        task_status.started()


def _alert(verdict: AggregateVerdict) -> OiAlert:
    """A fired verdict as an alert under venue "all" (a fired verdict has a move and a base)."""
    move = verdict.move
    assert move is not None
    assert move.direction is not None
    assert verdict.baseline is not None
    price = verdict.price
    return OiAlert(
        symbol=verdict.asset,
        direction=move.direction,
        baseline=verdict.baseline,
        current=move.current,
        pct_change=move.pct_change,
        abs_change=move.abs_change,
        timestamp=verdict.at,
        baseline_samples=verdict.baseline_samples,
        usd_change=verdict.usd_change,
        source=ALERT_SOURCE,
        baseline_usd=None if price is None else verdict.baseline * price,
        current_usd=None if price is None else move.current * price,
        venue=AGGREGATE_VENUE,
        drivers=tuple(
            AlertDriver(c.venue, c.base, c.now, c.pct_change, c.share_of_change)
            for c in verdict.changes
        ),
    )


async def _warm_start(
    state: AssetState, store: StoreReader, clock: WallClock, rules: AlertRules
) -> None:
    """The last hour of every (asset, venue)'s coin from the stored readings, so aggregate
    alerts work at once after a restart. A venue listing an asset under several symbols
    (Deribit's BTC-PERPETUAL and BTC_USDC-PERPETUAL) is summed over its symbols' latest values
    as the rows come, as the live book does."""
    try:
        rows = await store.recent_coin(clock.now() - rules.baseline_from_s - 60.0)
    except Exception as exc:  # the database may be down at start: the history rebuilds live
        log.warning("aggregate history not restored (%s): it rebuilds from now", exc)
        return
    latest: dict[tuple[str, str], dict[str, tuple[float, float | None]]] = {}
    for venue, asset, symbol, t, coin, usd in rows:
        symbols = latest.setdefault((asset, venue), {})
        symbols[symbol] = (coin, usd)
        usds = [u for _, u in symbols.values()]
        total_usd = None if any(u is None for u in usds) else sum(u for u in usds if u is not None)
        state.history.offer(asset, venue, t, sum(c for c, _ in symbols.values()), total_usd)
    state.warm_started = True
    log.info("aggregate history restored: %d rows, %d (asset, venue) pairs", len(rows), len(latest))


async def _restore_gate(
    state: AssetState, store: StoreReader, clock: WallClock, rules: AlertRules
) -> None:
    """Each asset's last aggregate alert of the last day holds its direction, as after a
    per-symbol restart: a move already alerted is not alerted again."""
    try:
        stored = await store.last_alerts(clock.now() - GATE_LOOKBACK_S, ALERT_SOURCE, "all")
    except Exception as exc:  # the database may be down at start: an empty gate, said so
        log.warning("aggregate alert gate not restored (%s): it starts empty", exc)
        return
    for alert in stored:
        state.gate.restore(
            alert.symbol,
            alert.direction,
            restored_fired(alert.direction, alert.pct_change, alert.timestamp, rules),
        )
    state.gate_restored = True
    log.info("aggregate alert gate restored: %d assets", len({a.symbol for a in stored}))
