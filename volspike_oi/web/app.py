"""The HTTP + WebSocket API (quart-trio): the existing backend's routes, health, metrics, `/ws`.

Routes read published snapshots through the `WebHandle` and call the store; what clients post is
stored, then handed to the web feed as an `Ingested` message (the feed owns the served state).
Ingest is authenticated with `VOLSPIKE_API_KEY` (X-API-Key or `Authorization: Bearer`),
compared in constant time, and refused outright when no key is set. GET routes answer CORS for
ALLOWED_ORIGINS and `/ws` refuses a browser from any other origin (`cors.py`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable
from importlib import resources
from typing import Any, TypeVar

import trio
from quart import Response, request, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from volspike_oi import metrics as m
from volspike_oi.messages import Ingested
from volspike_oi.store.protocol import WriteBatch
from volspike_oi.venues.model import VenueName
from volspike_oi.views import (
    Alerts,
    AssetsView,
    LatestOpenInterest,
    OiStoredSample,
    Samples,
    alert_view,
    asset_detail_view,
    asset_summary_view,
    frontend_view,
    iso,
    latest_view,
    sample_view,
    universe_view,
)
from volspike_oi.web import prometheus
from volspike_oi.web.contract import (
    ALERTS_DEFAULT_LIMIT,
    ALERTS_MAX_LIMIT,
    SAMPLES_DEFAULT_LIMIT,
    SAMPLES_MAX_LIMIT,
    WS_CLOSE_TOO_SLOW,
    WS_REFUSED_ORIGIN_STATUS,
)
from volspike_oi.web.cors import cors_headers, websocket_origin_allowed
from volspike_oi.web.errors import ApiError, BadRequest
from volspike_oi.web.handle import WebHandle
from volspike_oi.web.health import health_view
from volspike_oi.web.ingest import (
    OiAlertIngestResult,
    OiIngestResult,
    parse_alert_ingest,
    parse_body,
    parse_oi_ingest,
)
from volspike_oi.web.openapi import SPEC
from volspike_oi.web.query import (
    parse_asset,
    parse_limit,
    parse_since,
    parse_symbol,
    parse_venue,
    venue_symbol,
)
from volspike_oi.web.venues import venues_view
from volspike_oi.web.ws_ops import apply_op
from volspike_oi.wire import ABSENT, to_json

log = logging.getLogger(__name__)

T = TypeVar("T")

BODY_TIMEOUT_S = 30.0
"""Longest wait for a request body (quart's BODY_TIMEOUT, 60 s by default); past it the answer
is 408 and the connection is closed. Slow headers are bounded by hypercorn's keep-alive timeout
(`hypercorn_config.READ_TIMEOUT`)."""
APPLY_TIMEOUT_S = 5.0
"""How long an ingest waits for the web feed to serve what it posted (it normally takes
microseconds); past it the answer goes out anyway, the data being stored."""


def _json(body: Any, status: int = 200) -> Response:
    """`body` (a view value or plain JSON data) as the JSON answer."""
    return Response(json.dumps(to_json(body)), status=status, content_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> Response:
    return _json(ApiError(message, ABSENT if field is None else field), status)


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


async def _hand_to_feed(handle: WebHandle, ingested: Ingested) -> None:
    await handle.ingest.send(ingested)
    with trio.move_on_after(APPLY_TIMEOUT_S) as waited:
        await ingested.applied.wait()
    if waited.cancelled_caught:
        log.warning("the web feed did not take an ingest within %.0f s", APPLY_TIMEOUT_S)


def _unknown_symbol(symbol: str) -> Response:
    return _error(
        404, f"unknown symbol {symbol}: neither tracked nor stored (is it spelled right?)", "symbol"
    )


async def _known(handle: WebHandle, symbol: str, venue: VenueName = "binance") -> bool:
    """Tracked in the current universe, or with readings here or in the store: a symbol we know
    answers 200 even without data, so only a typo gets a 404."""
    web = handle.web
    if venue != "binance":
        if symbol in web.venues.get(venue, {}):
            return True
    else:
        universe = handle.status.universe
        if universe is not None and symbol in universe.tracked:
            return True
        if symbol in web.realtime or symbol in web.snapshot or symbol in handle.alerts.histories:
            return True
    if handle.store is None:
        return False
    try:
        return bool(await handle.store.samples(symbol, None, 1, venue))
    except Exception as exc:  # the database may be down: not knowing is not "unknown"
        log.warning("could not look up %s in the store: %s", symbol, exc)
        return True


def _too_large(cap: int) -> Response:
    return _error(413, f"request body too large: at most {cap} bytes (HTTP_MAX_BODY_BYTES)", "$")


class StoreUnavailable(Exception):
    """A read the route needs failed in the database: answered 503 with the reason."""


async def _read(query: Awaitable[T]) -> T:
    """A store read; a database that is down or refusing is a 503, not a 500."""
    try:
        return await query
    except Exception as exc:
        log.warning("store read failed: %s", exc)
        raise StoreUnavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def create_app(handle: WebHandle) -> Any:
    app = QuartTrio(__name__, static_folder=None)

    @app.errorhandler(StoreUnavailable)
    async def store_unavailable(exc: StoreUnavailable) -> Response:
        return _error(503, f"database unavailable, retry later: {exc}")

    # quart refuses a body over the cap: at once when Content-Length says so (the body is never
    # read), else as soon as a chunked body passes it (the rest is discarded as it arrives).
    app.config["MAX_CONTENT_LENGTH"] = handle.max_body_bytes
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S

    @app.errorhandler(BadRequest)
    async def bad_request(exc: BadRequest) -> Response:
        return _error(400, exc.message, exc.field)

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(exc: RequestEntityTooLarge) -> Response:
        return _too_large(handle.max_body_bytes)

    @app.errorhandler(RequestTimeout)
    async def body_too_slow(exc: RequestTimeout) -> Response:
        return _error(408, f"request body not received within {BODY_TIMEOUT_S:.0f} s", "$")

    @app.before_request
    async def body_size() -> Response | None:
        # Before the key is checked and before a byte of the body is read.
        length = request.content_length
        if length is not None and length > handle.max_body_bytes:
            return _too_large(handle.max_body_bytes)
        return None

    @app.after_request
    async def finish_body(response: Response) -> Response:
        """Read what is left of the request body before answering, or close the connection.

        An answer sent before the body was read (a 401 refused on its headers, say) ends quart's
        ASGI request while the client is still sending: hypercorn then closes the keep-alive
        connection under a client that believes it reusable, and a requests.Session posting
        through it hung for its timeout on the next request (issue 9 point 9: 9 of 150 pairs).
        Draining here keeps the connection, bounded by the size cap and BODY_TIMEOUT_S; a body
        over the cap (413) or too slow (408) is not drained but answered `Connection: close`, so
        the client opens a new connection instead of waiting on this one.
        """
        try:
            await request.get_data(cache=False)
        except (RequestEntityTooLarge, RequestTimeout):
            response.headers["Connection"] = "close"
        return response

    @app.after_request
    async def cors(response: Response) -> Response:
        # Runs for quart's automatic OPTIONS answers too, so preflights need no route of ours.
        rule = request.url_rule
        response.headers.update(
            cors_headers(
                request.headers.get("Origin"),
                handle.allowed_origins,
                route_methods=() if rule is None else (rule.methods or ()),
                preflight_headers=request.headers.get("Access-Control-Request-Headers"),
                preflight=request.method == "OPTIONS"
                and "Access-Control-Request-Method" in request.headers,
            )
        )
        return response

    @app.before_websocket
    async def websocket_origin() -> Response | None:
        origin = websocket.headers.get("Origin")
        if websocket_origin_allowed(origin, handle.allowed_origins, host=websocket.host):
            return None
        # Returned before accept: the handshake is answered 403 and no WebSocket opens.
        return _error(WS_REFUSED_ORIGIN_STATUS, f"origin {origin} is not allowed", "Origin")

    # -- ingest (the existing backend's contract) ------------------------------------------

    @app.post("/api/market/open-interest/ingest")
    async def ingest_oi() -> Response:
        refusal = _authorised(handle.api_key)
        if refusal is not None:
            return refusal
        universe = handle.status.universe
        parsed = parse_oi_ingest(
            parse_body(await request.get_data()),
            universe.tracked if universe else None,
            now=handle.clock.now(),
        )
        # Without a store every accepted item is kept (in memory); with one, `stored` counts the
        # rows that are new, so re-posting a batch (idempotent) answers stored 0, duplicates N.
        stored = len(parsed.samples)
        if handle.store is not None and parsed.samples:
            try:
                stored = await handle.store.write(WriteBatch(samples=parsed.samples))
            except Exception as exc:
                log.warning("ingest not stored: %s", exc)
                return _error(503, "database unavailable: nothing was stored; retry later")
        if parsed.samples:
            await _hand_to_feed(handle, Ingested(samples=tuple(parsed.samples)))
        return _json(
            OiIngestResult(
                stored=stored,
                duplicates=len(parsed.samples) - stored,
                rejected=parsed.rejected,
                received=len(parsed.samples) + len(parsed.rejected),
                total_symbols=parsed.total_symbols,
            )
        )

    @app.post("/api/open-interest-alerts/ingest")
    async def ingest_alert() -> Response:
        refusal = _authorised(handle.api_key)
        if refusal is not None:
            return refusal
        alert = parse_alert_ingest(parse_body(await request.get_data()), now=handle.clock.now())
        if handle.store is not None:
            try:
                await handle.store.write(WriteBatch(alerts=[alert]))
            except Exception as exc:
                log.warning("alert ingest not stored: %s", exc)
                return _error(503, "database unavailable: nothing was stored; retry later")
        await _hand_to_feed(handle, Ingested(alerts=(alert,)))
        return _json(OiAlertIngestResult(1, alert_view(alert)))

    # -- reads ------------------------------------------------------------------------------

    @app.get("/api/market/open-interest")
    async def frontend_cache() -> Response:
        return _json(frontend_view(handle.web, handle.clock.now()))

    @app.get("/api/market/open-interest/latest")
    async def latest() -> Response:
        now = handle.clock.now()
        venue = parse_venue(request.args.get("venue"))
        if "symbol" not in request.args:
            return _json(latest_view(handle.web, now, venue))
        # Given, it must name a symbol: `?symbol=` is a mistake, not "every symbol".
        symbol = venue_symbol(request.args["symbol"], venue, handle.web.venues.get(venue, {}))
        if not await _known(handle, symbol, venue):
            return _unknown_symbol(symbol)
        reading = handle.web.venue_latest(venue, now).get(symbol)
        rows = [] if reading is None else [sample_view(reading, now)]
        return _json(LatestOpenInterest(rows, len(rows), iso(now)))

    @app.get("/api/market/open-interest/venues")
    async def venues() -> Response:
        return _json(venues_view(handle))

    @app.get("/api/market/open-interest/assets")
    async def assets() -> Response:
        now = handle.clock.now()
        state = handle.assets
        # Recomputed at `now`: ages and staleness as of this answer, not of the last push.
        fresh = [state.book.total(a, now, state.stale_after_s) for a in list(state.totals)]
        totals = sorted((t for t in fresh if t is not None), key=lambda t: (-t.usd, t.asset))
        rows = [asset_summary_view(t, state.series.get(t.asset), now) for t in totals]
        return _json(AssetsView(rows, len(rows), iso(now)))

    @app.get("/api/market/open-interest/assets/<asset>")
    async def asset(asset: str) -> Response:
        state = handle.assets
        name = parse_asset(asset, state.totals)
        now = handle.clock.now()
        total = state.book.total(name, now, state.stale_after_s) if name in state.totals else None
        if total is None:
            return _error(404, f"unknown asset {name}: no venue lists it", "asset")
        return _json(asset_detail_view(total, state.series.get(name), now))

    @app.get("/api/market/open-interest/liquid-universe")
    async def liquid_universe() -> Response:
        poller = handle.poller
        return _json(
            universe_view(handle.status.universe, poller.plan, poller.achieved_interval_s())
        )

    @app.get("/api/market/open-interest/samples")
    async def samples() -> Response:
        venue = parse_venue(request.args.get("venue"))
        symbol = venue_symbol(request.args.get("symbol"), venue, handle.web.venues.get(venue, {}))
        limit = parse_limit(request.args.get("limit"), SAMPLES_DEFAULT_LIMIT, SAMPLES_MAX_LIMIT)
        since = parse_since(request.args.get("since"))
        if handle.store is not None:
            rows = await _read(handle.store.samples(symbol, since, limit, venue))
        elif venue != "binance":
            rows = []  # another venue's history is kept only in the store
        else:
            history = handle.alerts.histories.get(symbol)
            points = [] if history is None else history.since(since or 0.0)[-limit:]
            rows = [OiStoredSample(iso(t), oi) for t, oi in reversed(points)]
        if not rows and not await _known(handle, symbol, venue):
            return _unknown_symbol(symbol)
        return _json(Samples(symbol, len(rows), rows))

    @app.get("/api/open-interest-alerts")
    async def alerts() -> Response:
        symbol = parse_symbol(request.args.get("symbol"), required=False)
        limit = parse_limit(request.args.get("limit"), ALERTS_DEFAULT_LIMIT, ALERTS_MAX_LIMIT)
        if handle.store is not None:
            rows = await _read(handle.store.alerts(symbol, limit))
        else:
            recent = [
                a
                for a in reversed(handle.web.recent_alerts)
                if symbol is None or a.symbol == symbol
            ]
            rows = [alert_view(a) for a in recent[:limit]]
        return _json(Alerts(len(rows), rows))

    # -- operations -------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> Response:
        body, status = health_view(handle)
        return _json(body, status)

    @app.get("/metrics")
    async def metrics_text() -> Response:
        text = prometheus.render(handle)
        return Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/openapi.json")
    async def openapi() -> Response:
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
                "status": handle.status.last_minute,
                "line": handle.status.line,
                "metrics": handle.metrics.snapshot(),
                "wsClients": len(handle.hub.subscribers),
            }
        )

    # -- live feed --------------------------------------------------------------------------

    @app.get("/ws")
    async def live_without_upgrade() -> Response:
        """A plain GET (no WebSocket upgrade): say what to do instead of a bare 400."""
        return _error(426, "upgrade to a WebSocket: GET /ws with Upgrade: websocket")

    @app.websocket("/ws")
    async def live() -> None:
        await websocket.accept()
        subscriber, outbound = handle.hub.subscribe()
        handle.metrics.inc(m.WS_CONNECTIONS)
        try:
            async with trio.open_nursery() as nursery:

                async def read_ops() -> None:
                    while True:
                        reply = apply_op(subscriber, await websocket.receive())
                        if reply is not None:
                            handle.hub.send_to(subscriber, reply)

                nursery.start_soon(read_ops)
                # Each receive is a checkpoint: this loop can never spin (trio-stack-facts §2a).
                async for message in outbound:
                    await websocket.send(message)
                if subscriber.dropped:
                    await websocket.close(WS_CLOSE_TOO_SLOW, "client too slow: cut off, reconnect")
                nursery.cancel_scope.cancel()
        finally:
            handle.hub.unsubscribe(subscriber)

    return app
