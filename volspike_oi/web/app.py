"""The HTTP + WebSocket API (quart-trio): the existing backend's routes, health, metrics, `/ws`.

Route handlers only read published snapshots (`Service`, `WebState`) or call the store; they
never reach into an actor. Ingest is authenticated with `VOLSPIKE_API_KEY` (X-API-Key or
`Authorization: Bearer`), compared in constant time, and refused outright when no key is set.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs
import trio
from quart import Response, request, websocket
from quart_trio import QuartTrio

from volspike_oi import metrics as m
from volspike_oi.store.database import PostgresStore, WriteBatch
from volspike_oi.web import prometheus
from volspike_oi.web.hub import CHANNELS, Hub
from volspike_oi.web.ingest import IngestError, parse_alert_ingest, parse_body, parse_oi_ingest
from volspike_oi.web.state import (
    WebState,
    alert_view,
    frontend_view,
    iso,
    latest_view,
    sample_view,
    universe_view,
)

if TYPE_CHECKING:  # service.py imports this module: no runtime import back
    from volspike_oi.service import Service

log = logging.getLogger(__name__)

SAMPLES_DEFAULT_LIMIT = 100
SAMPLES_MAX_LIMIT = 5000
ALERTS_DEFAULT_LIMIT = 50
ALERTS_MAX_LIMIT = 1000
SINCE_BEFORE_S = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
WS_CLOSE_TOO_SLOW = 1013
"""'Try again later': the client fell too far behind and was cut off."""


@attrs.frozen
class WebContext:
    service: Service
    web: WebState
    hub: Hub
    store: PostgresStore | None
    api_key: str | None


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return _json(body, status)


def _authorised(api_key: str | None) -> Response | None:
    """None when the request carries the key; else the refusal to send."""
    if not api_key:
        return _error(503, "ingest is disabled: VOLSPIKE_API_KEY is not configured on this server")
    given = request.headers.get("X-API-Key", "")
    if not given:
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        return _error(401, "missing or wrong API key (X-API-Key or Authorization: Bearer)")
    return None


def _whole_number(raw: str) -> bool:
    # str.isdigit() alone accepts "²" and other digits int() refuses; 18 digits fit an int64.
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _limit(raw: str | None, default: int, cap: int) -> int:
    if raw is None or raw == "":
        return default
    if not _whole_number(raw) or int(raw) < 1:
        raise IngestError("limit", f"expected a whole number ≥ 1, got {raw!r}")
    return min(int(raw), cap)


def _symbol_param(raw: str | None, *, required: bool) -> str | None:
    if raw is None or raw == "":
        if required:
            raise IngestError("symbol", "required, e.g. ?symbol=BTCUSDT")
        return None
    if len(raw) > 40 or any(c.isspace() for c in raw) or not raw.isprintable():
        raise IngestError("symbol", f"not a symbol: {raw[:50]!r}")
    return raw.upper()


def _since(raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    if _whole_number(raw):
        since = int(raw) / 1000  # epoch milliseconds, as Binance writes times
    else:
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
        except (ValueError, OverflowError):
            raise IngestError(
                "since", f"expected epoch milliseconds or ISO 8601, got {raw[:50]!r}"
            ) from None
    if not 0 <= since < SINCE_BEFORE_S:
        raise IngestError("since", f"not between 1970 and 2099: {raw[:50]!r}")
    return since


def create_app(ctx: WebContext) -> Any:
    app = QuartTrio(__name__, static_folder=None)
    service = ctx.service

    @app.errorhandler(IngestError)
    async def bad_request(exc: IngestError) -> Response:
        return _error(400, exc.message, exc.field)

    # -- ingest (the existing backend's contract) ------------------------------------------

    @app.post("/api/market/open-interest/ingest")
    async def ingest_oi() -> Response:
        refusal = _authorised(ctx.api_key)
        if refusal is not None:
            return refusal
        universe = service.status.universe
        parsed = parse_oi_ingest(
            parse_body(await request.get_data()),
            universe.tracked if universe else None,
            now=service.clock.now(),
        )
        # Without a store every accepted item is kept (in memory); with one, `stored` counts the
        # rows that are new, so re-posting a batch (idempotent) answers stored 0, duplicates N.
        stored = len(parsed.samples)
        if ctx.store is not None and parsed.samples:
            try:
                stored = await ctx.store.write(WriteBatch(samples=parsed.samples))
            except Exception as exc:
                log.warning("ingest not stored: %s", exc)
                return _error(503, "database unavailable: nothing was stored; retry later")
        now = service.clock.now()
        for sample in parsed.samples:
            ctx.web.record(sample)
        ctx.hub.publish_oi(sample_view(s, now) for s in parsed.samples)
        return _json(
            {
                "stored": stored,
                "duplicates": len(parsed.samples) - stored,
                "rejected": [attrs.asdict(r) for r in parsed.rejected],
                "received": len(parsed.samples) + len(parsed.rejected),
                "totalSymbols": parsed.total_symbols,
            }
        )

    @app.post("/api/open-interest-alerts/ingest")
    async def ingest_alert() -> Response:
        refusal = _authorised(ctx.api_key)
        if refusal is not None:
            return refusal
        alert = parse_alert_ingest(parse_body(await request.get_data()), now=service.clock.now())
        if ctx.store is not None:
            try:
                await ctx.store.write(WriteBatch(alerts=[alert]))
            except Exception as exc:
                log.warning("alert ingest not stored: %s", exc)
                return _error(503, "database unavailable: nothing was stored; retry later")
        service.alerts.recent.append(alert)
        ctx.hub.publish("alerts", "open_interest_alert", alert_view(alert), symbol=alert.symbol)
        return _json({"stored": 1, "alert": alert_view(alert)})

    # -- reads ------------------------------------------------------------------------------

    @app.get("/api/market/open-interest")
    async def frontend_cache() -> Response:
        return _json(frontend_view(ctx.web, service.clock.now()))

    @app.get("/api/market/open-interest/latest")
    async def latest() -> Response:
        return _json(latest_view(ctx.web, service.clock.now()))

    @app.get("/api/market/open-interest/liquid-universe")
    async def liquid_universe() -> Response:
        poller = service.poller
        return _json(
            universe_view(service.status.universe, poller.plan, poller.achieved_interval_s())
        )

    @app.get("/api/market/open-interest/samples")
    async def samples() -> Response:
        symbol = _symbol_param(request.args.get("symbol"), required=True)
        assert symbol is not None
        limit = _limit(request.args.get("limit"), SAMPLES_DEFAULT_LIMIT, SAMPLES_MAX_LIMIT)
        since = _since(request.args.get("since"))
        if ctx.store is not None:
            rows = await ctx.store.samples(symbol, since, limit)
        else:
            history = service.alerts.histories.get(symbol)
            points = [] if history is None else history.since(since or 0.0)[-limit:]
            rows = [{"ts": iso(t), "openInterest": oi} for t, oi in reversed(points)]
        return _json({"symbol": symbol, "count": len(rows), "samples": rows})

    @app.get("/api/open-interest-alerts")
    async def alerts() -> Response:
        symbol = _symbol_param(request.args.get("symbol"), required=False)
        limit = _limit(request.args.get("limit"), ALERTS_DEFAULT_LIMIT, ALERTS_MAX_LIMIT)
        if ctx.store is not None:
            rows = await ctx.store.alerts(symbol, limit)
        else:
            recent = [
                a for a in reversed(service.alerts.recent) if symbol is None or a.symbol == symbol
            ]
            rows = [alert_view(a) for a in recent[:limit]]
        return _json({"count": len(rows), "alerts": rows})

    # -- operations -------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> Response:
        successes = _last_successes(service)
        actors = {
            name: {
                "state": h.state,
                "critical": h.critical,
                "restarts": h.restarts,
                "lastError": h.last_error or None,
                "lastSuccessAt": iso(at) if (at := successes.get(name)) else None,
            }
            for name, h in service.health.items()
        }
        down = [
            n
            for n, h in service.health.items()
            if h.critical and h.state not in ("running", "disabled")
        ]
        now = service.clock.now()
        body = {
            "status": "down" if down else "ok",
            "down": down,
            "actors": actors,
            "lastPollAt": iso(max(service.poller.last_poll_at.values()))
            if service.poller.last_poll_at
            else None,
            "store": None
            if ctx.store is None
            else {
                "buffered": service.writer.buffered,
                "dropped": service.writer.dropped,
                "lastWriteAt": iso(service.writer.last_write_at)
                if service.writer.last_write_at
                else None,
                "downSince": iso(service.writer.down_since) if service.writer.down_since else None,
            },
            "budget": {
                "holdSeconds": max(0.0, service.budget.hold_until - now),
                "serverWeight": service.budget.last_server_used,
                "weightLimit": service.budget.ip_limit_per_min,
            },
            "status_line": service.status.line,
        }
        return _json(body, 503 if down else 200)

    @app.get("/metrics")
    async def metrics_text() -> Response:
        text = prometheus.render(service, ctx.hub)
        return Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/openapi.json")
    async def openapi() -> Response:
        from volspike_oi.web.openapi import SPEC

        return _json(SPEC)

    @app.get("/debug/open-interest")
    async def debug_page() -> Response:
        html = resources.files("volspike_oi.web").joinpath("static/debug.html").read_text("utf-8")
        return Response(html, content_type="text/html; charset=utf-8")

    @app.get("/debug/status")
    async def debug_status() -> Response:
        """One JSON for the debug page: status figures, health and the budget."""
        return _json(
            {
                "status": service.status.last_minute,
                "line": service.status.line,
                "metrics": service.metrics.snapshot(),
                "wsClients": len(ctx.hub.subscribers),
            }
        )

    # -- live feed --------------------------------------------------------------------------

    @app.websocket("/ws")
    async def live() -> None:
        await websocket.accept()
        subscriber, outbound = ctx.hub.subscribe()
        service.metrics.inc(m.WS_CONNECTIONS)
        try:
            async with trio.open_nursery() as nursery:

                async def read_ops() -> None:
                    while True:
                        raw = await websocket.receive()
                        reply = _apply_op(subscriber, raw)
                        if reply is not None:
                            ctx.hub.send_to(subscriber, reply)

                nursery.start_soon(read_ops)
                # Each receive is a checkpoint: this loop can never spin (trio-stack-facts §2a).
                async for message in outbound:
                    await websocket.send(message)
                if subscriber.dropped:
                    await websocket.close(WS_CLOSE_TOO_SLOW, "client too slow: cut off, reconnect")
                nursery.cancel_scope.cancel()
        finally:
            ctx.hub.unsubscribe(subscriber)

    return app


def _last_successes(service: Service) -> dict[str, float | None]:
    """Each actor's last success, read from what it publishes (no actor reports to /health)."""
    universe = service.status.universe
    histories = service.alerts.histories.values()
    book = service.book
    mark = max(book.last_stream_frame_at, book.last_rest_refresh_at)
    last_poll = max(service.poller.last_poll_at.values(), default=None)
    return {
        "exchange_info": universe.classified_at if universe else None,
        "classifier": universe.classified_at if universe else None,
        "oi_poller": last_poll,
        "mark_prices": mark if mark > 0 else None,
        "alert_evaluator": max((h.latest_time() for h in histories if len(h)), default=None),
        "store_writer": service.writer.last_write_at,
        "web_feed": last_poll,
    }


