"""The aggregator actor under trio's MockClock: readings of every venue in, live totals to the
`assets` WebSocket channel, one aggregate alert (venue "all") for a build-up spread over three
venues, stale venues named, and the gate restored from stored aggregate alerts."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from decimal import Decimal

import attrs
import trio

from tests.fakes import EmptyStore
from volspike_oi.actors import aggregator
from volspike_oi.alerts import AlertRules
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut, Output
from volspike_oi.messages import ALERT_SOURCE, OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AssetState, VenueStatus
from volspike_oi.store.protocol import CoinRow
from volspike_oi.web.hub import Hub

T0 = 1_764_000_000.0
RULES = AlertRules()
SYMBOLS = {"binance": "WIFUSDT", "bybit": "WIFUSDT", "okx": "WIF-USDT-SWAP"}
COIN = {"binance": 1_400_000.0, "bybit": 1_200_000.0, "okx": 1_000_000.0}
BUILD_UP = {"binance": 0.07, "bybit": 0.06, "okx": 0.052}
"""Issue 12's scenario: the total builds up +6.2 %, no venue alone passes the USD minimum."""


def coin_at(venue: str, s: float) -> float:
    """Flat for an hour, then the venue's build-up over ten minutes, then flat."""
    progress = min(max((s - 3600) / 600, 0.0), 1.0)
    return COIN[venue] * (1 + BUILD_UP[venue] * progress)


def wif(venue: str, coin: float, at: float, price: float = 2.0) -> OiSample:
    return OiSample(
        symbol=SYMBOLS[venue],
        contracts=Decimal(str(coin)),
        exchange_time_ms=int(at * 1000),
        received_at=at,
        mark_price=Decimal(str(price)),
        usd=Decimal(str(coin * price)),
        source="realtime",
        venue=venue,  # type: ignore[arg-type]
        asset="WIF",
        coin=Decimal(str(coin)),
    )


@attrs.define
class Running:
    state: AssetState
    samples: trio.MemorySendChannel[OiSample]
    alerts: list[OiAlert]
    hub: Hub
    clock: WallClock


async def start(
    nursery: trio.Nursery, store: EmptyStore | None = None, stale_s: float = 30.0
) -> Running:
    clock = WallClock.starting_now(T0)
    state = AssetState()
    venues = {v: VenueStatus(v, stale_after_s=stale_s) for v in ("bybit", "okx")}
    samples_tx, samples_rx = trio.open_memory_channel[OiSample](10_000)
    alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](100)
    running = Running(state, samples_tx, [], Hub(), clock)

    async def keep(rx: trio.MemoryReceiveChannel[OiAlert]) -> None:
        async for alert in rx:
            running.alerts.append(alert)

    nursery.start_soon(keep, alerts_rx)
    metrics = Metrics()
    await nursery.start(
        functools.partial(
            aggregator.run,
            samples_rx,
            state,
            venues,
            True,
            FanOut[OiAlert](
                "alerts", [Output("test", alerts_tx, True)], state.outputs, metrics, clock
            ),
            running.hub,
            clock,
            metrics,
            rules=RULES,
            store=store,
        )
    )
    return running


async def feed(running: Running, seconds: float, coin: Callable[[str, float], float]) -> None:
    """Every venue reports every 5 s for `seconds`."""
    start = trio.current_time()
    while trio.current_time() - start < seconds:
        s = running.clock.now() - T0
        for venue in SYMBOLS:
            await running.samples.send(wif(venue, coin(venue, s), running.clock.now()))
        await trio.sleep(5)


async def test_a_build_up_spread_over_three_venues_gives_one_alert_naming_them(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        running = await start(nursery)
        await feed(running, 2 * 3600, coin_at)
        nursery.cancel_scope.cancel()
    assert len(running.alerts) == 1, running.alerts
    [alert] = running.alerts
    assert (alert.venue, alert.symbol, alert.direction) == ("all", "WIF", "UP")
    assert alert.source == ALERT_SOURCE
    assert {d.venue for d in alert.drivers} == {"binance", "bybit", "okx"}
    assert alert.pct_change >= RULES.spike_pct
    assert alert.usd_change is not None
    assert alert.usd_change >= RULES.min_delta_usd
    assert running.state.verdicts["fired"] == 1


async def test_totals_reach_assets_subscribers_and_a_silent_venue_is_named_stale(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        running = await start(nursery, stale_s=30.0)
        client, inbox = running.hub.subscribe()
        client.channels = frozenset({"assets"})
        await feed(running, 30, coin_at)
        message = json.loads(inbox.receive_nowait())
        assert message["event"] == "asset_totals"
        [row] = message["data"]
        assert (row["asset"], row["venues"], row["stale"]) == ("WIF", 3, [])
        assert row["coin"] == sum(COIN.values())

        def without_okx(venue: str, s: float) -> float:
            return coin_at(venue, s) if venue != "okx" else float("nan")

        start_at = trio.current_time()
        while "okx" not in running.state.totals["WIF"].stale:
            for venue in ("binance", "bybit"):
                await running.samples.send(wif(venue, COIN[venue], running.clock.now()))
            await trio.sleep(1)
        total = running.state.totals["WIF"]
        assert trio.current_time() - start_at <= 30 + 2  # its limit, plus a push tick
        assert {p.venue for p in total.venues} == {"binance", "bybit"}
        assert total.coin == COIN["binance"] + COIN["bybit"]  # never counted at an old value
        nursery.cancel_scope.cancel()


def stored_hour() -> list[CoinRow]:
    """The hour before the restart as the store has it: flat for 40 minutes, then the
    build-up's level (every venue every 10 s)."""
    rows: list[CoinRow] = []
    for step in range(360):
        t = T0 - 3600 + step * 10
        s = 3600 + (600 if step >= 240 else 0)  # coin_at's clock: before or after the build-up
        for venue, symbol in SYMBOLS.items():
            coin = coin_at(venue, s)
            rows.append((venue, "WIF", symbol, t, coin, coin * 2.0))
    return rows


class Restarted(EmptyStore):
    def __init__(self, alerted: bool) -> None:
        self.alerted = alerted

    async def recent_coin(self, since: float) -> list[CoinRow]:
        return [r for r in stored_hour() if r[3] >= since]

    async def last_alerts(self, since: float, source: str, venue: str = "binance") -> list[OiAlert]:
        if venue != "all" or not self.alerted:
            return []
        return [OiAlert("WIF", "UP", 3.6e6, 3.82e6, 0.062, 2.2e5, T0 - 900, 180, venue="all")]


async def test_after_a_restart_the_stored_alert_holds_the_move_it_already_reported(
    autojump_clock: trio.abc.Clock,
) -> None:
    after = functools.partial(coin_at, s=3600 + 600)
    for alerted, expected in ((True, 0), (False, 1)):
        async with trio.open_nursery() as nursery:
            running = await start(nursery, store=Restarted(alerted))
            assert running.state.warm_started
            assert running.state.gate_restored
            await feed(running, 20 * 60, lambda venue, _s: after(venue))
            nursery.cancel_scope.cancel()
        # Without the restored alert the same move is alerted again: the history came back.
        assert len(running.alerts) == expected, (alerted, running.alerts)
