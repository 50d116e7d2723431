"""Venue feed: one venue's open interest (any venue but Binance), pushed when it can be,
polled when it must be.

The venue's client (`venues/<venue>/client.py`, a `VenueClient`) knows the venue's wire; this
actor knows only what every push venue needs:
- the instruments, re-read every `INSTRUMENTS_REFRESH_S`; only a listing or delisting restarts
  the stream with the new set;
- a REST snapshot of every instrument at once at the start (the stream's first message may take
  seconds), then every `RECONCILE_S` (a delta stream can miss an update), and every
  `fallback_interval_s` while the stream is down or stale;
- the stream, reconnected after 1, 2, 4 … 60 s (back to 1 s after a minute connected), every
  instrument subscribed again on each connection;
- a refusal for rate (`VenueRateLimited`) holds that path until the venue's time, nothing else;
- readings become `OiSample`s for the live outputs (web feed: never waits) and, at most once per
  `OI_STORE_MIN_INTERVAL_SEC` per symbol and only when the open interest changed, for the store.
A venue that is down changes only its own `VenueStatus`: no other venue shares a task, a
budget or a buffer with it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from decimal import Decimal

import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut
from volspike_oi.messages import CoinBackfill, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import VenueStatus
from volspike_oi.throttle import StoreThrottle
from volspike_oi.venues.errors import VenueError, VenueRateLimited, VenueStreamDropped
from volspike_oi.venues.model import Instrument, VenueClient, VenueHistory, VenueReading

log = logging.getLogger(__name__)

INSTRUMENTS_REFRESH_S = 900.0
RECONCILE_S = 60.0
RECONNECT_MIN_S, RECONNECT_MAX_S = 1.0, 60.0
SILENT_STREAM_FACTOR = 2.0
"""A subscribed stream without a reading for this many times the venue's staleness limit is
made again: the REST fallback starts at one limit, a new connection at two."""
HEALTHY_CONNECTION_S = 60.0
"""A connection that lasted this long resets the reconnect backoff."""
BACKFILL_S = 3900.0
"""History read back on a first start: the 60-minute baseline window and some slack."""
MAJORS = frozenset({"BTC", "ETH"})
READINGS_BUFFER = 4096
"""Decoded readings between the venue's client and the conversion (a burst of a full REST
snapshot of ~600 symbols fits several times)."""


async def run(
    client: VenueClient,
    status: VenueStatus,
    live: FanOut[OiSample],
    store: FanOut[OiSample],
    clock: WallClock,
    metrics: Metrics,
    *,
    store_min_interval_s: float,
    history: VenueHistory | None = None,
    backfill: trio.MemorySendChannel[CoinBackfill] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`history` (the venue's history endpoint, when it has one) and `backfill` (to the
    aggregator): on the first start, each instrument's last hour is read back once."""
    venue = client.venue
    status.stale_after_s = client.stale_after_s
    silence = _Silence(SILENT_STREAM_FACTOR * client.stale_after_s)
    latest: dict[str, VenueReading] = {}
    """Each symbol's newest reading, for `restate_quiet`."""
    streamed_at: dict[str, float] = {}
    """Trio time of each symbol's newest stream reading."""
    seen_at: dict[str, float] = {}
    """Trio time of each symbol's newest reading from the venue (stream or REST)."""
    throttle: StoreThrottle[OiSample] = StoreThrottle(store_min_interval_s)
    task_status.started()

    def failed(exc: BaseException, where: str) -> None:
        status.errors += 1
        status.last_error = f"{where}: {exc}"
        status.last_error_at = clock.now()
        metrics.inc(m.venue_errors(venue))
        if isinstance(exc, VenueRateLimited):
            status.rate_limited_until = clock.now() + max(0.0, exc.hold_until - trio.current_time())

    async def wait_for(exc: VenueError, backoff_s: float) -> None:
        if isinstance(exc, VenueRateLimited):
            await trio.sleep_until(max(exc.hold_until, trio.current_time() + backoff_s))
        else:
            await trio.sleep(backoff_s)

    async def convert(readings: trio.MemoryReceiveChannel[VenueReading], via: str) -> None:
        async for reading in readings:
            now = clock.now()
            if via == "restate" and status.last_stream_message_at is not None:
                # "Unchanged as of the stream's last message": a restated value ages with the
                # stream, so a stream gone silent leaves its symbols stale on time.
                now = status.last_stream_message_at
            sample = OiSample(
                symbol=reading.symbol,
                contracts=reading.contracts,
                exchange_time_ms=reading.exchange_time_ms or int(now * 1000),
                received_at=now,
                mark_price=reading.mark_price,
                usd=reading.usd,
                source="realtime",
                venue=venue,
                asset=reading.asset,
                coin=reading.coin,
            )
            status.updates += 1
            status.last_update_at = now
            metrics.inc(m.venue_updates(venue))
            latest[reading.symbol] = reading
            if via != "restate":
                seen_at[reading.symbol] = trio.current_time()
            if via == "stream":
                status.stream_updates += 1
                status.last_stream_message_at = now
                streamed_at[reading.symbol] = trio.current_time()
                silence.arm()
            if via != "restate":  # the cadence is the venue's, not our restatements'
                previous = status.last_change_at.get(reading.symbol)
                status.last_change_at[reading.symbol] = now
                if previous is not None:
                    status.update_gaps_s.append(now - previous)
            await live.send(sample)
            if throttle.offer(reading.symbol, now, reading.contracts, sample) is not None:
                status.stored += 1
                await store.send(sample)

    async def restate_quiet(
        instruments: Mapping[str, Instrument], send: trio.MemorySendChannel[VenueReading]
    ) -> None:
        """Some venues push a value only when it changes (OKX's open-interest channel): while
        the stream is healthy, a symbol without a push for half the staleness limit is
        unchanged, and its reading is stated again so no consumer takes it for stale."""
        half = client.stale_after_s / 2
        restated_at: dict[str, float] = {}
        async with send:
            while True:
                await trio.sleep(half / 2)
                now = trio.current_time()
                # Only while the stream itself delivers (restated readings do not count): a
                # stream gone silent falls back to REST and is made again, as without this.
                if not status.stream_connected or _stale(status, clock, client):
                    continue
                for symbol, at in list(seen_at.items()):
                    if symbol not in instruments:  # delisted: never stated again
                        continue
                    if now - max(at, restated_at.get(symbol, at)) >= half:
                        restated_at[symbol] = now
                        await send.send(latest[symbol])

    async def flush_pending() -> None:
        while True:
            await trio.sleep(1.0)
            for item in throttle.due(clock.now()):
                status.stored += 1
                await store.send(item)

    async def stream_forever(instruments: Mapping[str, Instrument]) -> None:
        send, receive = trio.open_memory_channel[VenueReading](READINGS_BUFFER)
        backoff = RECONNECT_MIN_S
        restate_send, restate_receive = trio.open_memory_channel[VenueReading](READINGS_BUFFER)
        async with trio.open_nursery() as nursery, send, receive, restate_receive:
            nursery.start_soon(convert, receive.clone(), "stream")
            nursery.start_soon(convert, restate_receive.clone(), "restate")
            nursery.start_soon(restate_quiet, instruments, restate_send)
            while True:
                connected_at = trio.current_time()
                try:
                    with trio.CancelScope() as silence.scope:
                        await client.stream(
                            instruments, send.clone(), task_status=_Connected(status, silence)
                        )
                        raise VenueStreamDropped("the stream ended")
                    raise VenueStreamDropped(
                        f"no reading for {silence.limit_s:.0f} s on a connection that answers "
                        "heartbeats (subscriptions lost?)"
                    )
                except VenueError as exc:
                    failed(exc, "stream")
                    log.warning("%s: stream: %s; reconnecting in %.0f s", venue, exc, backoff)
                    status.stream_connected = False
                    status.reconnects += 1
                    metrics.inc(m.venue_reconnects(venue))
                    if trio.current_time() - connected_at >= HEALTHY_CONNECTION_S:
                        backoff = RECONNECT_MIN_S
                    await wait_for(exc, backoff)
                    backoff = min(RECONNECT_MAX_S, backoff * 2)

    async def rest_forever(instruments: Mapping[str, Instrument]) -> None:
        send, receive = trio.open_memory_channel[VenueReading](READINGS_BUFFER)
        last_snapshot = float("-inf")
        backoff = client.fallback_interval_s
        async with trio.open_nursery() as nursery, send, receive:
            nursery.start_soon(convert, receive.clone(), "rest")
            while True:
                now = trio.current_time()
                stream_ok = status.stream_connected and not _stale(status, clock, client)
                if not stream_ok or now - last_snapshot >= RECONCILE_S:
                    requested_at = trio.current_time()
                    try:
                        readings = await client.snapshot(instruments)
                    except VenueError as exc:
                        failed(exc, "REST")
                        log.warning("%s: REST snapshot: %s", venue, exc)
                        await wait_for(exc, backoff)
                        backoff = min(RECONNECT_MAX_S, backoff * 2)
                        continue
                    backoff = client.fallback_interval_s
                    last_snapshot = trio.current_time()
                    status.rest_snapshots += 1
                    for reading in readings:
                        # A value the stream delivered after the request left is newer than
                        # the answer's: the answer must not put the older one back.
                        if streamed_at.get(reading.symbol, float("-inf")) < requested_at:
                            await send.send(reading)
                _set_state(status, clock, client)
                await trio.sleep(client.fallback_interval_s)

    async def instruments_until_read() -> Mapping[str, Instrument]:
        backoff = RECONNECT_MIN_S
        while True:
            try:
                return await client.instruments()
            except VenueError as exc:
                failed(exc, "instruments")
                if status.state == "starting":
                    status.state = "down"
                log.warning("%s: instruments: %s; retrying in %.0f s", venue, exc, backoff)
                await wait_for(exc, backoff)
                backoff = min(RECONNECT_MAX_S, backoff * 2)

    async def until_listing_changes(
        instruments: Mapping[str, Instrument], scope: trio.CancelScope
    ) -> None:
        """Re-read the instruments every INSTRUMENTS_REFRESH_S; a listing or delisting restarts
        the stream (subscriptions follow the new set), an unchanged list changes nothing."""
        while True:
            await trio.sleep(INSTRUMENTS_REFRESH_S)
            fresh = await instruments_until_read()
            if fresh != instruments:
                log.info("%s: instruments changed (%d → %d)", venue, len(instruments), len(fresh))
                scope.cancel()
                return

    async def backfill_once(instruments: Mapping[str, Instrument]) -> None:
        """The last hour of every instrument, BTC and ETH first, paced by the venue's own
        limiter beside the live feed. A refusal for rate waits out its hold and asks again (at
        most twice per symbol); any other failure skips that symbol."""
        assert history is not None
        assert backfill is not None
        since_ms = int((clock.now() - BACKFILL_S) * 1000)
        order = sorted(instruments.values(), key=lambda i: (i.asset not in MAJORS, i.symbol))
        sent = 0
        for inst in order:
            points: list[tuple[float, Decimal]] = []
            for attempt in range(3):
                try:
                    points = await history.history(inst, since_ms)
                    break
                except VenueRateLimited as exc:
                    if attempt == 2:
                        log.info("%s: no history for %s (%s)", venue, inst.symbol, exc)
                        break
                    await trio.sleep_until(exc.hold_until)
                except VenueError as exc:
                    log.info("%s: no history for %s (%s)", venue, inst.symbol, exc)
                    break
            if points:
                message = CoinBackfill(
                    venue, inst.asset, inst.symbol, tuple((t, float(c)) for t, c in points)
                )
                with contextlib.suppress(trio.WouldBlock):
                    backfill.send_nowait(message)
                    sent += 1
        log.info("%s: history read back for %d of %d instruments", venue, sent, len(order))

    async with trio.open_nursery() as root:
        root.start_soon(flush_pending)
        first = True
        while True:
            instruments = await instruments_until_read()
            if first and history is not None and backfill is not None:
                root.start_soon(backfill_once, instruments)
            first = False
            status.symbols = len(instruments)
            log.info("%s: %d perpetuals tracked", venue, len(instruments))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(rest_forever, instruments)
                nursery.start_soon(stream_forever, instruments)
                nursery.start_soon(until_listing_changes, instruments, nursery.cancel_scope)


class _Connected:
    """The stream's `task_status`: subscribed means connected, and the silence watch starts."""

    def __init__(self, status: VenueStatus, silence: _Silence) -> None:
        self.status, self.silence = status, silence

    def started(self, value: None = None) -> None:
        self.status.stream_connected = True
        self.silence.arm()


class _Silence:
    """A connection's cancel scope whose deadline every reading pushes on. A venue client
    raises on a silent socket, but pongs and heartbeats keep a socket talking while the data
    has stopped (subscriptions dropped after a venue's maintenance, a stalled engine): past
    `limit_s` without a reading the connection is dropped and made again."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.scope = trio.CancelScope()

    def arm(self) -> None:
        self.scope.deadline = trio.current_time() + self.limit_s


def _stale(status: VenueStatus, clock: WallClock, client: VenueClient) -> bool:
    last = status.last_stream_message_at
    return last is None or clock.now() - last > client.stale_after_s


def _set_state(status: VenueStatus, clock: WallClock, client: VenueClient) -> None:
    now = clock.now()
    if status.stream_connected and not _stale(status, clock, client):
        status.state = "streaming"
    elif status.healthy(now):
        status.state = "polling"
    elif status.state != "starting" or status.errors:
        status.state = "down"
