"""HTTP server actor: the quart-trio API on hypercorn, one more actor in the service's nursery.

Runs hypercorn's trio worker with our own `Config` (quart-trio's `run_task` would switch access
logging on) on sockets we create, so they carry TCP_USER_TIMEOUT, and reports the bound URLs
through `task_status.started(binds)` once it listens. It stops through hypercorn's
`shutdown_trigger`: when `stop` is set it stops accepting and gives in-flight requests
`GRACEFUL_SHUTDOWN_S` to finish, then returns (the service cancels the other actors after it).
"""

from __future__ import annotations

import functools
import logging

import trio
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from volspike_oi.hypercorn_config import (
    TCP_USER_TIMEOUT_MS as DEFAULT_TCP_USER_TIMEOUT_MS,
)
from volspike_oi.hypercorn_config import listening_sockets, server_config
from volspike_oi.web.app import create_app
from volspike_oi.web.handle import WebHandle

log = logging.getLogger(__name__)

WS_PING_INTERVAL_S: float | None = 20.0
GRACEFUL_SHUTDOWN_S = 2.0
TCP_USER_TIMEOUT_MS = DEFAULT_TCP_USER_TIMEOUT_MS
"""Why: `hypercorn_config.TCP_USER_TIMEOUT_MS`. Read at start, so a test can shorten it."""


async def run(
    handle: WebHandle,
    host: str,
    port: int,
    *,
    stop: trio.Event,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    config = server_config(
        host, port, graceful_s=GRACEFUL_SHUTDOWN_S, ws_ping_interval_s=WS_PING_INTERVAL_S
    )
    sockets = listening_sockets(config, user_timeout_ms=TCP_USER_TIMEOUT_MS)
    app = wrap_app(create_app(handle), config.wsgi_max_body_size, None)
    serve = functools.partial(
        worker_serve, app, config, sockets=sockets, shutdown_trigger=stop.wait
    )
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve)
        log.info("HTTP API on %s (debug page %s/debug/open-interest)", binds[0], binds[0])
        task_status.started(binds)
    log.info("HTTP API stopped")
