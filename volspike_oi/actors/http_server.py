"""HTTP server actor: the quart-trio API on hypercorn, one more actor in the service's nursery.

Runs hypercorn's trio worker with our own `Config` (quart-trio's `run_task` would switch access
logging on) on sockets we create, so they carry TCP_USER_TIMEOUT; reports the bound URLs once
it listens. Cancellation stops it.
"""

from __future__ import annotations

import functools
import logging
import socket

import trio
from hypercorn.config import Config
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from volspike_oi.web.app import WebContext, create_app

log = logging.getLogger(__name__)

WS_PING_INTERVAL_S = 20.0
GRACEFUL_SHUTDOWN_S = 2.0
TCP_USER_TIMEOUT_MS = 75_000
"""A peer that acknowledges nothing for this long is reset by the kernel. hypercorn 0.18 sends
under a shield with no timeout, so without this a WebSocket client that stops reading would
hold its handler (and shutdown) forever. Longer than the ~64 s the hub takes to cut such a
client off, so a client that merely stalls first gets the clean 1013 close."""


async def run(
    ctx: WebContext,
    host: str,
    port: int,
    binds_out: list[str],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_ping_interval = WS_PING_INTERVAL_S
    config.graceful_timeout = GRACEFUL_SHUTDOWN_S
    sockets = config.create_sockets()
    for listener in sockets.insecure_sockets:
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux; accepted sockets inherit it
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)
        listener.listen(config.backlog)  # hypercorn listens only on sockets it creates itself
    app = wrap_app(create_app(ctx), config.wsgi_max_body_size, None)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(worker_serve, app, config, sockets=sockets))
        binds_out[:] = binds
        log.info("HTTP API on %s (debug page %s/debug/open-interest)", binds[0], binds[0])
        task_status.started()
