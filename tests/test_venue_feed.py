"""The venue feed actor against a scripted venue client, under trio's MockClock: bootstrap over
REST, stream, reconnect with backoff, REST while the stream is down, refusals, store cadence."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
import pytest
import trio

from volspike_oi.actors import venue_feed
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut, Output
from volspike_oi.messages import CoinBackfill, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import VenueStatus
from volspike_oi.venues.errors import (
    VenueRateLimited,
    VenueStreamDropped,
    VenueUnavailable,
)
from volspike_oi.venues.model import Instrument, VenueName, VenueReading

T0 = 1_764_000_000.0
BTC = Instrument("BTC-USDT-SWAP", "BTC", "linear", Decimal("0.01"))
ETH = Instrument("ETH-USDT-SWAP", "ETH", "linear", Decimal("0.1"))


def reading(inst: Instrument, contracts: int, mark: str | None = "80000") -> VenueReading:
    price = None if mark is None else Decimal(mark)
    return VenueReading(
        inst.symbol,
        inst.asset,
        Decimal(contracts),
        inst.coin(Decimal(contracts), price),
        price,
        None,
    )


@attrs.define
class ScriptedVenue:
    """A venue whose REST and stream misbehave on command. The stream pushes one reading per
    instrument every `push_every_s` with OI rising by one contract each time."""

    venue: VenueName = "okx"
    stale_after_s: float = 10.0
    fallback_interval_s: float = 2.0
    push_every_s: float = 0.5
    rest_down: bool = False
    stream_down: bool = False
    rate_limited_for_s: float = 0.0
    drop_after_s: float | None = None
    """A connection drops this long after it subscribed."""
    pushes: tuple[str, ...] | None = None
    """Only these symbols are pushed (the others change only over REST); None: all."""
    data_stops_after_s: float | None = None
    """The connection stays open (heartbeats answered) but pushes nothing after this long."""
    connects: int = 0
    connect_times: list[float] = attrs.Factory(list)
    rest_calls: int = 0
    rest_times: list[float] = attrs.Factory(list)
    level: int = 1000
    listing: dict[str, Instrument] = attrs.Factory(lambda: {BTC.symbol: BTC, ETH.symbol: ETH})

    async def instruments(self) -> Mapping[str, Instrument]:
        if self.rest_down:
            raise VenueUnavailable("HTTP 503")
        return dict(self.listing)

    async def snapshot(self, instruments: Mapping[str, Instrument]) -> Sequence[VenueReading]:
        self.rest_calls += 1
        self.rest_times.append(trio.current_time())
        if self.rest_down:
            raise VenueUnavailable("HTTP 503")
        return [reading(i, self.level) for i in instruments.values()]

    async def stream(
        self,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.connects += 1
        self.connect_times.append(trio.current_time())
        if self.rate_limited_for_s:
            hold = trio.current_time() + self.rate_limited_for_s
            self.rate_limited_for_s = 0.0
            raise VenueRateLimited(self.venue, "HTTP 429", hold)
        if self.stream_down:
            raise VenueStreamDropped("connection refused")
        task_status.started()
        opened = trio.current_time()
        async with send:
            while True:
                await trio.sleep(self.push_every_s)
                if self.stream_down or (
                    self.drop_after_s is not None
                    and trio.current_time() - opened >= self.drop_after_s
                ):
                    raise VenueStreamDropped("connection closed (1006)")
                if (
                    self.data_stops_after_s is not None
                    and trio.current_time() - opened >= self.data_stops_after_s
                ):
                    continue
                self.level += 1
                for inst in instruments.values():
                    if self.pushes is None or inst.symbol in self.pushes:
                        await send.send(reading(inst, self.level))


def state_of(feed: Feed) -> str:
    """The feed's state now (a function, so mypy does not narrow it across awaits)."""
    return feed.status.state


@attrs.define
class Feed:
    venue: ScriptedVenue
    status: VenueStatus
    live: list[OiSample]
    stored: list[OiSample]


