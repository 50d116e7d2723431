"""Binance's all-market mark price stream (`!markPrice@arr@1s` on the routed `/market` path):
one connection, its frames decoded, handed to the caller.

The caller (the mark-prices actor) owns reconnecting and what a frame means; this module owns
the URL, the socket, the WebSocket handshake and the frame format. A connection failure surfaces
as one `StreamDropped` (an `ExchangeError`), never as an exception group.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)

from volspike_oi.venues.binance.decode import MarkPriceFrame, decode, parse_json
from volspike_oi.venues.binance.errors import DecodeError, ExchangeError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 16 * 2**20
"""One all-market frame is ~150 KB for ~750 rows; leave room for growth."""
_CONNECTION_FAILURES = (
    ConnectionClosed,
    HandshakeError,
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
)


class StreamDropped(ExchangeError):
    """The connection failed, closed or could not be opened; `causes` names what went wrong."""

    def __init__(self, causes: list[str]) -> None:
        super().__init__(", ".join(causes))
        self.causes = causes


def stream_url(fstream_url: str, stream: str) -> str:
    return f"{fstream_url.rstrip('/')}/market/stream?streams={stream}"


def decode_frame(message: str | bytes) -> MarkPriceFrame:
    """One combined-stream message; `DecodeError` when it is not the frame we rely on."""
    return decode(parse_json(message, "markPrice frame"), MarkPriceFrame, "markPrice frame")


async def _open_stream(url: str) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    """The TCP (or TLS) stream to `url`'s host. We own it, so it is closed on every path:
    trio-websocket 0.12 leaves the socket open when the server rejects the handshake."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if secure:
        return await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    return await trio.open_tcp_stream(host, port)


async def follow_stream(
    url: str,
    on_frame: Callable[[MarkPriceFrame], None],
    on_bad_frame: Callable[[DecodeError], None],
    *,
    quiet_s: float,
    until: Callable[[], bool],
) -> None:
    """One connection: each frame to `on_frame` until `until()` says to renew (returns) or
    nothing arrives for `quiet_s` (returns). Raises `StreamDropped` when the connection fails."""
    parts = urlsplit(url)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S):
            stream = await _open_stream(url)
        async with stream, trio.open_nursery() as nursery:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                ws = await wrap_client_stream(
                    nursery, stream, parts.netloc, resource, max_message_size=MAX_MESSAGE_BYTES
                )
            log.info("mark price stream connected: %s", url)
            try:
                await _receive(ws, on_frame, on_bad_frame, quiet_s, until)
            finally:
                nursery.cancel_scope.cancel()
    except* _CONNECTION_FAILURES as group:
        # The connection's nursery wraps what went wrong; any other error is a bug and
        # propagates as it is.
        raise StreamDropped(sorted({type(e).__name__ for e in group.exceptions})) from None


async def _receive(
    ws: WebSocketConnection,
    on_frame: Callable[[MarkPriceFrame], None],
    on_bad_frame: Callable[[DecodeError], None],
    quiet_s: float,
    until: Callable[[], bool],
) -> None:
    while not until():
        with trio.move_on_after(quiet_s) as quiet:
            message = await ws.get_message()
        if quiet.cancelled_caught:
            log.warning("mark price stream silent for %.0f s; reconnecting", quiet_s)
            return
        try:
            frame = decode_frame(message)
        except DecodeError as exc:
            on_bad_frame(exc)
            continue
        on_frame(frame)
