"""Hyperliquid's `activeAssetCtx` stream: one connection, one subscription per coin, readings out.

Every push carries a coin's whole context (no deltas to merge), so each one becomes a full
`VenueReading`. Hyperliquid closes a connection that has had no message for 60 s; we ping every
`PING_INTERVAL_S` and treat `stale_after_s` without any message (data or pong) as a dead link.
Its per-IP limits (1000 subscriptions, 2000 messages sent per minute) pace the subscriptions:
about 30 a second, so ~200 coins take ~7 s and a reconnect storm cannot exceed the minute's count.
Every failure surfaces as one `VenueStreamDropped`, never as an exception group.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import attrs
import trio

from volspike_oi.ratelimit import RateLimiter
from volspike_oi.venues.errors import VenueDecodeError, VenueStreamDropped
from volspike_oi.venues.hyperliquid.decode import (
    AssetCtxPush,
    StreamError,
    SubscriptionAck,
    decode_ws_message,
    reading_of,
)
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.websocket import CONNECTION_FAILURES, open_websocket

log = logging.getLogger(__name__)

PING_INTERVAL_S = 10.0
"""Well inside the server's 60 s idle close, and often enough that a dead link shows in 25 s."""
CONNECT_TIMEOUT_S = 10.0
DISCONNECT_TIMEOUT_S = 1.0
MAX_SUBSCRIPTIONS = 1000
"""Hyperliquid's per-IP subscription limit; more coins than this are served by snapshots."""
WS_MESSAGES_PER_MIN = 2000
"""Hyperliquid's limit on messages sent per minute per IP."""
WS_BURST = 30
SUBSCRIBE_TIMEOUT_S = 10.0
"""How long after the last subscription sent or answered the stream waits for the rest: an error
that names no coin ("Cannot track more than 1000 total subscriptions") answers none, so past this
`started` is reported with the coins acknowledged so far and the rest are logged as missing."""


class WsConnection(Protocol):
    """What we use of `trio_websocket.WebSocketConnection`."""

    async def get_message(self) -> str | bytes: ...
    async def send_message(self, message: str | bytes) -> None: ...


ConnectWs = Callable[..., AbstractAsyncContextManager[Any]]
"""`open_ws` (the default), `trio_websocket.open_websocket_url` or a test's stand-in:
`connect(url, connect_timeout=…, disconnect_timeout=…)` opens one connection."""
MAX_MESSAGE_BYTES = 2**20
"""One context push is ~400 bytes; the server's own messages stay far below this."""


def open_ws(
    url: str, *, connect_timeout: float, disconnect_timeout: float
) -> AbstractAsyncContextManager[Any]:
    """`trio_websocket.open_websocket_url` but owning the TCP stream (`venues/websocket.py` says
    why), with a closing handshake of at most `disconnect_timeout` on the way out."""
    return open_websocket(
        url,
        connect_timeout_s=connect_timeout,
        max_message_bytes=MAX_MESSAGE_BYTES,
        close_timeout_s=disconnect_timeout,
    )


def default_ws_limiter() -> RateLimiter:
    """2000 messages per minute less the 10 % margin: 30 a second, a burst of 30."""
    return RateLimiter(rate=WS_MESSAGES_PER_MIN, period_s=60.0, burst=WS_BURST)


def subscribe_message(coin: str) -> str:
    return json.dumps(
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": coin}},
        separators=(",", ":"),
    )


PING_MESSAGE = json.dumps({"method": "ping"}, separators=(",", ":"))


@attrs.define
class _Progress:
    """When the subscribing last moved (a subscription sent or answered): the deadline's base."""

    last: float


