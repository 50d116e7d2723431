"""The Bybit simulator as a real HTTP + WebSocket server: a quart-trio app on hypercorn.

REST requests (and `/_sim/*` control) go to `BybitSim.handle()`; the public linear WebSocket is
at `WS_PATH` on the same port. Each connection runs a reader (requests → `TickerSession`) and a
writer that sleeps until the next 100 ms tick of trio's clock, then sends that tick's deltas.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import websocket
from quart_trio import QuartTrio

from volspike_oi.sim.bybit.exchange import BybitSim
from volspike_oi.sim.bybit.market import TICK_MS
from volspike_oi.sim.bybit.streams import TickerSession
from volspike_oi.sim.venue_app import add_rest_route, drop_period, serve_app

log = logging.getLogger(__name__)

WS_PATH = "/v5/public/linear"


def create_app(sim: BybitSim) -> Any:
    app = QuartTrio(__name__, static_folder=None)

    add_rest_route(app, sim, ["GET", "HEAD", "POST"])

    @app.websocket(WS_PATH)
    async def linear() -> None:
        if sim.faults.ws_down:
            # Refuse the handshake, as a host down for maintenance would.
            await websocket.close(1013, "stream service unavailable")
            return
        await websocket.accept()
        sim.stats.ws_connections_opened += 1
        sim.stats.ws_connections_open += 1
        try:
            await _run_session(sim)
        finally:
            sim.stats.ws_connections_open -= 1

    return app


async def _run_session(sim: BybitSim) -> None:
    clock = sim.clock
    opened_ms = clock.now_ms()
    session = TickerSession(sim, opened_ms)
    generation = sim.ws_drop_generation

    opened_period = drop_period(sim.faults, clock, opened_ms)

    async with trio.open_nursery() as nursery:

        async def read_requests() -> None:
            while True:
                text = await websocket.receive()
                replies = session.command(
                    text if isinstance(text, str) else text.decode(), clock.now_ms()
                )
                for reply in replies:
                    await websocket.send(reply)
                    sim.stats.ws_messages_pushed += 1

        nursery.start_soon(read_requests)
        while True:
            # One sleep on trio's clock per tick: the writer never loops without a checkpoint.
            tick_ms = (clock.now_ms() // TICK_MS + 1) * TICK_MS
            await trio.sleep_until(clock.trio_time_at(tick_ms))
            dropped = sim.ws_drop_generation != generation or sim.faults.ws_down
            if dropped or drop_period(sim.faults, clock, tick_ms) != opened_period:
                await websocket.close(1001, "simulated connection drop")
                break
            if session.idle(tick_ms):
                await websocket.close(1000, "idle: no ping and no data for 10 minutes")
                break
            for frame in session.frames(tick_ms):
                await websocket.send(frame)
                sim.stats.ws_messages_pushed += 1
        nursery.cancel_scope.cancel()


async def serve(
    sim: BybitSim,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `sim` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"])."""
    await serve_app(create_app(sim), host, port, task_status=task_status)
