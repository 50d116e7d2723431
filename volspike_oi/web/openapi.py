"""The HTTP and WebSocket contract as an OpenAPI 3.1 document, served at `GET /openapi.json`.

`SPEC` is plain JSON data built from the same constants the handlers use (limits, channels,
sources), so a changed limit changes the document. Every body is a named schema under
`components/schemas`: `volspike_oi.web.typescript` turns those into the frontend's types.
"""

from __future__ import annotations

from typing import Any

from volspike_oi import __version__
from volspike_oi.venues.model import VENUES
from volspike_oi.web.contract import (
    ALERTS_DEFAULT_LIMIT,
    ALERTS_MAX_LIMIT,
    DEFAULT_WS_CHANNELS,
    DEFAULT_WS_VENUES,
    SAMPLES_DEFAULT_LIMIT,
    SAMPLES_MAX_LIMIT,
    WS_BATCH_S,
    WS_CLIENT_QUEUE,
    WS_CLOSE_TOO_SLOW,
    WS_HEARTBEAT_S,
    WS_REFUSED_ORIGIN_STATUS,
)
from volspike_oi.web.json_schema import Schema, ref
from volspike_oi.web.query import MAX_WHOLE_NUMBER, SINCE_MS_DIGITS
from volspike_oi.web.schemas import SCHEMAS, SYMBOL


def _json_body(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(name: str, description: str = "OK") -> Schema:
    return _json_body(ref(name), description)


def _response(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


RESPONSES: dict[str, Schema] = {
    "BadRequest": _json_body(
        ref("ApiError"),
        "The request is malformed; `field` names the culprit. Nothing was stored.",
    ),
    "Unauthorized": _json_body(
        ref("ApiError"), "Missing or wrong API key (X-API-Key or Authorization: Bearer)."
    ),
    "UnknownSymbol": _json_body(
        ref("ApiError"),
        "No such symbol: neither tracked now nor ever stored. `field` is `symbol` and `error` "
        "names it, so a typo is not mistaken for 'no data yet'.",
    ),
    "UnknownAsset": _json_body(
        ref("ApiError"),
        "No venue lists this asset (now): `field` is `asset` and `error` names it.",
    ),
    "PayloadTooLarge": _json_body(
        ref("ApiError"),
        "The body is larger than the server's HTTP_MAX_BODY_BYTES (8 MiB by default): answered "
        "before it is read, with `Connection: close`. Nothing was stored.",
    ),
    "ReadUnavailable": _json_body(
        ref("ApiError"),
        "The database this read needs is down or refusing; `error` says why. Retry later.",
    ),
    "IngestUnavailable": _json_body(
        ref("ApiError"),
        "Ingest is disabled (no VOLSPIKE_API_KEY on the server), or the database refused the "
        "write. Nothing was stored; retry later.",
    ),
}


SINCE: Schema = {
    "anyOf": [
        {"type": "string", "pattern": f"^[0-9]{{1,{SINCE_MS_DIGITS}}}$"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
    ]
}
"""Epoch milliseconds or an RFC 3339 time or date; any year (a lower bound before the first
reading means all of them, after the last none)."""


def _limit(default: int, cap: int) -> Schema:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"How many rows (default {default}); larger values are served as {cap}.",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_WHOLE_NUMBER,
            "default": default,
        },
    }


VENUE_QUERY: Schema = {
    "name": "venue",
    "in": "query",
    "required": False,
    "description": "The venue (binance when absent, as before there were venues).",
    "schema": {"type": "string", "enum": list(VENUES), "default": "binance"},
}


def _symbol_query(*, required: bool, description: str) -> Schema:
    return {
        "name": "symbol",
        "in": "query",
        "required": required,
        "description": description,
        "schema": {k: v for k, v in SYMBOL.items() if k != "description"},
    }


INGEST_SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]

LEGACY_SNAPSHOT_EXAMPLE: Schema = {
    "data": [
        {
            "symbol": "BTCUSDT",
            "openInterest": 123456.789,
            "openInterestUsd": 12700000000.50,
            "markPrice": 102999.90,
        }
    ],
    "timestamp": "2025-11-06T12:05:00Z",
    "totalSymbols": 250,
}
"""Seed 000's "Digital Ocean → Backend" payload."""
REALTIME_BATCH_EXAMPLE: Schema = {
    "data": [
        {
            "symbol": "BTCUSDT",
            "openInterest": 123456.0,
            "openInterestUsd": 7890000.0,
            "markPrice": 64000.0,
            "source": "realtime",
        }
    ],
    "timestamp": "2025-12-01T12:34:56Z",
    "totalSymbols": 150,
}
"""Seed 001 §4.4's realtime batch."""
ALERT_EXAMPLE: Schema = {
    "symbol": "BTCUSDT",
    "direction": "UP",
    "baseline": 150000.0,
    "current": 165000.0,
    "pctChange": 0.1,
    "absChange": 15000.0,
    "timestamp": "2025-12-01T12:34:56Z",
    "source": "oi_realtime_poller",
}
"""Seed 001 §5.3's alert payload."""


