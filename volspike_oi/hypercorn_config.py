"""hypercorn's configuration for our servers (the service's API and every simulator): one place
for the settings both need, and listening sockets that carry TCP_USER_TIMEOUT."""

from __future__ import annotations

import logging
import socket
from typing import Any

from hypercorn.config import Config, Sockets

TCP_USER_TIMEOUT_MS = 75_000
"""A peer that acknowledges nothing for this long is reset by the kernel. hypercorn 0.18 sends
under a shield with no timeout, so without this a WebSocket client that stops reading would
hold its handler (and shutdown) forever. Longer than the ~64 s the hub takes to cut such a
client off, so a client that merely stalls first gets the clean 1013 close."""

KEEP_ALIVE_TIMEOUT_S = 5.0
"""An idle keep-alive connection is closed after this (hypercorn's default, set explicitly).
Clients that reuse connections (requests.Session, httpx) retry a request on a connection found
closed, so shorter only costs reconnects; longer holds sockets of clients that went away."""
READ_TIMEOUT: None = None
"""No timeout on reads (hypercorn's default, set explicitly). Slow clients are bounded without
it: a connection is idle, closed after KEEP_ALIVE_TIMEOUT_S, from its opening until a request's
headers are complete (so headers sent a byte at a time are cut off) and again after each answer;
a body is bounded by quart's BODY_TIMEOUT (`web.app.BODY_TIMEOUT_S`: 408, then the connection is
closed). A read timeout would also cut WebSocket clients that only listen between pings, and
under trio's autojump clock it fires at once on any real socket a test waits on."""


def server_config(
    host: str,
    port: int,
    *,
    graceful_s: float,
    ws_ping_interval_s: float | None,
) -> Config:
    """No access log (one line per request would drown everything else); errors to the
    `hypercorn.error` logger. A Logger instance (not "-") keeps hypercorn from adding its own
    stderr handler."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_ping_interval = ws_ping_interval_s
    config.graceful_timeout = graceful_s
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.read_timeout = READ_TIMEOUT
    return config


def listening_sockets(config: Config, *, user_timeout_ms: int = TCP_USER_TIMEOUT_MS) -> Sockets:
    """Bound, listening sockets for `config` with TCP_USER_TIMEOUT set (Linux; accepted sockets
    inherit it). hypercorn listens only on sockets it creates itself, so we call listen()."""
    sockets: Any = config.create_sockets()
    for listener in sockets.insecure_sockets:
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
        listener.listen(config.backlog)
    return sockets  # type: ignore[no-any-return]
