"""The simulator as a real HTTP + WebSocket server: a quart-trio app on hypercorn.

REST requests go to `BinanceSim.handle()`; WebSocket paths follow fstream.binance.com: routed
`/market/ws/<streams>` and `/market/stream?streams=a/b` deliver mark prices, the legacy
`/ws/...` and `/stream` accept subscriptions and stay silent (as Binance does since 2026-04).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from hypercorn.trio import serve
from quart import Response, request, websocket
from quart_trio import QuartTrio

from volspike_oi.hypercorn_config import server_config
from volspike_oi.sim.binance.exchange import BinanceSim
from volspike_oi.sim.binance.streams import (
    CONNECTION_LIFETIME_MS,
    MarkPriceFeed,
    StreamSession,
    parse_stream,
)

log = logging.getLogger(__name__)

SERVER_PING_INTERVAL_S = 180.0
"""Binance pings every 3 minutes."""
GRACEFUL_SHUTDOWN_S = 1.0


def create_app(sim: BinanceSim) -> Any:
    app = QuartTrio(__name__, static_folder=None)
    feed = MarkPriceFeed(sim)

    @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
    async def rest(path: str) -> Response:
        raw = await request.get_data() if request.method == "POST" else b""
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

    async def stream_connection(initial: list[str], *, routed: bool, combined: bool) -> None:
        if sim.faults.ws_down:
            # Refuse the handshake, as a host that is down for maintenance would.
            await websocket.close(1013, "stream service unavailable")
            return
        await websocket.accept()
        sim.stats.ws_connections_opened += 1
        session = StreamSession(
            routed=routed, combined=combined, streams=list(dict.fromkeys(initial))
        )
        await _run_session(sim, feed, session)

    @app.websocket("/market/ws/<path:streams>")
    async def market_raw(streams: str) -> None:
        await stream_connection(streams.split("/"), routed=True, combined=False)

    @app.websocket("/market/ws")
    async def market_raw_empty() -> None:
        await stream_connection([], routed=True, combined=False)

    @app.websocket("/market/stream")
    async def market_combined() -> None:
        names = [s for s in websocket.args.get("streams", "").split("/") if s]
        await stream_connection(names, routed=True, combined=True)

    @app.websocket("/ws/<path:streams>")
    async def legacy_raw(streams: str) -> None:
        await stream_connection(streams.split("/"), routed=False, combined=False)

    @app.websocket("/ws")
    async def legacy_raw_empty() -> None:
        await stream_connection([], routed=False, combined=False)

    @app.websocket("/stream")
    async def legacy_combined() -> None:
        names = [s for s in websocket.args.get("streams", "").split("/") if s]
        await stream_connection(names, routed=False, combined=True)

    return app


async def _run_session(sim: BinanceSim, feed: MarkPriceFeed, session: StreamSession) -> None:
    clock = sim.clock
    opened_ms = clock.now_ms()
    generation = sim.ws_drop_generation

    def drop_period(ms: int) -> int:
        every = sim.faults.ws_drop_every_s
        return -1 if every <= 0 else int((ms - clock.start_epoch_ms) // (every * 1000))

    opened_period = drop_period(opened_ms)

    async with trio.open_nursery() as nursery:

        async def read_commands() -> None:
            while True:
                text = await websocket.receive()
                if not session.note_incoming(clock.now_ms()):
                    await websocket.close(1008, "Too many requests")
                    nursery.cancel_scope.cancel()
                    return
                reply, keep = session.command(text if isinstance(text, str) else text.decode())
                if reply is not None:
                    await websocket.send(reply)
                if not keep:
                    await websocket.close(1008, "Too many subscriptions")
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(read_commands)
        while True:
            # Each tick waits on trio's clock: one checkpoint per frame batch, never a busy loop.
            tick_ms = (clock.now_ms() // 1000 + 1) * 1000
            await trio.sleep_until(clock.trio_time_at(tick_ms))
            dropped = sim.ws_drop_generation != generation or sim.faults.ws_down
            if dropped or drop_period(tick_ms) != opened_period:
                await websocket.close(1001, "simulated connection drop")
                break
            if tick_ms - opened_ms >= CONNECTION_LIFETIME_MS:
                await websocket.close(1001, "connection lifetime of 24h reached")
                break
            if not session.routed:
                continue
            for name in list(session.streams):
                stream = parse_stream(name)
                if stream is None:
                    continue
                for frame in feed.frames(stream, tick_ms, session.combined):
                    await websocket.send(frame)
                    sim.stats.ws_frames_sent += 1
        nursery.cancel_scope.cancel()


async def serve_sim(
    sim: BinanceSim,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `sim` until cancelled; reports the bound URLs (["http://127.0.0.1:PORT"])."""
    config = server_config(
        host, port, graceful_s=GRACEFUL_SHUTDOWN_S, ws_ping_interval_s=SERVER_PING_INTERVAL_S
    )
    # REST answers carry the Date of the simulated clock; hypercorn's would be the real one.
    config.include_date_header = False
    await serve(create_app(sim), config, task_status=task_status)
