"""The simulator's mark price WebSocket streams, frame by frame, through a real trio-websocket client.

Rules for every test here: the simulator is served by hypercorn on loopback (127.0.0.1) and port 0;
every test runs under the `autojump_clock` fixture, so simulated seconds (even 24 hours) cost no
real time; waiting uses trio's clock (`trio.sleep`, `move_on_after`, `fail_after`), never
`time.sleep`; nothing reaches the internet.

Each test names `autojump_clock` as an argument: pytest-trio takes the clock only from the test's
own arguments, so a `usefixtures("autojump_clock")` mark would silently run on the real clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from itertools import pairwise
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from tests.conftest import START_MS
from volspike_oi.sim.binance import BinanceSim, serve_sim

ALL_1S = "!markPrice@arr@1s"
COIN_M = {"BTCUSD_PERP", "ETHUSD_PERP"}

Serve = Callable[..., Awaitable[tuple[BinanceSim, str]]]


@pytest.fixture
def serve(nursery: trio.Nursery, make_sim: Callable[..., BinanceSim]) -> Serve:
    """Start a simulator (settings overrides as keywords) on 127.0.0.1:0; returns (sim, http URL)."""

    async def start(**overrides: Any) -> tuple[BinanceSim, str]:
        sim = make_sim(**overrides)
        binds = await nursery.start(serve_sim, sim, "127.0.0.1", 0)
        return sim, binds[0]

    return start


@asynccontextmanager
async def connect(base: str, path: str) -> AsyncIterator[WebSocketConnection]:
    """A client connection to `path` of the simulator at `base` (its http URL)."""
    url = base.replace("http", "ws", 1) + path
    ws: WebSocketConnection | None = None
    try:
        async with open_websocket_url(url, max_message_size=2**24) as ws:
            yield ws
    finally:
        # trio-websocket 0.12 never closes its TCP stream when the server closes first
        # (`aclose()` returns early once a close reason is set); close it here, or the socket
        # is left to the garbage collector and surfaces as a ResourceWarning in a later test.
        if ws is not None:
            with trio.CancelScope(shield=True):
                await ws._stream.aclose()


async def receive(ws: WebSocketConnection) -> Any:
    return json.loads(await ws.get_message())


async def next_tick(ws: WebSocketConnection, sim: BinanceSim) -> tuple[int, list[Any]]:
    """The frames of the next tick, with the simulated epoch ms at which they arrived.

    Under the autojump clock a tick's frames all arrive at the same simulated instant, so the
    tick is over once nothing more arrives within half a second.
    """
    frames = [await receive(ws)]
    arrived_ms = sim.clock.now_ms()
    while True:
        with trio.move_on_after(0.5) as idle:
            frames.append(await receive(ws))
        if idle.cancelled_caught:
            return arrived_ms, frames
        assert sim.clock.now_ms() == arrived_ms, "the frames of one tick arrived apart"


def rows_of(frames: list[Any]) -> list[dict[str, Any]]:
    return [row for frame in frames for row in (frame if isinstance(frame, list) else [frame])]


async def reply_to(ws: WebSocketConnection, req_id: int) -> Any:
    """The answer to request `req_id`, skipping any data frames that arrive before it."""
    while True:
        message = await receive(ws)
        if isinstance(message, dict) and message.get("id") == req_id:
            return message


async def call(ws: WebSocketConnection, method: str, req_id: int, params: Any = None) -> Any:
    body: dict[str, Any] = {"method": method, "id": req_id}
    if params is not None:
        body["params"] = params
    await ws.send_message(json.dumps(body))
    return await reply_to(ws, req_id)


async def assert_silent(ws: WebSocketConnection, seconds: float) -> None:
    with trio.move_on_after(seconds):
        message = await ws.get_message()
        raise AssertionError(f"expected nothing for {seconds} s, got {message[:200]!r}")


async def wait_closed(ws: WebSocketConnection) -> int:
    """Drain the connection until the server closes it; returns the close code."""

    async def drain() -> None:
        while True:
            await ws.get_message()

    with pytest.raises(ConnectionClosed) as info:
        await drain()
    reason = info.value.reason
    assert reason is not None
    return reason.code


# -- what the streams deliver ----------------------------------------------------------------------


async def test_all_market_1s_sends_raw_arrays_every_simulated_second(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    async with connect(base, f"/market/ws/{ALL_1S}") as ws:
        seen = [await next_tick(ws, sim) for _ in range(5)]
    for arrived_ms, frames in seen:
        assert arrived_ms % 1000 == 0
        assert all(isinstance(frame, list) and frame for frame in frames)
        assert {row["E"] for row in rows_of(frames)} == {arrived_ms}
        assert all(row["e"] == "markPriceUpdate" for row in rows_of(frames))
    event_ms = [arrived_ms for arrived_ms, _ in seen]
    assert event_ms[0] == START_MS + 1000
    assert [b - a for a, b in pairwise(event_ms)] == [1000] * 4


async def test_one_tick_is_several_frames_covering_trading_symbols_and_coin_m(
    serve: Serve,
    autojump_clock: MockClock,
) -> None:
    sim, base = await serve(mark_frame_rows=20)
    async with httpx.AsyncClient(base_url=base) as client:
        info = (await client.get("/fapi/v1/exchangeInfo")).json()
    trading = {s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"}
    tradfi = {s["symbol"] for s in info["symbols"] if s["contractType"] == "TRADIFI_PERPETUAL"}
    assert tradfi
    assert tradfi <= trading
    async with connect(base, f"/market/ws/{ALL_1S}") as ws:
        _, frames = await next_tick(ws, sim)

    rows = rows_of(frames)
    symbols = [row["s"] for row in rows]
    assert len(symbols) == len(set(symbols)), "a symbol appears twice in one tick"
    assert set(symbols) == trading | COIN_M
    assert {row["s"] for row in rows if row["st"] == 2} == COIN_M
    assert len(frames) > 2
    assert all(len(frame) <= 20 for frame in frames)
    with_tradfi = [frame for frame in frames if any(row["s"] in tradfi for row in frame)]
    assert len(with_tradfi) == 1
    assert {row["s"] for row in with_tradfi[0]} == tradfi


async def test_combined_stream_wraps_frames_with_their_stream_name(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    async with connect(base, f"/market/stream?streams={ALL_1S}/btcusdt@markPrice@1s") as ws:
        _, frames = await next_tick(ws, sim)
    assert all(set(frame) == {"stream", "data"} for frame in frames)
    arrays = [f["data"] for f in frames if f["stream"] == ALL_1S]
    singles = [f["data"] for f in frames if f["stream"] == "btcusdt@markPrice@1s"]
    assert len(arrays) + len(singles) == len(frames)
    assert arrays
    assert all(isinstance(data, list) for data in arrays)
    assert "BTCUSDT" in {row["s"] for data in arrays for row in data}
    assert len(singles) == 1
    assert singles[0]["s"] == "BTCUSDT"


async def test_all_market_without_1s_ticks_every_3_seconds(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    async with connect(base, "/market/ws/!markPrice@arr") as ws:
        seen = [await next_tick(ws, sim) for _ in range(4)]
    event_ms = [arrived_ms for arrived_ms, _ in seen]
    assert [b - a for a, b in pairwise(event_ms)] == [3000] * 3
    for arrived_ms, frames in seen:
        assert {row["E"] for row in rows_of(frames)} == {arrived_ms}


async def test_single_symbol_stream_sends_one_object_per_second_lowercase_only(
    serve: Serve,
    autojump_clock: MockClock,
) -> None:
    sim, base = await serve()
    async with connect(base, "/market/ws/btcusdt@markPrice@1s") as ws:
        seen = [await next_tick(ws, sim) for _ in range(4)]
    for arrived_ms, frames in seen:
        assert len(frames) == 1
        assert isinstance(frames[0], dict)
        assert frames[0]["s"] == "BTCUSDT"
        assert frames[0]["E"] == arrived_ms
    event_ms = [arrived_ms for arrived_ms, _ in seen]
    assert [b - a for a, b in pairwise(event_ms)] == [1000] * 3

    async with connect(base, "/market/ws/BTCUSDT@markPrice@1s") as ws:
        assert await call(ws, "LIST_SUBSCRIPTIONS", 1) == {
            "result": ["BTCUSDT@markPrice@1s"],
            "id": 1,
        }
        assert await call(ws, "SUBSCRIBE", 2, ["ETHUSDT@markPrice"]) == {"result": None, "id": 2}
        await assert_silent(ws, 6)


# -- the session protocol ------------------------------------------------------------------------


async def test_subscribe_list_and_unsubscribe_on_market_ws(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    async with connect(base, "/market/ws") as ws:
        await assert_silent(ws, 2)
        await ws.send_message(json.dumps({"method": "SUBSCRIBE", "params": [ALL_1S], "id": 1}))
        assert await receive(ws) == {"result": None, "id": 1}
        arrived_ms, frames = await next_tick(ws, sim)
        assert {row["E"] for row in rows_of(frames)} == {arrived_ms}

        assert await call(ws, "LIST_SUBSCRIPTIONS", 2) == {"result": [ALL_1S], "id": 2}

        # next_tick returned half a second after the tick: no frame of it is still on its way.
        assert await call(ws, "UNSUBSCRIBE", 3, [ALL_1S]) == {"result": None, "id": 3}
        await assert_silent(ws, 5)
        assert await call(ws, "LIST_SUBSCRIPTIONS", 4) == {"result": [], "id": 4}


@pytest.mark.parametrize(
    ("path", "subscribe"),
    [
        (f"/ws/{ALL_1S}", None),
        (f"/stream?streams={ALL_1S}", None),
        ("/ws", [ALL_1S]),
    ],
)
async def test_legacy_unrouted_paths_acknowledge_and_deliver_nothing(
    serve: Serve, autojump_clock: MockClock, path: str, subscribe: list[str] | None
) -> None:
    _, base = await serve()
    async with connect(base, path) as ws:
        if subscribe is not None:
            assert await call(ws, "SUBSCRIBE", 1, subscribe) == {"result": None, "id": 1}
        assert await call(ws, "LIST_SUBSCRIPTIONS", 2) == {"result": [ALL_1S], "id": 2}
        await assert_silent(ws, 10.5)


async def test_more_than_10_incoming_messages_in_a_second_closes_with_1008(
    serve: Serve,
    autojump_clock: MockClock,
) -> None:
    _, base = await serve()
    async with connect(base, "/market/ws") as ws:
        for req_id in range(10):
            assert await call(ws, "LIST_SUBSCRIPTIONS", req_id) == {"result": [], "id": req_id}
        await trio.sleep(1)  # a new second: ten more are allowed
        for req_id in range(11):
            await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": req_id}))
        with trio.fail_after(1):
            assert await wait_closed(ws) == 1008


# -- connection drops and lifetime ---------------------------------------------------------------


async def test_drop_websockets_closes_with_1001_within_a_second_and_reconnect_works(
    serve: Serve,
    autojump_clock: MockClock,
) -> None:
    sim, base = await serve()
    async with connect(base, f"/market/ws/{ALL_1S}") as ws1, connect(base, "/market/ws") as ws2:
        await next_tick(ws1, sim)
        sim.drop_websockets()
        with trio.fail_after(1):
            assert await wait_closed(ws1) == 1001
            assert await wait_closed(ws2) == 1001
    async with connect(base, f"/market/ws/{ALL_1S}") as ws:
        with trio.fail_after(2):
            _, frames = await next_tick(ws, sim)
        assert frames


async def test_ws_drop_every_s_30_drops_connections_every_30_seconds(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve(ws_drop_every_s=30)
    closed_at = []
    for _ in range(3):
        async with connect(base, f"/market/ws/{ALL_1S}") as ws:
            with trio.fail_after(31):
                assert await wait_closed(ws) == 1001
            closed_at.append(sim.clock.now_ms() - START_MS)
    assert closed_at == [30_000, 60_000, 90_000]


async def test_connection_is_closed_after_24_simulated_hours(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    async with connect(base, "/market/ws") as ws:
        opened_ms = sim.clock.now_ms()
        with trio.fail_after(86_400 + 2):
            assert await wait_closed(ws) == 1001
        assert sim.clock.now_ms() - opened_ms == 86_400_000


# -- agreement with REST and statistics ----------------------------------------------------------


async def test_stream_mark_price_equals_premium_index_at_the_same_second(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    streamed: dict[int, str] = {}
    polled: dict[int, str] = {}
    async with (
        connect(base, f"/market/ws/{ALL_1S}") as ws,
        httpx.AsyncClient(base_url=base) as client,
    ):
        for _ in range(5):
            arrived_ms, frames = await next_tick(ws, sim)
            (btc,) = [row for row in rows_of(frames) if row["s"] == "BTCUSDT"]
            streamed[arrived_ms] = btc["p"]
            # Still inside the same simulated second (next_tick waited half a second).
            answer = await client.get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"})
            polled[answer.json()["time"]] = answer.json()["markPrice"]
    assert polled == streamed
    assert len(set(streamed.values())) > 1, "the mark price should move from second to second"


async def test_stats_count_frames_sent_and_connections_opened(
    serve: Serve, autojump_clock: MockClock
) -> None:
    sim, base = await serve()
    assert (sim.stats.ws_connections_opened, sim.stats.ws_frames_sent) == (0, 0)
    async with connect(base, "/market/ws/btcusdt@markPrice@1s") as ws:
        for _ in range(5):
            await next_tick(ws, sim)
        assert sim.stats.ws_connections_opened == 1
        assert sim.stats.ws_frames_sent == 5
    async with connect(base, f"/market/ws/{ALL_1S}") as ws:
        _, frames = await next_tick(ws, sim)
        assert sim.stats.ws_connections_opened == 2
        assert sim.stats.ws_frames_sent == 5 + len(frames)
    async with httpx.AsyncClient(base_url=base) as client:
        stats = (await client.get("/_sim/stats")).json()
    assert (stats["wsConnectionsOpened"], stats["wsFramesSent"]) == (2, 5 + len(frames))