PATHS: dict[str, Schema] = {
    "/api/market/open-interest/ingest": {
        "post": {
            "operationId": "ingestOpenInterest",
            "tags": ["ingest"],
            "summary": "Store a batch of open interest readings (legacy snapshot or realtime).",
            "description": "Malformed bodies are refused whole (400). Well-formed items that "
            "cannot be used are listed in `rejected` with their reason; the others are stored "
            "and pushed to WebSocket clients.",
            "security": INGEST_SECURITY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": ref("LegacyOiSnapshotIngest"),
                        "examples": {
                            "legacySnapshot": {"value": LEGACY_SNAPSHOT_EXAMPLE},
                            "realtimeBatch": {"value": REALTIME_BATCH_EXAMPLE},
                        },
                    }
                },
            },
            "responses": {
                "200": _ok("OiIngestResult", "Stored what could be stored."),
                "400": _response("BadRequest"),
                "401": _response("Unauthorized"),
                "413": _response("PayloadTooLarge"),
                "503": _response("IngestUnavailable"),
            },
        }
    },
    "/api/open-interest-alerts/ingest": {
        "post": {
            "operationId": "ingestOpenInterestAlert",
            "tags": ["ingest", "alerts"],
            "summary": "Store an open interest spike/dump alert and push it to clients.",
            "security": INGEST_SECURITY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": ref("OiAlertIngest"),
                        "examples": {"alert": {"value": ALERT_EXAMPLE}},
                    }
                },
            },
            "responses": {
                "200": _ok("OiAlertIngestResult", "Stored."),
                "400": _response("BadRequest"),
                "401": _response("Unauthorized"),
                "413": _response("PayloadTooLarge"),
                "503": _response("IngestUnavailable"),
            },
        }
    },
    "/api/market/open-interest": {
        "get": {
            "operationId": "getOpenInterestCache",
            "tags": ["market"],
            "summary": "USD open interest of every symbol, as the frontend reads it.",
            "responses": {"200": _ok("FrontendOpenInterest")},
        }
    },
    "/api/market/open-interest/latest": {
        "get": {
            "operationId": "getLatestOpenInterest",
            "tags": ["market"],
            "summary": "The latest reading of every symbol (or of one), with prices, times and "
            "source.",
            "parameters": [
                VENUE_QUERY,
                _symbol_query(
                    required=False,
                    description="Only this symbol (the venue's own name): `data` holds its fresh "
                    "reading, or nothing while it has none; an unknown symbol is a 404.",
                ),
            ],
            "responses": {
                "200": _ok("LatestOpenInterest"),
                "400": _response("BadRequest"),
                "404": _response("UnknownSymbol"),
            },
        }
    },
    "/api/market/open-interest/venues": {
        "get": {
            "operationId": "getVenues",
            "tags": ["market"],
            "summary": "Every venue: state, symbols, measured update cadence, last update, errors.",
            "responses": {"200": _ok("Venues")},
        }
    },
    "/api/market/open-interest/assets": {
        "get": {
            "operationId": "getAssets",
            "tags": ["market"],
            "summary": "Every asset summed across its fresh venues (coin and USD), largest first.",
            "responses": {"200": _ok("Assets")},
        }
    },
    "/api/market/open-interest/assets/{asset}": {
        "get": {
            "operationId": "getAsset",
            "tags": ["market"],
            "summary": "One asset: each venue's coin, USD and share, stale venues, the last hour.",
            "parameters": [
                {
                    "name": "asset",
                    "in": "path",
                    "required": True,
                    "description": "The canonical asset, e.g. BTC (any case).",
                    "schema": {k: v for k, v in SYMBOL.items() if k != "description"},
                }
            ],
            "responses": {
                "200": _ok("AssetDetail"),
                "400": _response("BadRequest"),
                "404": _response("UnknownAsset"),
            },
        }
    },
    "/api/market/open-interest/liquid-universe": {
        "get": {
            "operationId": "getLiquidUniverse",
            "tags": ["market"],
            "summary": "The liquid symbols polled in realtime, thresholds and intervals.",
            "responses": {"200": _ok("LiquidUniverse")},
        }
    },
    "/api/market/open-interest/samples": {
        "get": {
            "operationId": "getOpenInterestSamples",
            "tags": ["market"],
            "summary": "Recent readings of one symbol, newest first.",
            "parameters": [
                VENUE_QUERY,
                _symbol_query(
                    required=True,
                    description="The venue's symbol, e.g. BTCUSDT (binance), BTC-USDT-SWAP (okx).",
                ),
                _limit(SAMPLES_DEFAULT_LIMIT, SAMPLES_MAX_LIMIT),
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "description": "Only readings from this time on: epoch milliseconds "
                    "(1764592496000) or ISO 8601 (2025-12-01T12:34:56Z; UTC when no offset).",
                    "schema": SINCE,
                },
            ],
            "responses": {
                "200": _ok("Samples"),
                "400": _response("BadRequest"),
                "404": _response("UnknownSymbol"),
                "503": _response("ReadUnavailable"),
            },
        }
    },
    "/api/open-interest-alerts": {
        "get": {
            "operationId": "getOpenInterestAlerts",
            "tags": ["alerts"],
            "summary": "Recent open interest alerts, newest first.",
            "parameters": [
                _symbol_query(required=False, description="Only this symbol's alerts."),
                _limit(ALERTS_DEFAULT_LIMIT, ALERTS_MAX_LIMIT),
            ],
            "responses": {
                "200": _ok("Alerts"),
                "400": _response("BadRequest"),
                "503": _response("ReadUnavailable"),
            },
        }
    },
    "/health": {
        "get": {
            "operationId": "getHealth",
            "tags": ["operations"],
            "summary": "Actors, store, request budget and the reasons the service is degraded or "
            "down; 503 when a critical actor is down.",
            "responses": {
                "200": _ok("Health", "Every critical actor runs (status ok or degraded)."),
                "503": _ok("Health", "A critical actor is down (listed in `down`)."),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "getMetrics",
            "tags": ["operations"],
            "summary": "Prometheus text exposition.",
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "tags": ["operations"],
            "summary": "This document.",
            "responses": {
                "200": _json_body(
                    {"type": "object", "additionalProperties": True}, "OpenAPI 3.1 document."
                )
            },
        }
    },
    "/debug/open-interest": {
        "get": {
            "operationId": "getDebugPage",
            "tags": ["debug"],
            "summary": "The debug page (HTML).",
            "responses": {
                "200": {
                    "description": "A self-contained HTML page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/debug/status": {
        "get": {
            "operationId": "getDebugStatus",
            "tags": ["debug"],
            "summary": "Status figures, counters and WebSocket clients for the debug page.",
            "responses": {"200": _ok("DebugStatus")},
        }
    },
    "/ws": {
        "get": {
            "operationId": "openLiveFeed",
            "tags": ["live"],
            "summary": "WebSocket: live readings, alerts and universe changes.",
            "description": "Upgrade to a WebSocket. Messages are JSON text frames: the client "
            "sends `WsClientOp`, the server sends `WsServerEvent` (see `x-websocket`).",
            "responses": {
                "101": {"description": "Switching Protocols: the WebSocket is open."},
                "426": _json_body(
                    ref("ApiError"),
                    "Upgrade Required: a plain HTTP GET without the WebSocket upgrade headers.",
                ),
                str(WS_REFUSED_ORIGIN_STATUS): _json_body(
                    ref("ApiError"),
                    "A browser page from an origin that is neither this server's nor in "
                    "ALLOWED_ORIGINS; no WebSocket opens.",
                ),
            },
            "x-websocket": {
                "clientMessages": ref("WsClientOp"),
                "serverMessages": ref("WsServerEvent"),
                "channels": {
                    "oi": "oi",
                    "alerts": "open_interest_alert",
                    "universe": "universe",
                },
                "defaultSubscription": {
                    "channels": sorted(DEFAULT_WS_CHANNELS),
                    "symbols": None,
                    "venues": sorted(DEFAULT_WS_VENUES),
                },
                "heartbeatSeconds": WS_HEARTBEAT_S,
                "batchSeconds": WS_BATCH_S,
                "queueSize": WS_CLIENT_QUEUE,
                "closeCodes": {
                    str(WS_CLOSE_TOO_SLOW): f"The client fell {WS_CLIENT_QUEUE} messages behind "
                    "and was cut off; reconnect."
                },
            },
        }
    },
}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "volspike-oi",
        "version": __version__,
        "description": "Near-real-time open interest of Binance USDT-M perpetuals: the "
        "existing VolSpike backend's ingest and read routes, alerts, health and a live "
        "WebSocket feed. Times are UTC ISO 8601 with a Z. GET routes answer CORS (preflights "
        "included) for the origins in the server's ALLOWED_ORIGINS; ingest routes never do.",
    },
    "tags": [
        {"name": "ingest", "description": "Authenticated writes (X-API-Key or Bearer)."},
        {"name": "market", "description": "Open interest reads, public."},
        {"name": "alerts", "description": "Open interest spike/dump alerts."},
        {"name": "operations", "description": "Health, metrics, this document."},
        {"name": "debug", "description": "Internal validation pages."},
        {"name": "live", "description": "The WebSocket feed."},
    ],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "securitySchemes": {
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerAuth": {"type": "http", "scheme": "bearer"},
        },
    },
}
"""The OpenAPI 3.1 document: plain JSON data (dicts, lists, str, numbers, bools, None)."""
