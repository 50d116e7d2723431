"""The Deribit simulator as a real HTTP + WebSocket server: a quart-trio app on hypercorn.

REST (`/api/v2/...`) and the control routes (`/_sim/...`) go to `DeribitSim.handle()`; the
JSON-RPC WebSocket lives at `WS_PATH` on the same port. Each connection runs a reader (the
client's requests, answered at once) and a writer that sleeps until the next 100 ms tick on
trio's clock, then sends that tick's frames: it never loops without awaiting the clock
(hypercorn's send-after-close spin, trio-stack-facts §2a).
"""

from __future__ import annotations

from typing import Any

import trio
from quart import websocket
from quart_trio import QuartTrio

from volspike_oi.sim.deribit.exchange import TICK_MS, WS_PATH, DeribitSim, WsSession
from volspike_oi.sim.venue_app import add_rest_route, serve_app


def create_app(sim: DeribitSim) -> Any:
    app = QuartTrio(__name__, static_folder=None)

    add_rest_route(app, sim, ["GET", "POST"])

    @app.websocket(WS_PATH)
    async def ws() -> None:
        session = sim.open_session(websocket.remote_addr or "127.0.0.1")
        if session is None:
            # Host down or 32 connections from this IP: refuse the handshake.
            await websocket.close(1013, "connection refused")
            return
        try:
            await websocket.accept()
            await _run_session(sim, session)
        finally:
            sim.close_session(session)

    return app


async def _run_session(sim: DeribitSim, session: WsSession) -> None:
    clock = sim.clock
    async with trio.open_nursery() as nursery:

        async def read_requests() -> None:
            while True:
                text = await websocket.receive()
                replies, keep = session.command(
                    text if isinstance(text, str) else text.decode(), clock.now_ms()
                )
                for reply in replies:
                    await websocket.send(reply)
                if not keep:
                    await websocket.close(1000, "too_many_requests")
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(read_requests)
        while True:
            tick_ms = (clock.now_ms() // TICK_MS + 1) * TICK_MS
            await trio.sleep_until(clock.trio_time_at(tick_ms))
            frames, keep = session.tick(tick_ms)
            for frame in frames:
                await websocket.send(frame)
            if not keep:
                await websocket.close(1000, "connection closed by the server")
                break
        nursery.cancel_scope.cancel()


async def serve(
    sim: DeribitSim,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `sim` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"])."""
    await serve_app(create_app(sim), host, port, task_status=task_status)
