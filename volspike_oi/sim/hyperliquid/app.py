"""The Hyperliquid simulator as a real HTTP + WebSocket server: a quart-trio app on hypercorn.

REST (every path, `/_sim/*` control included) goes to `HyperliquidSim.handle()`; the WebSocket
at `WS_PATH` runs one `WsSession` per connection: a reader applying client messages, a ticker
that on each whole second of trio's clock queues the pushes of the coins that changed, and a
writer draining the connection's bounded queue (never a send loop without a checkpoint,
trio-stack-facts §2a).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import websocket
from quart_trio import QuartTrio

from volspike_oi.sim.hyperliquid.exchange import (
    IDLE_CLOSE_MS,
    WS_PATH,
    HyperliquidSim,
    WsSession,
)
from volspike_oi.sim.venue_app import add_rest_route, drop_period, serve_app

log = logging.getLogger(__name__)

REST_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]
"""Every method reaches `handle()` with its body, which answers 405 to all but POST /info."""
OUTBOX_SIZE = 2048
"""Messages queued per connection (~10 s of pushes for 200 coins); a client further behind is
cut off with 1013 rather than holding the simulator."""


def create_app(sim: HyperliquidSim) -> Any:
    app = QuartTrio(__name__, static_folder=None)

    add_rest_route(app, sim, REST_METHODS, body_methods=REST_METHODS)

    @app.websocket(WS_PATH)
    async def ws() -> None:
        ip = websocket.remote_addr or "127.0.0.1"
        if not sim.open_connection(ip):
            # Refused before accept: the handshake fails, as a host that is down would.
            await websocket.close(1013, "stream service unavailable")
            return
        session = WsSession(sim, ip, last_sent_ms=sim.clock.now_ms())
        try:
            await websocket.accept()
            await _run_session(sim, session)
        finally:
            sim.close_connection(ip, len(session.coins))

    return app


async def _run_session(sim: HyperliquidSim, session: WsSession) -> None:
    clock = sim.clock
    generation = sim.ws_drop_generation
    opened_ms = clock.now_ms()

    opened_period = drop_period(sim.faults, clock, opened_ms)
    outbox_send, outbox_receive = trio.open_memory_channel[str](OUTBOX_SIZE)

    def queue(messages: list[str]) -> bool:
        if sim.silenced(clock.now_ms()):
            return True
        try:
            for message in messages:
                outbox_send.send_nowait(message)
        except trio.WouldBlock:
            return False
        return True

    closing: list[tuple[int, str]] = []

    async with trio.open_nursery() as nursery:

        def close(code: int, reason: str) -> None:
            # Stop every task first: nothing may be sent once the close is under way.
            closing.append((code, reason))
            nursery.cancel_scope.cancel()

        async def read_commands() -> None:
            while True:
                text = await websocket.receive()
                replies, keep = session.command(
                    text if isinstance(text, str) else text.decode(), clock.now_ms()
                )
                if not queue(replies):
                    close(1013, "client too slow")
                elif not keep:
                    close(1008, "Too many messages")

        async def write() -> None:
            async for message in outbox_receive:
                await websocket.send(message)
                session.last_sent_ms = clock.now_ms()
                sim.stats.ws_messages_pushed += 1

        async def tick() -> None:
            while True:
                tick_ms = (clock.now_ms() // 1000 + 1) * 1000
                await trio.sleep_until(clock.trio_time_at(tick_ms))
                dropped = sim.ws_drop_generation != generation or sim.faults.ws_down
                if dropped or drop_period(sim.faults, clock, tick_ms) != opened_period:
                    close(1001, "simulated connection drop")
                elif tick_ms - session.last_sent_ms >= IDLE_CLOSE_MS:
                    close(1000, "no message for 60 s")
                elif not queue(session.pushes(tick_ms)):
                    close(1013, "client too slow")

        nursery.start_soon(read_commands)
        nursery.start_soon(write)
        nursery.start_soon(tick)
    if closing:
        await websocket.close(*closing[0])


async def serve(
    sim: HyperliquidSim,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `sim` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"])."""
    await serve_app(create_app(sim), host, port, task_status=task_status)