async def run_stream(
    connect: ConnectWs,
    url: str,
    instruments: Mapping[str, Instrument],
    send: trio.MemorySendChannel[VenueReading],
    *,
    stale_after_s: float,
    limiter: RateLimiter | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect, subscribe to every instrument (paced), report started once every subscription
    is acknowledged, then send a reading per push until the connection fails or goes silent."""
    pacer = limiter or default_ws_limiter()
    coins = sorted(instruments)
    if len(coins) > MAX_SUBSCRIPTIONS:
        log.warning(
            "Hyperliquid: %d coins, subscribing to the first %d (per-IP limit)",
            len(coins),
            MAX_SUBSCRIPTIONS,
        )
        coins = coins[:MAX_SUBSCRIPTIONS]
    try:
        async with (
            connect(
                url, connect_timeout=CONNECT_TIMEOUT_S, disconnect_timeout=DISCONNECT_TIMEOUT_S
            ) as ws,
            trio.open_nursery() as nursery,
        ):
            progress = _Progress(trio.current_time())
            nursery.start_soon(_subscribe_all, ws, coins, pacer, progress)
            nursery.start_soon(_ping_forever, ws, pacer)
            await _receive(ws, instruments, set(coins), send, stale_after_s, progress, task_status)
    except* VenueStreamDropped as group:
        raise _leaves(group)[0] from None
    except* CONNECTION_FAILURES as group:
        raise VenueStreamDropped(
            "hyperliquid: " + ", ".join(sorted({type(e).__name__ for e in _leaves(group)}))
        ) from None


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside nested groups (each nursery on the way adds a level)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


async def _subscribe_all(
    ws: WsConnection, coins: Sequence[str], pacer: RateLimiter, progress: _Progress
) -> None:
    for coin in coins:
        await pacer.acquire()
        await ws.send_message(subscribe_message(coin))
        progress.last = trio.current_time()


async def _ping_forever(ws: WsConnection, pacer: RateLimiter) -> None:
    while True:
        await trio.sleep(PING_INTERVAL_S)
        await pacer.acquire()
        await ws.send_message(PING_MESSAGE)


async def _receive(
    ws: WsConnection,
    instruments: Mapping[str, Instrument],
    coins: set[str],
    send: trio.MemorySendChannel[VenueReading],
    stale_after_s: float,
    progress: _Progress,
    task_status: trio.TaskStatus[None],
) -> None:
    pending = set(coins)
    started = False
    if not pending:
        task_status.started()
        started = True
    while True:
        wait_s = stale_after_s
        if not started:
            wait_s = min(wait_s, progress.last + SUBSCRIBE_TIMEOUT_S - trio.current_time())
        with trio.move_on_after(max(0.0, wait_s)) as quiet:
            message = await ws.get_message()
        if quiet.cancelled_caught and not started and wait_s < stale_after_s:
            if trio.current_time() < progress.last + SUBSCRIBE_TIMEOUT_S:
                continue  # subscriptions went out meanwhile: the deadline moved on
            log.warning(
                "Hyperliquid: %d of %d subscriptions unanswered after %.0f s, streaming the "
                "rest; missing: %s",
                len(pending),
                len(coins),
                SUBSCRIBE_TIMEOUT_S,
                ", ".join(sorted(pending)[:20]),
            )
            task_status.started()
            started = True
            continue
        if quiet.cancelled_caught:
            raise VenueStreamDropped(f"hyperliquid: no message for {stale_after_s:.0f} s")
        try:
            decoded = decode_ws_message(message)
        except VenueDecodeError as exc:
            log.warning("Hyperliquid: unusable message skipped: %s", exc)
            continue
        if isinstance(decoded, AssetCtxPush):
            instrument = instruments.get(decoded.coin)
            if instrument is not None:
                await send.send(reading_of(instrument, decoded.ctx))
        elif isinstance(decoded, SubscriptionAck):
            coin = decoded.subscription.get("coin")
            if decoded.method == "subscribe" and isinstance(coin, str):
                pending.discard(coin)
                progress.last = trio.current_time()
        elif isinstance(decoded, StreamError):
            log.warning("Hyperliquid stream error: %s", decoded.text)
            # A refused subscription (a coin delisted since `instruments`) is answered, too: it
            # must not keep `started` from being reported.
            refused = {c for c in pending if _names_coin(decoded.text, c)}
            pending -= refused
            progress.last = trio.current_time()
        if not pending and not started:
            log.info("Hyperliquid: subscribed to %d coins", len(coins))
            task_status.started()
            started = True


def _names_coin(text: str, coin: str) -> bool:
    return f'"coin":"{coin}"' in text or f'"coin": "{coin}"' in text
