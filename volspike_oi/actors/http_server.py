"""HTTP server actor: the quart-trio API on hypercorn, one more actor in the service's nursery.

Runs `hypercorn.trio.serve` with our own `Config` (quart-trio's `run_task` would switch access
logging on); reports the bound URLs once it listens. Cancellation stops it.
"""

from __future__ import annotations

import functools
import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from volspike_oi.web.app import WebContext, create_app

log = logging.getLogger(__name__)

WS_PING_INTERVAL_S = 20.0
GRACEFUL_SHUTDOWN_S = 2.0


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
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(serve, create_app(ctx), config))
        binds_out[:] = binds
        log.info("HTTP API on %s (debug page %s/debug/open-interest)", binds[0], binds[0])
        task_status.started()
