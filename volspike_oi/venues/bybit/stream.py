"""Bybit's `tickers.{symbol}` stream on the public linear WebSocket: connect, subscribe, keep the
connection alive with Bybit's JSON ping, merge deltas into full states, hand out readings.

Each connection carries at most `MAX_ARGS_CHARS` of topics (Bybit: the `args` of one public
connection may not exceed 21,000 characters), so a full universe may need two connections; all
of them run in one nursery and any failure ends the stream as one `VenueStreamDropped`.

Bybit refuses a whole subscribe request for one bad topic in it (a symbol delisted since the
listing: `"success":false,"ret_msg":"Invalid symbol :[tickers.X]"`), so a refused batch is sent
again one topic at a time, leaving out the topic the refusal names; a refused single topic is
logged and left out, and the healthy ones stream on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio
from trio_websocket import (
    WebSocketConnection,
)

from volspike_oi.venues.bybit.decode import (
    Ack,
    TickerBook,
    decode_ticker,
    decode_ws_message,
    reading_of,
)
from volspike_oi.venues.errors import VenueDecodeError, VenueError, VenueStreamDropped
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.websocket import CONNECTION_FAILURES, open_websocket

log = logging.getLogger(__name__)

MAX_ARGS_CHARS = 20_000
"""Bybit refuses more than 21,000 characters of `args` per public connection; keep a margin."""
SUBSCRIBE_BATCH = 10
"""Topics per subscribe request. The docs limit only Spot to 10 ("no args limit for Futures");
staying within it costs a few dozen small requests and keeps working if the rule is extended."""
SUBSCRIBE_TIMEOUT_S = 10.0
"""Every subscribe request must be acknowledged this soon after connecting."""
CONNECT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 2**20
PING_MESSAGE = '{"req_id":"ping","op":"ping"}'

ConnectWs = Callable[[str], AbstractAsyncContextManager[Any]]
"""Opens one WebSocket connection (a trio-websocket `WebSocketConnection` or a stand-in with
`send_message` and `get_message`)."""


def open_ws(url: str) -> AbstractAsyncContextManager[WebSocketConnection]:
    """One client connection to `url` on a stream we own (`venues/websocket.py` says why)."""
    return open_websocket(
        url, connect_timeout_s=CONNECT_TIMEOUT_S, max_message_bytes=MAX_MESSAGE_BYTES
    )


def connection_groups(topics: Sequence[str], max_chars: int = MAX_ARGS_CHARS) -> list[list[str]]:
    """Topics split so that each connection's `args` stay within `max_chars` (as JSON)."""
    groups: list[list[str]] = [[]]
    used = 2  # the list's brackets
    for topic in topics:
        cost = len(topic) + 4  # quotes, a comma and a space
        if groups[-1] and used + cost > max_chars:
            groups.append([])
            used = 2
        groups[-1].append(topic)
        used += cost
    return [g for g in groups if g]


def _batches(topics: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(topics), size):
        yield list(topics[start : start + size])


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _first_leaf(group: BaseExceptionGroup[VenueError]) -> VenueError:
    first = next(_leaves(group))
    assert isinstance(first, VenueError)
    return first