async def start_feed(
    nursery: trio.Nursery, venue: ScriptedVenue, *, store_every_s: float = 5.0
) -> Feed:
    clock = WallClock.starting_now(T0)
    metrics = Metrics()
    status = VenueStatus(venue.venue)
    live_tx, live_rx = trio.open_memory_channel[OiSample](100_000)
    store_tx, store_rx = trio.open_memory_channel[OiSample](100_000)
    feed = Feed(venue, status, [], [])

    async def drain(rx: trio.MemoryReceiveChannel[OiSample], into: list[OiSample]) -> None:
        async for item in rx:
            into.append(item)  # noqa: PERF401 (as they come: the test reads it meanwhile)

    nursery.start_soon(drain, live_rx, feed.live)
    nursery.start_soon(drain, store_rx, feed.stored)
    await nursery.start(
        functools.partial(
            venue_feed.run,
            venue,
            status,
            FanOut[OiSample](
                "samples", [Output("web_feed", live_tx, False)], status.outputs, metrics, clock
            ),
            FanOut[OiSample](
                "samples", [Output("store_writer", store_tx, True)], status.outputs, metrics, clock
            ),
            clock,
            metrics,
            store_min_interval_s=store_every_s,
        )
    )
    return feed


async def test_rest_bootstraps_then_the_stream_delivers_in_the_unit_model(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, ScriptedVenue())
        await trio.sleep(0.1)
        first = feed.live[0]
        assert (first.venue, first.symbol, first.asset) == ("okx", "BTC-USDT-SWAP", "BTC")
        assert first.contracts == 1000
        assert first.coin == Decimal("10.00")  # 1000 contracts × 0.01 BTC: never contracts
        assert first.usd == Decimal("800000.00")
        await trio.sleep(10)
        assert state_of(feed) == "streaming"
        assert feed.status.stream_connected
        assert feed.status.stream_updates >= 2 * 19
        assert feed.status.cadence_s() == pytest.approx(0.5)
        nursery.cancel_scope.cancel()


