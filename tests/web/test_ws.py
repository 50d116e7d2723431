"""The live feed (`/ws`) as trio-websocket clients see it, against the whole service.

Each test runs the service against the in-process simulator (tests/service_harness.py) and
connects clients over loopback to the port the service bound (port 0). Every wait is bounded on
trio's clock (`fail_after`), so a missing event fails the test instead of hanging it. Tests use
`autojump_clock` (real sockets work under it: an I/O wait is not an idle task); the one that
needs the kernel's own timers runs on the real clock and is kept short.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio_websocket
from trio_websocket import ConnectionClosed, WebSocketConnection

from tests.conftest import START_MS
from tests.service_harness import Stack, start_stack, wait_until
from volspike_oi.actors import http_server
from volspike_oi.sim.binance import parse_scenario
from volspike_oi.views import alert_view
from volspike_oi.web.contract import WS_BATCH_S as BATCH_S
from volspike_oi.web.contract import WS_CLIENT_QUEUE, WS_CLOSE_TOO_SLOW
from volspike_oi.web.contract import WS_HEARTBEAT_S as HEARTBEAT_S
from volspike_oi.wire import to_json

SYMBOLS = 120
"""Simulated perps: every tick of the feed carries a few samples, and the stack starts fast."""
ROW_FIELDS = {"symbol", "openInterest", "openInterestUsd", "markPrice", "sampleTime", "source"}
TCP_ESTABLISHED = 1
PING_FRAME = b"\x89\x80\x00\x00\x00\x00"
"""A masked WebSocket ping with no payload, as a client sends it."""
STALLED_RCVBUF = 4096
"""The stalled client's kernel receive buffer: small, so the server's sends block soon."""
CLOSED_WITHIN_S = 10.0
"""How soon a client that never reads again should lose its socket (its buffers fill in ~5 s)."""


@pytest.fixture(autouse=True)
def _no_server_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """hypercorn pings every client every 20 s; trio-websocket 0.12 crashes its reader when a ping
    arrives while it is closing (python-trio/trio-websocket#184), and under `autojump_clock` a
    ping and a client's close often fall on the same instant. The feed does not use pings."""
    monkeypatch.setattr(http_server, "WS_PING_INTERVAL_S", None)


@pytest.fixture
async def stack(nursery: trio.Nursery) -> Stack:
    stack = await start_stack(nursery, sim={"symbols": SYMBOLS})
    await wait_until(lambda: bool(stack.service.web.realtime), 60)
    return stack


def ws_url(stack: Stack) -> str:
    return stack.service.http_binds[0].replace("http://", "ws://", 1) + "/ws"


def epoch_s(iso_time: str) -> float:
    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.get_message())
    return message


async def next_event(ws: WebSocketConnection, event: str, within_s: float) -> dict[str, Any]:
    """The next message of kind `event`, skipping others (oi batches, heartbeats)."""
    with trio.fail_after(within_s):
        while True:
            message = await receive(ws)
            if message["event"] == event:
                return message


async def send_op(ws: WebSocketConnection, op: Any) -> None:
    await ws.send_message(op if isinstance(op, str) else json.dumps(op))


async def subscribe(ws: WebSocketConnection, **fields: Any) -> dict[str, Any]:
    await send_op(ws, {"op": "subscribe", **fields})
    return await next_event(ws, "subscribed", within_s=2)


async def messages_during(
    ws: WebSocketConnection, seconds: float
) -> list[tuple[float, dict[str, Any]]]:
    """Every message received in the next `seconds`, with trio's time of arrival."""
    arrivals: list[tuple[float, dict[str, Any]]] = []
    with trio.move_on_after(seconds):
        while True:
            message = await receive(ws)
            arrivals.append((trio.current_time(), message))
    return arrivals


def oi_rows(arrivals: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for _, m in arrivals if m["event"] == "oi" for row in m["data"]]