async def follow_tickers(
    ws_url: str,
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    *,
    connect_ws: ConnectWs,
    stale_after_s: float,
    ping_interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every instrument's ticker until a connection fails (`VenueStreamDropped`) or the caller
    cancels; `task_status.started()` once every subscription is acknowledged."""
    topics = [f"tickers.{symbol}" for symbol in sorted(instruments)]
    try:
        async with trio.open_nursery() as nursery:
            for topics_of_connection in connection_groups(topics):
                await nursery.start(
                    _follow_connection,
                    ws_url,
                    topics_of_connection,
                    instruments,
                    send,
                    connect_ws,
                    stale_after_s,
                    ping_interval_s,
                )
            task_status.started()
    except* VenueError as group:
        raise _first_leaf(group) from None


async def _follow_connection(
    ws_url: str,
    topics: list[str],
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    connect_ws: ConnectWs,
    stale_after_s: float,
    ping_interval_s: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        async with connect_ws(ws_url) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(_heartbeat, ws, ping_interval_s)
            await _receive(ws, topics, instruments, send, stale_after_s, task_status)
    except* CONNECTION_FAILURES as group:
        # The connection's nursery wraps what went wrong; one error for the caller.
        causes = sorted({type(e).__name__ for e in _leaves(group)})
        raise VenueStreamDropped(f"bybit stream: {', '.join(causes)}") from None


async def _heartbeat(ws: Any, interval_s: float) -> None:
    """Bybit asks for `{"op":"ping"}` every 20 s; the server answers with a pong message."""
    while True:
        await trio.sleep(interval_s)
        await ws.send_message(PING_MESSAGE)


async def _receive(
    ws: Any,
    topics: list[str],
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    stale_after_s: float,
    task_status: trio.TaskStatus[None],
) -> None:
    pending: dict[str, list[str]] = {}
    for i, batch in enumerate(_batches(topics, SUBSCRIBE_BATCH)):
        await _subscribe(ws, f"sub-{i}", batch, pending)
    subscribe_deadline = trio.current_time() + SUBSCRIBE_TIMEOUT_S
    started = False
    book = TickerBook()
    while True:
        wait_s = stale_after_s
        if not started:
            wait_s = min(wait_s, subscribe_deadline - trio.current_time())
        with trio.move_on_after(max(0.0, wait_s)) as quiet:
            message = await ws.get_message()
        if quiet.cancelled_caught:
            what = "subscriptions not acknowledged" if not started else "silent"
            raise VenueStreamDropped(f"bybit stream: {what} for {wait_s:.1f} s")
        try:
            decoded = decode_ws_message(message)
        except VenueDecodeError as exc:
            log.warning("bybit stream: message skipped: %s", exc)
            continue
        if isinstance(decoded, Ack):
            if decoded.op == "subscribe":
                batch = pending.pop(decoded.req_id, [])
                if not decoded.success:
                    await _refused(ws, decoded, batch, pending)
                    subscribe_deadline = trio.current_time() + SUBSCRIBE_TIMEOUT_S
                if not pending and not started:
                    started = True
                    task_status.started()
            continue
        if decoded is None:
            continue
        state = book.apply(decoded)
        symbol = decoded.topic.removeprefix("tickers.")
        instrument = instruments.get(symbol)
        if state is None or instrument is None:
            continue
        try:
            ticker = decode_ticker(state, f"tickers.{symbol}")
        except VenueDecodeError as exc:
            log.warning("bybit stream: %s", exc)
            continue
        await send.send(reading_of(instrument, ticker, decoded.ts_ms))


async def _subscribe(
    ws: Any, req_id: str, topics: list[str], pending: dict[str, list[str]]
) -> None:
    await ws.send_message(json.dumps({"req_id": req_id, "op": "subscribe", "args": topics}))
    pending[req_id] = topics


async def _refused(ws: Any, ack: Ack, batch: list[str], pending: dict[str, list[str]]) -> None:
    """A refused subscribe: a batch is sent again topic by topic without the topic the refusal
    names; a single topic is logged and left out."""
    words = set(re.findall(r"[\w.\-]+", ack.ret_msg))
    retry = [t for t in batch if t not in words] if len(batch) > 1 else []
    left_out = [t for t in batch if t not in retry]
    log.warning(
        "bybit stream: subscribe %s refused (%s); left out: %s; resubscribing %d one by one",
        ack.req_id,
        ack.ret_msg,
        ", ".join(left_out) or "none",
        len(retry),
    )
    for j, topic in enumerate(retry):
        await _subscribe(ws, f"{ack.req_id}.{j}", [topic], pending)
