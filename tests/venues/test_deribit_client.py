"""`DeribitClient` against the Deribit simulator.

Rules: `instruments` keeps active perpetuals only (inverse BTC/ETH and the USDC-linear ones);
`snapshot` reads every instrument in one call per currency; a refusal (HTTP 429 / 10028) raises
`VenueRateLimited` at once and holds the limiter, and nothing is sent while it holds; 5xx,
timeouts and cut bodies are retried, then raise `VenueUnavailable`. The stream subscribes,
answers the server's heartbeat test requests, sends a reading per ticker push, and raises
`VenueStreamDropped` when the connection drops or goes silent past `stale_after_s`.

REST goes through the in-process transport under `autojump_clock`. The stream runs either over
an in-memory WebSocket driven by the simulator's own `WsSession` (mock clock: heartbeats over
simulated minutes), or against the simulator served on 127.0.0.1:<free port> (real clock, short).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from volspike_oi.sim.deribit import WS_PATH, DeribitSim, WsSession, serve
from volspike_oi.sim.deribit.exchange import TICK_MS
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.transport import InProcessTransport
from volspike_oi.venues.deribit import DeribitClient
from volspike_oi.venues.deribit.client import ATTEMPTS, REFUSAL_HOLD_S
from volspike_oi.venues.errors import (
    VenueError,
    VenueRateLimited,
    VenueStreamDropped,
    VenueUnavailable,
)
from volspike_oi.venues.model import Instrument, VenueClient, VenueReading

CLIENT_TIMEOUT = httpx.Timeout(5.0)
START_MS = 1_796_000_000_000
"""A fixed simulated epoch (2026-11-30), so every run sees the same market."""


@asynccontextmanager
async def client_on(
    sim: DeribitSim, **kwargs: Any
) -> AsyncIterator[tuple[DeribitClient, httpx.AsyncClient]]:
    async with httpx.AsyncClient(transport=InProcessTransport(sim), timeout=CLIENT_TIMEOUT) as http:
        yield (
            DeribitClient(http, "http://deribit.sim", "ws://deribit.sim" + WS_PATH, **kwargs),
            http,
        )


def test_the_client_is_a_venue_client() -> None:
    def accepts(client: VenueClient) -> str:
        return client.venue

    client = DeribitClient(httpx.AsyncClient(), "http://x", "ws://x")
    assert accepts(client) == "deribit"
    assert 0 < client.fallback_interval_s < client.stale_after_s * 2


# -- REST ----------------------------------------------------------------------------------


async def test_instruments_are_the_active_perpetuals_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    async with client_on(sim) as (client, _):
        instruments = await client.instruments()
    assert instruments["BTC-PERPETUAL"] == Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))
    assert instruments["ETH-PERPETUAL"].kind == "inverse"
    assert instruments["ETH_USDC-PERPETUAL"] == Instrument(
        "ETH_USDC-PERPETUAL", "ETH", "linear", Decimal(1)
    )
    assert all(s.endswith("-PERPETUAL") for s in instruments)  # no dated futures
    expected = [n for n in sim.market.instruments if n.endswith("-PERPETUAL")]
    assert sorted(instruments) == sorted(expected)
    assert sim.stats.requests == 3  # BTC, ETH, USDC


async def test_snapshot_reads_every_instrument_in_one_call_per_currency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    async with client_on(sim) as (client, _):
        instruments = await client.instruments()
        readings = await client.snapshot(instruments)
    assert sorted(r.symbol for r in readings) == sorted(instruments)
    assert sim.stats.requests == 6
    btc = next(r for r in readings if r.symbol == "BTC-PERPETUAL")
    assert btc.mark_price is not None
    assert btc.coin == btc.contracts / btc.mark_price  # inverse: USD / mark
    assert 5_000 < btc.coin < 30_000
    eth_usdc = next(r for r in readings if r.symbol == "ETH_USDC-PERPETUAL")
    assert eth_usdc.coin == eth_usdc.contracts  # linear: coin as reported
    assert eth_usdc.exchange_time_ms == sim.clock.start_epoch_ms + int(
        (trio.current_time() - sim.clock.start_trio) * 1000
    )


async def test_refusal_raises_rate_limited_and_nothing_is_sent_while_held(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sim.rate_limit(2)
    async with client_on(sim) as (client, _):
        instruments = {"BTC-PERPETUAL": Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))}
        with pytest.raises(VenueRateLimited) as caught:
            await client.snapshot(instruments)
        assert caught.value.hold_until == pytest.approx(trio.current_time() + REFUSAL_HOLD_S)
        assert client.limiter.held(trio.current_time())
        assert (sim.stats.requests, sim.stats.refused_rate) == (1, 1)
        with trio.move_on_after(REFUSAL_HOLD_S - 0.5):
            await client.snapshot(instruments)
        assert sim.stats.requests == 1  # waited on the hold, sent nothing
        readings = await client.snapshot(instruments)
    assert [r.symbol for r in readings] == ["BTC-PERPETUAL"]
    assert sim.stats.requests == 2


async def test_5xx_is_retried_then_unavailable(autojump_clock: trio.testing.MockClock) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS, faults=Faults(error_rate=1.0))
    async with client_on(sim) as (client, _):
        with pytest.raises(VenueUnavailable, match="HTTP 5"):
            await client.instruments()
    assert sim.stats.errors_5xx == ATTEMPTS


async def test_a_hanging_request_times_out_and_is_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS, faults=Faults(hang_rate=1.0))
    async with client_on(sim) as (client, _):
        start = trio.current_time()
        with pytest.raises(VenueUnavailable, match="timeout"):
            await client.instruments()
    assert sim.stats.requests == ATTEMPTS
    assert trio.current_time() - start >= ATTEMPTS * CLIENT_TIMEOUT.read  # type: ignore[operator]


async def test_a_cut_body_is_retried_then_unavailable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS, faults=Faults(malformed_rate=1.0))
    async with client_on(sim) as (client, _):
        with pytest.raises(VenueUnavailable, match="not JSON"):
            await client.instruments()
    assert sim.stats.requests == ATTEMPTS


async def test_a_5xx_then_success_returns_the_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    answers = iter([httpx.Response(502, text="<html>bad gateway</html>")])
    sim = DeribitSim(start_epoch_ms=START_MS)

    async def handler(request: httpx.Request) -> httpx.Response:
        fallback = sim.handle("GET", request.url.path, dict(request.url.params), "ip", b"")
        return next(answers, httpx.Response(fallback.status, content=fallback.body))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = DeribitClient(http, "http://deribit.sim", "ws://unused")
        instruments = await client.instruments()
    assert "BTC-PERPETUAL" in instruments


# -- stream over an in-memory WebSocket (mock clock) -----------------------------------------


class MemoryWebSocket:
    """A WebSocket whose server side is the simulator's `WsSession`, ticking on trio's clock."""

    def __init__(self, sim: DeribitSim, nursery: trio.Nursery) -> None:
        self.sim = sim
        session = sim.open_session("127.0.0.1")
        assert session is not None
        self.session: WsSession = session
        self.sent: list[dict[str, Any]] = []
        self._to_client, self._inbox = trio.open_memory_channel[str](10_000)
        self.closed = False
        nursery.start_soon(self._push)

    async def _push(self) -> None:
        while not self.closed:
            tick_ms = (self.sim.now_ms() // TICK_MS + 1) * TICK_MS
            await trio.sleep_until(self.sim.clock.trio_time_at(tick_ms))
            frames, keep = self.session.tick(tick_ms)
            for frame in frames:
                self._to_client.send_nowait(frame)
            if not keep:
                self.closed = True
                await self._to_client.aclose()

    async def get_message(self) -> str:
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise trio.BrokenResourceError("closed by the server") from None

    async def send_message(self, message: str) -> None:
        if self.closed:
            raise trio.BrokenResourceError("closed by the server")
        self.sent.append(json.loads(message))
        replies, keep = self.session.command(message, self.sim.now_ms())
        for reply in replies:
            self._to_client.send_nowait(reply)
        if not keep:
            self.closed = True
            await self._to_client.aclose()


def memory_connector(
    sim: DeribitSim, sockets: list[MemoryWebSocket]
) -> Callable[[str], AbstractAsyncContextManager[MemoryWebSocket]]:
    @asynccontextmanager
    async def connect(url: str) -> AsyncIterator[MemoryWebSocket]:
        async with trio.open_nursery() as nursery:
            ws = MemoryWebSocket(sim, nursery)
            sockets.append(ws)
            try:
                yield ws
            finally:
                ws.closed = True
                nursery.cancel_scope.cancel()

    return connect


async def test_stream_answers_test_requests_and_keeps_streaming(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sockets: list[MemoryWebSocket] = []
    async with client_on(sim, connect_ws=memory_connector(sim, sockets)) as (client, _):
        instruments = await client.instruments()
        send, receive = trio.open_memory_channel[VenueReading](10_000)
        await nursery.start(client.stream, instruments, send)
        await trio.sleep(65)
        readings = [
            receive.receive_nowait() for _ in range(receive.statistics().current_buffer_used)
        ]
    (ws,) = sockets
    assert not ws.closed  # 6 test requests answered in 65 s
    methods = [m["method"] for m in ws.sent]
    assert methods[:2] == ["public/set_heartbeat", "public/subscribe"]
    assert ws.sent[0]["params"] == {"interval": 10}
    assert methods.count("public/test") == 6
    assert {r.symbol for r in readings} == set(instruments)
    per_symbol = [r for r in readings if r.symbol == "BTC-PERPETUAL"]
    assert 60 <= len(per_symbol) <= 66  # one push a second
    assert len({r.contracts for r in per_symbol}) > 1  # the walk moves


async def test_the_heartbeat_answer_does_not_wait_on_a_held_limiter(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sockets: list[MemoryWebSocket] = []
    async with client_on(sim, connect_ws=memory_connector(sim, sockets)) as (client, _):
        instruments = await client.instruments()
        send, _receive = trio.open_memory_channel[VenueReading](100_000)
        await nursery.start(client.stream, instruments, send)
        # A REST refusal holds the shared limiter for longer than two heartbeat intervals.
        client.limiter.hold(trio.current_time() + 60)
        await trio.sleep(35)
    (ws,) = sockets
    assert not ws.closed
    assert [m["method"] for m in ws.sent].count("public/test") == 3


async def test_channels_left_out_of_a_subscribe_reply_are_logged_and_the_rest_stream(
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sockets: list[MemoryWebSocket] = []
    async with client_on(sim, connect_ws=memory_connector(sim, sockets)) as (client, _):
        instruments = dict(await client.instruments())
        gone = Instrument("GONE-PERPETUAL", "GONE", "inverse", Decimal(1))
        instruments[gone.symbol] = gone
        send, receive = trio.open_memory_channel[VenueReading](100_000)
        with trio.fail_after(5):
            await nursery.start(client.stream, instruments, send)
        await trio.sleep(2)
        readings = [
            receive.receive_nowait() for _ in range(receive.statistics().current_buffer_used)
        ]
    assert {r.symbol for r in readings} == set(instruments) - {gone.symbol}
    refused = [r.getMessage() for r in caplog.records if "not subscribed" in r.getMessage()]
    assert len(refused) == 1
    assert "ticker.GONE-PERPETUAL.100ms" in refused[0]


async def test_stream_rate_limit_refusal_holds_the_limiter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sockets: list[MemoryWebSocket] = []
    async with client_on(sim, connect_ws=memory_connector(sim, sockets)) as (client, _):
        instruments = await client.instruments()
        sim.rate_limit(10)
        send, _receive = trio.open_memory_channel[VenueReading](100)
        with pytest.raises(VenueRateLimited):
            await client.stream(instruments, send)
        assert client.limiter.held(trio.current_time())


async def test_silent_stream_raises_stream_dropped_after_stale_after_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    sockets: list[MemoryWebSocket] = []
    async with client_on(sim, connect_ws=memory_connector(sim, sockets), stale_after_s=25.0) as (
        client,
        _,
    ):
        instruments = await client.instruments()
        send, _receive = trio.open_memory_channel[VenueReading](100_000)
        sim.silence(600)
        start = trio.current_time()
        with pytest.raises(VenueStreamDropped, match="silent"):
            await client.stream(instruments, send)
    assert 25.0 <= trio.current_time() - start < 26.0


# -- stream against the served simulator (loopback, real clock) -------------------------------


class StreamRun:
    """Runs `client.stream` in a nursery and keeps the error it ends with."""

    def __init__(self) -> None:
        self.error: VenueError | None = None
        self.ended = trio.Event()

    async def run(
        self,
        client: DeribitClient,
        instruments: Mapping[str, Instrument],
        send: trio.MemorySendChannel[VenueReading],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            await client.stream(instruments, send, task_status=task_status)
        except VenueError as exc:
            self.error = exc
        finally:
            self.ended.set()


async def test_stream_over_loopback_reads_then_raises_when_dropped(nursery: trio.Nursery) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    binds = await nursery.start(serve, sim, "127.0.0.1", 0)
    ws_url = binds[0].replace("http://", "ws://") + WS_PATH
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:
        client = DeribitClient(http, binds[0], ws_url)
        instruments = await client.instruments()
        send, receive = trio.open_memory_channel[VenueReading](10_000)
        stream = StreamRun()
        with trio.fail_after(5):
            await nursery.start(stream.run, client, instruments, send)
            first = await receive.receive()
            sim.drop_websockets()
            await stream.ended.wait()
    assert first.symbol in instruments
    assert first.mark_price is not None
    assert first.coin is not None
    assert isinstance(stream.error, VenueStreamDropped)
    assert sim.stats.ws_connections == 1


async def test_stream_over_loopback_goes_stale_when_silenced(nursery: trio.Nursery) -> None:
    sim = DeribitSim(start_epoch_ms=START_MS)
    binds = await nursery.start(serve, sim, "127.0.0.1", 0)
    ws_url = binds[0].replace("http://", "ws://") + WS_PATH
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:
        client = DeribitClient(http, binds[0], ws_url, stale_after_s=0.4)
        instruments = {"BTC-PERPETUAL": Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))}
        send, receive = trio.open_memory_channel[VenueReading](10_000)
        stream = StreamRun()
        with trio.fail_after(5):
            await nursery.start(stream.run, client, instruments, send)
            reading = await receive.receive()
            sim.silence(30)
            silenced_at = trio.current_time()
            await stream.ended.wait()
    assert reading.symbol == "BTC-PERPETUAL"
    assert isinstance(stream.error, VenueStreamDropped)
    assert "silent" in str(stream.error)
    assert trio.current_time() - silenced_at >= 0.4