async def test_a_dropped_stream_reconnects_with_backoff_and_rest_fills_the_gap(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue()
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(5)
        venue.stream_down = True
        await trio.sleep(30)
        assert state_of(feed) == "polling"
        assert not feed.status.stream_connected
        # Backoff 1, 2, 4, 8 … between attempts, never a tight loop.
        gaps = [b - a for a, b in itertools.pairwise(venue.connect_times[1:])]
        assert gaps == sorted(gaps)
        assert len(venue.connect_times) <= 7
        # REST every fallback interval while the stream is down: OI keeps flowing.
        during = [t for t in venue.rest_times if t > 5 + 10]
        assert len(during) >= 6
        assert feed.status.healthy(T0 + trio.current_time())
        venue.stream_down = False
        await trio.sleep(40)
        assert state_of(feed) == "streaming"
        assert feed.status.reconnects >= 1
        nursery.cancel_scope.cancel()


async def test_rest_answering_5xx_leaves_the_stream_running_and_is_retried(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue()
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(1)
        venue.rest_down = True
        before = feed.status.stream_updates
        await trio.sleep(120)
        assert feed.status.stream_updates - before >= 2 * 200  # the stream never noticed
        assert feed.status.errors >= 1
        assert "503" in feed.status.last_error
        assert state_of(feed) == "streaming"
        nursery.cancel_scope.cancel()


async def test_a_rate_limit_holds_until_the_venues_time_then_recovers_by_itself(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue(rate_limited_for_s=45.0)
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(20)
        assert feed.status.rate_limited_until == pytest.approx(T0 + 45, abs=0.1)
        assert venue.connects == 1  # nothing sent into the hold
        await trio.sleep(30)
        assert venue.connects == 2
        assert state_of(feed) == "streaming"
        nursery.cancel_scope.cancel()


async def test_instruments_unreachable_at_start_are_retried_and_the_venue_comes_up(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue(rest_down=True)
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(30)
        assert state_of(feed) == "down"
        assert feed.live == []
        venue.rest_down = False
        await trio.sleep(70)
        assert state_of(feed) == "streaming"
        assert feed.status.symbols == 2
        nursery.cancel_scope.cancel()


async def test_each_symbol_is_stored_at_most_every_interval_and_only_when_changed(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue()
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue, store_every_s=5.0)
        await trio.sleep(60.2)
        nursery.cancel_scope.cancel()
    btc = [s for s in feed.stored if s.symbol == BTC.symbol]
    # Stored at most once per 5 s of store time (a change read inside the interval is stored
    # when it ends, under the time it was read): 1 + 60 / 5 rows at most, of ~120 pushes.
    assert 11 <= len(btc) <= 13
    assert len({s.contracts for s in btc}) == len(btc)  # never an unchanged row
    live_btc = [s for s in feed.live if s.symbol == BTC.symbol]
    assert len(live_btc) >= 110  # the API and the WebSocket get every one
    assert feed.status.stored == len(feed.stored)


async def test_an_unchanged_listing_keeps_the_stream_and_a_new_one_resubscribes(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue()
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(venue_feed.INSTRUMENTS_REFRESH_S * 2 + 5)
        assert venue.connects == 1  # two refreshes, same listing: never reconnected
        venue.listing = {BTC.symbol: BTC}
        await trio.sleep(venue_feed.INSTRUMENTS_REFRESH_S)
        assert venue.connects == 2
        assert feed.status.symbols == 1
        nursery.cancel_scope.cancel()


async def test_a_stream_that_only_answers_heartbeats_is_made_again(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue(data_stops_after_s=30.0)
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(30 + venue_feed.SILENT_STREAM_FACTOR * venue.stale_after_s + 5)
        assert venue.connects == 2  # dropped once the silence passed twice the limit
        assert "no reading for 20 s" in feed.status.last_error
        nursery.cancel_scope.cancel()


async def test_a_symbol_pushed_only_on_change_is_restated_while_the_stream_is_healthy(
    autojump_clock: trio.abc.Clock,
) -> None:
    venue = ScriptedVenue(pushes=(BTC.symbol,))
    async with trio.open_nursery() as nursery:
        feed = await start_feed(nursery, venue)
        await trio.sleep(40)
        eth = [s for s in feed.live if s.symbol == ETH.symbol]
        gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(eth)]
        # Bootstrap over REST, then restated every ~half the limit (never stale at 10 s).
        assert max(gaps) <= venue.stale_after_s
        assert {s.contracts for s in eth} == {Decimal(1000)}  # the value, unchanged
        assert len([s for s in feed.stored if s.symbol == ETH.symbol]) == 1  # stored once
        nursery.cancel_scope.cancel()


async def test_history_is_read_back_once_and_a_refusal_for_rate_waits_its_hold(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls: list[tuple[str, float]] = []
    refused = {ETH.symbol}

    class WithHistory(ScriptedVenue):
        async def history(
            self, instrument: Instrument, since_ms: int
        ) -> list[tuple[float, Decimal]]:
            calls.append((instrument.symbol, trio.current_time()))
            if instrument.symbol in refused:
                refused.discard(instrument.symbol)
                raise VenueRateLimited("okx", "HTTP 429", trio.current_time() + 30)
            return [(T0 - 600.0, Decimal(5)), (T0 - 300.0, Decimal(6))]

    venue = WithHistory()
    clock = WallClock.starting_now(T0)
    metrics = Metrics()
    status = VenueStatus(venue.venue)
    backfill_tx, backfill_rx = trio.open_memory_channel[CoinBackfill](10)
    sink_tx, _sink_rx = trio.open_memory_channel[OiSample](100_000)
    out = FanOut[OiSample]("samples", [Output("x", sink_tx, False)], status.outputs, metrics, clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(
                venue_feed.run,
                venue,
                status,
                out,
                out,
                clock,
                metrics,
                store_min_interval_s=5.0,
                history=venue,
                backfill=backfill_tx,
            )
        )
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    got = {m.symbol: m.points for m in [backfill_rx.receive_nowait(), backfill_rx.receive_nowait()]}
    assert got[BTC.symbol] == ((T0 - 600.0, 5.0), (T0 - 300.0, 6.0))
    assert ETH.symbol in got  # asked again after the hold, not skipped
    eth_times = [t for s, t in calls if s == ETH.symbol]
    assert len(eth_times) == 2
    assert eth_times[1] - eth_times[0] >= 30
