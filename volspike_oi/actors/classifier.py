"""Liquidity classifier: one `ticker/24hr` call (all symbols, weight 40) per refresh.

Applies the hysteresis of `universe.classify` to the tracked perpetuals and sends a
`UniverseUpdate` to every subscriber (the OI poller first). A new set of tracked perpetuals is
classified at once, so a symbol that stops trading leaves every downstream set without waiting
for the next refresh. After a restart it starts from the stored liquid set (`seed`), so a symbol
between the exit and enter thresholds keeps its membership and its `entered_at`, and one that
has fallen below the exit threshold meanwhile leaves with an exit event.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import trio

from volspike_oi.clock import WallClock
from volspike_oi.messages import LiquidMember, TrackedPerpetuals, UniverseUpdate
from volspike_oi.universe import Thresholds, classify
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.binance.errors import ExchangeError

log = logging.getLogger(__name__)

RETRY_S = 15.0


async def run(
    client: BinanceClient,
    clock: WallClock,
    tracked_in: trio.MemoryReceiveChannel[TrackedPerpetuals],
    outs: list[trio.MemorySendChannel[UniverseUpdate]],
    *,
    thresholds: Thresholds,
    refresh_s: float,
    liquidity_enabled: bool = True,
    seed: Sequence[LiquidMember] = (),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    tracked: frozenset[str] | None = None
    # With the liquidity job off there is no liquid set to keep: the flag means none at all.
    members = {m.symbol: m for m in seed} if liquidity_enabled else {}
    volumes: dict[str, float] = {}
    next_ticker_at = -math.inf
    while True:
        # Wait for a new tracked set or the next ticker refresh, whichever comes first.
        with trio.move_on_at(
            clock.trio_time_at(next_ticker_at) if tracked is not None else math.inf
        ):
            update = await tracked_in.receive()
            tracked = update.symbols
            if volumes or not liquidity_enabled:
                await _publish(clock, tracked, volumes, members, thresholds, outs)
            continue
        assert tracked is not None
        if not liquidity_enabled:
            # Feature flag off: pass the tracked set on with no liquid members, no ticker calls.
            next_ticker_at = math.inf
            continue
        try:
            rows = await client.ticker_24h_all()
        except ExchangeError as exc:
            log.warning("ticker/24hr failed (%s); retrying in %.0f s", exc, RETRY_S)
            next_ticker_at = clock.now() + RETRY_S
            continue
        volumes = {row.symbol: float(row.quote_volume) for row in rows}
        next_ticker_at = clock.now() + refresh_s
        await _publish(clock, tracked, volumes, members, thresholds, outs)


async def _publish(
    clock: WallClock,
    tracked: frozenset[str],
    volumes: dict[str, float],
    members: dict[str, LiquidMember],
    thresholds: Thresholds,
    outs: list[trio.MemorySendChannel[UniverseUpdate]],
) -> None:
    now = clock.now()
    result = classify(frozenset(members), volumes, tracked, thresholds)
    for symbol in result.exited:
        del members[symbol]
    for symbol in result.members:
        volume = volumes.get(symbol, members[symbol].quote_volume_24h if symbol in members else 0.0)
        entered_at = members[symbol].entered_at if symbol in members else now
        members[symbol] = LiquidMember(symbol, volume, entered_at)
    if result.entered or result.exited:
        log.info(
            "liquid universe: %d of %d tracked (+%d -%d)",
            len(members),
            len(tracked),
            len(result.entered),
            len(result.exited),
        )
    update = UniverseUpdate(
        tracked=tracked,
        liquid=tuple(members[s] for s in sorted(members)),
        entered=result.entered,
        exited=result.exited,
        thresholds=thresholds,
        classified_at=now,
        quote_volume_24h={s: volumes[s] for s in tracked if s in volumes},
    )
    for out in outs:
        await out.send(update)