def tcp_state(sock: trio.socket.SocketType) -> int:
    """Linux `tcp_info.tcpi_state`: the first byte of TCP_INFO."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


async def server_end_is_gone(sock: trio.socket.SocketType) -> bool:
    """Whether the server has closed its end, without reading: a ping sent to a socket that is
    gone is answered with a reset, which shows in the kernel's TCP state (a server whose socket
    timed out sends nothing by itself)."""
    try:
        await sock.send(PING_FRAME)
    except OSError:
        return True
    await trio.sleep(0.1)
    return tcp_state(sock) != TCP_ESTABLISHED


def largest_gap_s(times: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


@asynccontextmanager
async def stalled_client(
    stack: Stack, nursery: trio.Nursery
) -> AsyncIterator[tuple[WebSocketConnection, trio.socket.SocketType]]:
    """A client that stops reading at once: trio-websocket's reader pauses when its one-message
    queue is full, and a tiny kernel receive buffer soon blocks the server's sends.

    Its socket is closed on the way out: a send blocked on it would also block the service's
    shutdown (hypercorn sends under a shield), and with it the test's teardown."""
    host, port = stack.service.http_binds[0].removeprefix("http://").rsplit(":", 1)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
    stream: trio.SocketStream | None = None
    try:
        await sock.connect((host, int(port)))
        stream = trio.SocketStream(sock)
        ws = await trio_websocket.wrap_client_stream(nursery, stream, host, "/ws")
        yield ws, sock
    finally:
        if stream is not None:
            await stream.aclose()
        else:
            sock.close()


async def test_a_subscription_is_acknowledged_with_its_channels_and_symbols(stack, autojump_clock):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        reply = await subscribe(ws, channels=["oi", "alerts"], symbols=["btcusdt", "ETHUSDT"])
        assert reply == {
            "event": "subscribed",
            "channels": ["alerts", "oi"],
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "venues": ["binance"],
        }
        reply = await subscribe(ws)
        assert reply == {
            "event": "subscribed",
            "channels": ["alerts", "oi", "universe"],
            "symbols": None,
            "venues": ["binance"],
        }


async def test_oi_batches_arrive_within_a_second_carrying_every_field(stack, autojump_clock):
    clock = stack.service.clock
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["oi"])
        subscribed_at = trio.current_time()
        batches: list[tuple[float, float, list[dict[str, Any]]]] = []
        with trio.fail_after(10):
            while len(batches) < 20:
                message = await next_event(ws, "oi", within_s=1)
                batches.append((trio.current_time(), clock.now(), message["data"]))
    times = [t for t, _, _ in batches]
    assert times[0] - subscribed_at < 1
    assert largest_gap_s(times) < 1
    for _, now, rows in batches:
        assert rows
        for row in rows:
            assert row.keys() >= ROW_FIELDS
            assert row["symbol"].endswith("USDT")
            assert row["openInterest"] >= 0
            assert row["source"] in ("realtime", "snapshot")
            assert row["markPrice"] is not None
            assert row["markPrice"] > 0
            assert row["openInterestUsd"] == pytest.approx(
                row["openInterest"] * row["markPrice"], rel=1e-6, abs=0.01
            )
            # In the pipeline at sampleTime, on the client by the next batch tick (the ISO
            # time is cut to the millisecond, so it can read up to 1 ms early).
            assert 0 <= now - epoch_s(row["sampleTime"]) <= BATCH_S + 0.001


async def test_a_symbols_filter_delivers_only_those_symbols(stack, autojump_clock):
    universe = stack.service.status.universe
    assert universe is not None
    chosen = sorted(universe.liquid_symbols)[:2]
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["oi"], symbols=[s.lower() for s in chosen])
        rows = oi_rows(await messages_during(ws, 15))
    assert {row["symbol"] for row in rows} == set(chosen)


async def test_without_the_oi_channel_no_oi_batch_arrives(stack, autojump_clock):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["alerts", "universe"])
        published_before = stack.service.hub.published_total
        arrivals = await messages_during(ws, 5)
    assert [m for _, m in arrivals if m["event"] == "oi"] == []
    assert stack.service.hub.published_total - published_before >= 5 / BATCH_S - 1


async def test_a_scripted_oi_spike_reaches_subscribers_as_an_alert(nursery, autojump_clock):
    spike_at_s = 180
    scenario = parse_scenario(
        {"events": [{"type": "oi_change", "at_s": spike_at_s, "symbol": "LINKUSDT", "pct": 12}]}
    )
    stack = await start_stack(nursery, scenario=scenario, sim={"symbols": SYMBOLS})
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["alerts"], symbols=["LINKUSDT"])
        message = await next_event(ws, "open_interest_alert", within_s=6 * 60)
    alert = message["data"]
    assert alert["symbol"] == "LINKUSDT"
    assert alert["direction"] == "UP"
    assert alert["pctChange"] >= 0.10  # a fraction, as seed 001 sends it
    assert epoch_s(alert["timestamp"]) >= START_MS / 1000 + spike_at_s
    await wait_until(lambda: bool(stack.recorder.alerts), 5)
    assert alert == json.loads(json.dumps(to_json(alert_view(stack.recorder.alerts[0]))))