def _apply_op(subscriber: Any, raw: str | bytes) -> str | None:
    """A client message; returns the reply (subscription acknowledged, or an error)."""
    try:
        op = json.loads(raw)
    except ValueError:
        return json.dumps({"event": "error", "error": "message is not JSON"})
    if not isinstance(op, dict) or op.get("op") not in ("subscribe", "ping"):
        return json.dumps({"event": "error", "error": 'expected {"op": "subscribe", ...}'})
    if op["op"] == "ping":
        return json.dumps({"event": "pong"})
    channels = op.get("channels", sorted(CHANNELS))
    if not isinstance(channels, list) or not channels or not set(channels) <= CHANNELS:
        return json.dumps(
            {
                "event": "error",
                "field": "channels",
                "error": f"expected a list from {sorted(CHANNELS)}",
            }
        )
    symbols = op.get("symbols")
    if symbols is not None and (
        not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols)
    ):
        return json.dumps(
            {"event": "error", "field": "symbols", "error": "expected a list of symbols"}
        )
    subscriber.channels = frozenset(channels)
    subscriber.symbols = None if symbols is None else frozenset(s.upper() for s in symbols)
    return json.dumps(
        {
            "event": "subscribed",
            "channels": sorted(subscriber.channels),
            "symbols": None if subscriber.symbols is None else sorted(subscriber.symbols),
        }
    )
