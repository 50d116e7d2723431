"""The OKX simulator as a real HTTP + WebSocket server: a quart-trio app on hypercorn.

REST (and the `/_sim/*` control routes) go to `OkxSim.handle()`; the public WebSocket lives at
`WS_PATH` on the same port. Each connection runs a reader (subscribe, ping) and a writer that
wakes every 200 ms on trio's clock and sends the pushes due; it never loops without awaiting
the clock (trio-stack-facts §2a).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import websocket
from quart_trio import QuartTrio

from volspike_oi.sim.okx.exchange import OkxSim
from volspike_oi.sim.okx.streams import OkxSession
from volspike_oi.sim.venue_app import add_rest_route, drop_period, serve_app

log = logging.getLogger(__name__)

WS_PATH = "/ws/v5/public"


def create_app(sim: OkxSim) -> Any:
    app = QuartTrio(__name__, static_folder=None)

    add_rest_route(app, sim, ["GET", "POST"])

    @app.websocket(WS_PATH)
    async def public() -> None:
        if sim.faults.ws_down:
            await websocket.close(1013, "service unavailable")
            return
        await websocket.accept()
        sim.stats.ws_connections_opened += 1
        await _run_session(sim)

    return app


async def _run_session(sim: OkxSim) -> None:
    clock = sim.clock
    opened_ms = clock.now_ms()
    generation = sim.ws_drop_generation
    session = OkxSession(
        sim.market, sim.settings, f"{sim.stats.ws_connections_opened:08x}", opened_ms
    )
    tick_ms = max(1, int(sim.settings.mark_push_interval_s * 1000))

    opened_period = drop_period(sim.faults, clock, opened_ms)
    async with trio.open_nursery() as nursery:

        async def read_commands() -> None:
            while True:
                received = await websocket.receive()
                text = received if isinstance(received, str) else received.decode()
                if sim.silenced():
                    continue
                replies, keep = session.command(text, clock.now_ms())
                if text != "ping":
                    sim.stats.ws_subscribe_ops += 1
                for reply in replies:
                    await websocket.send(reply)
                if not keep:
                    await websocket.close(4004, "Requests too frequent")
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(read_commands)
        while True:
            next_ms = (clock.now_ms() // tick_ms + 1) * tick_ms
            await trio.sleep_until(clock.trio_time_at(next_ms))
            dropped = sim.ws_drop_generation != generation or sim.faults.ws_down
            if dropped or drop_period(sim.faults, clock, next_ms) != opened_period:
                await websocket.close(1001, "simulated connection drop")
                break
            if session.idle_too_long(next_ms):
                await websocket.close(4004, "No data received in 30s.")
                break
            if sim.silenced():
                continue
            for frame in session.frames(next_ms):
                await websocket.send(frame)
                sim.stats.ws_messages_pushed += 1
        nursery.cancel_scope.cancel()


async def serve(
    sim: OkxSim,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `sim` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"]); the
    WebSocket is `ws://127.0.0.1:PORT` + `WS_PATH`."""
    await serve_app(create_app(sim), host, port, task_status=task_status)
