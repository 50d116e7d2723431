"""Opening a venue's WebSocket on a TCP (or TLS) stream we own.

trio-websocket 0.12's `open_websocket_url` leaves the socket open when the server rejects the
handshake or goes away first, so every reconnect of a long-running stream would leak one until
the garbage collector found it. Owning the stream closes it on every path.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, wrap_client_stream

CONNECTION_FAILURES = (
    ConnectionClosed,
    HandshakeError,
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)
"""How a connection ends that the next one may not: a stream catches these and reconnects."""


async def _open_stream(url: str) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if secure:
        return await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl.create_default_context(), https_compatible=True
        )
    return await trio.open_tcp_stream(host, port)


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    connect_timeout_s: float,
    max_message_bytes: int,
    close_timeout_s: float | None = None,
) -> AsyncIterator[WebSocketConnection]:
    """One client connection to `url`; connecting and the handshake each get `connect_timeout_s`.

    On the way out the connection is abandoned (our TCP stream closed, no closing handshake:
    what a dropped, stale or cancelled connection needs) unless `close_timeout_s` is given, then
    a closing handshake is attempted for at most that long, shielded from cancellation.
    """
    parts = urlsplit(url)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with trio.fail_after(connect_timeout_s):
        stream = await _open_stream(url)
    async with stream, trio.open_nursery() as nursery:
        with trio.fail_after(connect_timeout_s):
            ws = await wrap_client_stream(
                nursery, stream, parts.netloc, resource, max_message_size=max_message_bytes
            )
        try:
            yield ws
        finally:
            if close_timeout_s is not None:
                deadline = trio.current_time() + close_timeout_s
                with trio.CancelScope(shield=True, deadline=deadline):
                    await ws.aclose()
            nursery.cancel_scope.cancel()