async def test_heartbeats_arrive_every_15_seconds(stack, autojump_clock):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["universe"])
        beats = []
        for _ in range(3):
            message = await next_event(ws, "heartbeat", within_s=HEARTBEAT_S + 1)
            beats.append((trio.current_time(), message))
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(beats)]
    assert gaps == [pytest.approx(HEARTBEAT_S, abs=1e-6)] * 2
    for at, message in beats:
        assert epoch_s(message["timestamp"]) == pytest.approx(
            stack.service.clock.now() - (trio.current_time() - at), abs=0.002
        )


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "subscribe", "channels": ["trades"]}, "channels"),
        ({"op": "subscribe", "channels": "oi"}, "channels"),
        ({"op": "subscribe", "channels": []}, "channels"),
        ({"op": "subscribe", "symbols": "BTCUSDT"}, "symbols"),
        ({"op": "subscribe", "symbols": ["BTCUSDT", ""]}, "symbols"),
        ({"op": "subscribe", "symbols": [7]}, "symbols"),
    ],
)
async def test_an_invalid_op_gets_an_error_naming_the_field(stack, autojump_clock, op, field):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await subscribe(ws, channels=["alerts"])
        await send_op(ws, op)
        error = await next_event(ws, "error", within_s=2)
        assert error["field"] == field
        assert error["error"]
        # The connection and the subscription it had are both kept.
        arrivals = await messages_during(ws, 2)
        assert [m for _, m in arrivals if m["event"] == "oi"] == []
        assert (await subscribe(ws))["event"] == "subscribed"


@pytest.mark.parametrize("message", [{"op": "unsubscribe"}, ["subscribe"], "subscribe to all"])
async def test_a_message_that_is_no_op_gets_an_error_saying_what_is_expected(
    stack, autojump_clock, message
):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await send_op(ws, message)
        error = await next_event(ws, "error", within_s=2)
        assert '"op"' in error["error"] or "JSON" in error["error"]
        assert (await subscribe(ws))["event"] == "subscribed"


async def test_a_ping_op_is_answered_with_a_pong(stack, autojump_clock):
    async with trio_websocket.open_websocket_url(ws_url(stack)) as ws:
        await send_op(ws, {"op": "ping"})
        await next_event(ws, "pong", within_s=1)


async def test_a_client_that_stops_reading_is_cut_off_while_another_keeps_its_pace(
    stack, nursery, autojump_clock
):
    # The server's send to the stalled client blocks for good; had any loop spun instead of
    # waiting (trio-stack-facts §2a), no other task would run and this test would never end.
    hub = stack.service.hub
    async with stalled_client(stack, nursery) as (stalled, _):
        async with trio_websocket.open_websocket_url(ws_url(stack)) as steady:
            await subscribe(steady, channels=["oi"])
            await wait_until(lambda: len(hub.subscribers) == 2, 5, step_s=0.01)
            batch_times = []
            with trio.fail_after(5 * 60):
                while hub.dropped_total == 0:
                    await next_event(steady, "oi", within_s=1)
                    batch_times.append(trio.current_time())
            assert len(hub.subscribers) == 1  # the stalled one is gone, the steady one stays
            cut_at = trio.current_time()
            arrivals = await messages_during(steady, 10)
        batch_times += [t for t, m in arrivals if m["event"] == "oi"]
        # The stalled client held its queue full for a while; the steady one never waited.
        assert cut_at - batch_times[0] > 30
        assert largest_gap_s(batch_times) < 1
        assert batch_times[-1] - cut_at > 9
        assert hub.dropped_total == 1
        # Reading again, the stalled client gets what was already queued for it, then the
        # close the server sent when it cut it off.
        backlog = 0
        with trio.fail_after(30):
            try:
                while True:
                    await stalled.get_message()
                    backlog += 1
            except ConnectionClosed as closed:
                reason = closed.reason
        assert reason is not None
        assert reason.code == WS_CLOSE_TOO_SLOW
        assert WS_CLIENT_QUEUE <= backlog <= 2 * WS_CLIENT_QUEUE


async def test_a_client_that_never_reads_again_has_its_socket_closed(nursery, monkeypatch):
    # hypercorn 0.18 sends under a shield with no timeout (trio-stack-facts §2a); the kernel's
    # TCP_USER_TIMEOUT on the listening socket is what frees such a connection. 75 s in
    # production; 2 s here.
    monkeypatch.setattr(http_server, "TCP_USER_TIMEOUT_MS", 2000)
    stack = await start_stack(nursery, sim={"symbols": SYMBOLS})
    async with stalled_client(stack, nursery) as (_, sock):
        for _ in range(int(CLOSED_WITHIN_S / 0.5)):
            if await server_end_is_gone(sock):
                break
            await trio.sleep(0.4)
        assert await server_end_is_gone(sock)
