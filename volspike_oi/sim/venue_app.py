"""What every venue simulator's quart-trio app shares: the catch-all REST route into the
simulator's framework-free `handle()` (the `/_sim/stats|faults|drop-websockets|silence|rate-limit`
control routes included), the hypercorn server around the app, and the connection-drop schedule.

Each venue's `app.py` keeps only its WebSocket protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio
from hypercorn.trio import serve as hypercorn_serve
from quart import Response, request
from quart_trio import QuartTrio

from volspike_oi.hypercorn_config import server_config
from volspike_oi.sim.clock import SimClock
from volspike_oi.sim.faults import Faults
from volspike_oi.sim.transport import SimHandler

GRACEFUL_SHUTDOWN_S = 1.0
"""A simulator's connections are the tests' own: a second is enough to close them cleanly."""


def add_rest_route(
    app: QuartTrio, sim: SimHandler, methods: Sequence[str], body_methods: Sequence[str] = ("POST",)
) -> None:
    """Route every path of `app` with `methods` to `sim.handle()`, honouring the answer's
    injected latency and hang as a slow or dead exchange would. Only `body_methods` pass their
    body on; the others pass b"" whatever the client sent."""

    @app.route("/", defaults={"path": ""}, methods=list(methods))
    @app.route("/<path:path>", methods=list(methods))
    async def rest(path: str) -> Response:
        raw = await request.get_data() if request.method in body_methods else b""
        body = raw.encode() if isinstance(raw, str) else raw
        query = {k: request.args.get(k, "") for k in request.args}
        answer = sim.handle(
            request.method, "/" + path, query, request.remote_addr or "127.0.0.1", body
        )
        if answer.hang:
            await trio.sleep_forever()
        if answer.delay_s:
            await trio.sleep(answer.delay_s)
        return Response(answer.body, status=answer.status, headers=dict(answer.headers))


async def serve_app(
    app: QuartTrio,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"]). No
    server pings: each venue's WebSocket protocol has its own heartbeat, sent by the app."""
    config = server_config(host, port, graceful_s=GRACEFUL_SHUTDOWN_S, ws_ping_interval_s=None)
    await hypercorn_serve(app, config, task_status=task_status)


def drop_period(faults: Faults, clock: SimClock, epoch_ms: int) -> int:
    """Which `ws_drop_every_s` period `epoch_ms` falls in (-1: drops are off). A connection is
    dropped when the period changes from the one it opened in."""
    every = faults.ws_drop_every_s
    return -1 if every <= 0 else int((epoch_ms - clock.start_epoch_ms) // (every * 1000))
