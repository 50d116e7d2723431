"""The HTTP and WebSocket contract as an OpenAPI 3.1 document, served at `GET /openapi.json`.

`SPEC` is plain JSON data built from the same constants the handlers use (limits, channels,
sources), so a changed limit changes the document. Every body is a named schema under
`components/schemas`: `volspike_oi.web.typescript` turns those into the frontend's types.
"""

from __future__ import annotations

from typing import Any

from volspike_oi import __version__
from volspike_oi.actors.web_feed import BATCH_S, HEARTBEAT_S
from volspike_oi.web.app import (
    ALERTS_DEFAULT_LIMIT,
    ALERTS_MAX_LIMIT,
    SAMPLES_DEFAULT_LIMIT,
    SAMPLES_MAX_LIMIT,
    WS_CLOSE_TOO_SLOW,
)
from volspike_oi.web.hub import CHANNELS, CLIENT_QUEUE
from volspike_oi.web.ingest import MAX_ITEMS, MAX_SYMBOL_LEN, SOURCES
from volspike_oi.web.state import CACHE_TTL_S

Schema = dict[str, Any]

SAMPLE_SOURCES = sorted(SOURCES)
"""What a stored or served sample may say it came from."""
ACTOR_STATES = ["starting", "running", "restarting", "stopped", "disabled"]
"""`volspike_oi.supervisor.ActorHealth.state`."""


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _or_null(schema: Schema) -> Schema:
    """`schema` or null (3.1 style: no `nullable`)."""
    return {"oneOf": [schema, {"type": "null"}]}


def _object(
    properties: dict[str, Schema],
    *,
    optional: tuple[str, ...] = (),
    description: str | None = None,
) -> Schema:
    """A closed object: every property required unless named in `optional`, no others allowed."""
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    schema["required"] = [name for name in properties if name not in optional]
    schema["additionalProperties"] = False
    return schema


def _time(description: str, *, nullable: bool = False) -> Schema:
    return {
        "type": ["string", "null"] if nullable else "string",
        "format": "date-time",
        "description": description,
    }


def _number(description: str, *, nullable: bool = False) -> Schema:
    return {"type": ["number", "null"] if nullable else "number", "description": description}


def _count(description: str) -> Schema:
    return {"type": "integer", "minimum": 0, "description": description}


def _decimal_input(description: str, *, nullable: bool = False) -> Schema:
    """A number as the ingest parser accepts it: JSON number or decimal string, never NaN."""
    return {
        "type": ["number", "string", "null"] if nullable else ["number", "string"],
        "description": description + ' A JSON number or a decimal string ("123.45").',
    }


SYMBOL: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_SYMBOL_LEN,
    "pattern": r"^\S+$",
    "description": "A USDT-M perpetual such as BTCUSDT (upper-cased by the server).",
}
SYMBOL_LIST: Schema = {"type": "array", "items": {"type": "string"}}
SAMPLE_SOURCE: Schema = {
    "type": "string",
    "enum": SAMPLE_SOURCES,
    "description": "realtime: liquid symbols polled every few seconds; snapshot: the 5-minute "
    "coverage of every perp; snapshot_legacy: posted by the legacy 5-minute script.",
}
WS_CHANNEL: Schema = {"type": "string", "enum": sorted(CHANNELS)}


def _event(
    name: str, description: str, *, optional: tuple[str, ...] = (), **properties: Schema
) -> Schema:
    """A WebSocket server message: `{"event": name, ...properties}`."""
    return _object(
        {"event": {"type": "string", "enum": [name]}, **properties},
        optional=optional,
        description=description,
    )


SCHEMAS: dict[str, Schema] = {
    "ApiError": _object(
        {
            "error": {"type": "string", "description": "What is wrong, for a person to read."},
            "field": {
                "type": "string",
                "description": "The offending field as a path (`data[3].openInterest`, `limit`); "
                "`$` for the body as a whole. Absent when no one field is to blame.",
            },
        },
        optional=("field",),
        description="Every 4xx/5xx answer of the JSON API.",
    ),
    # -- ingest --------------------------------------------------------------------------------
    "OiIngestItem": _object(
        {
            "symbol": SYMBOL,
            "openInterest": _decimal_input("Open interest in contracts, ≥ 0."),
            "openInterestUsd": _decimal_input(
                "openInterest × markPrice in USDT, ≥ 0; computed by the server when absent.",
                nullable=True,
            ),
            "markPrice": _decimal_input(
                "Mark price in USDT. An item without a price > 0 is listed in `rejected`, never "
                "stored as $0."
            ),
            "source": {
                **SAMPLE_SOURCE,
                "description": "Overrides the batch's source for this item.",
            },
        },
        optional=("openInterestUsd", "source"),
        description="One symbol's reading in an ingest batch.",
    ),
    "LegacyOiSnapshotIngest": _object(
        {
            "data": {
                "type": "array",
                "items": _ref("OiIngestItem"),
                "maxItems": MAX_ITEMS,
            },
            "timestamp": _time("When the batch was read; every item is stored at this time."),
            "totalSymbols": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "How many symbols the sender tried (informational, echoed back).",
            },
            "source": {
                **SAMPLE_SOURCE,
                "description": "Source of every item without its own; snapshot when absent.",
            },
        },
        optional=("totalSymbols", "source"),
        description="`POST /api/market/open-interest/ingest`: seed 000's 5-minute snapshot "
        'payload unchanged, or a realtime batch (seed 001 §4.4, `source: "realtime"`).',
    ),
    "OiIngestRejection": _object(
        {
            "index": _count("Position of the item in `data`."),
            "symbol": {"type": "string"},
            "reason": {"type": "string", "description": "Why it was not stored."},
        },
        description="A well-formed item that was not stored (bad price, unknown symbol, duplicate).",
    ),
    "OiIngestResult": _object(
        {
            "stored": _count("Items stored."),
            "rejected": {"type": "array", "items": _ref("OiIngestRejection")},
            "received": _count("Items received: stored + rejected."),
            "totalSymbols": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "The request's totalSymbols, or null.",
            },
        }
    ),
    "OiAlertIngest": _object(
        {
            "symbol": SYMBOL,
            "direction": {"type": "string", "enum": ["UP", "DOWN"]},
            "baseline": _decimal_input("Baseline open interest in contracts, > 0."),
            "current": _decimal_input("Open interest in contracts now."),
            "pctChange": _decimal_input("(current − baseline) / baseline: 0.1 is +10 %."),
            "absChange": _decimal_input("current − baseline, in contracts."),
            "timestamp": _time("When the alert fired."),
            "source": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "Who raised it; external when absent.",
            },
        },
        optional=("source",),
        description="`POST /api/open-interest-alerts/ingest`: seed 001 §5.3's alert payload.",
    ),
    "OiAlertIngestResult": _object(
        {
            "stored": {"type": "integer", "enum": [1]},
            "alert": _ref("OiAlert"),
        }
    ),
    # -- reads ---------------------------------------------------------------------------------
    "FrontendOpenInterest": _object(
        {
            "data": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "Symbol → open interest in USD. Only symbols with a fresh, "
                "non-zero USD value: a symbol without a mark price is absent, never $0.",
            },
            "timestamp": _time("Time of the newest entry (now when there is none)."),
            "cacheExpiry": _time(f"timestamp + {CACHE_TTL_S:.0f} s: entries older are left out."),
        },
        description="`GET /api/market/open-interest`: seed 000's frontend cache, unchanged.",
    ),
    "OiSampleView": _object(
        {
            "symbol": {"type": "string"},
            "openInterest": _number("Contracts."),
            "openInterestUsd": _number(
                "USD value, or null without a fresh mark price.", nullable=True
            ),
            "markPrice": _number("Mark price, or null without a fresh one.", nullable=True),
            "sampleTime": _time("When it was read."),
            "exchangeTime": _time("Binance's own time of the reading."),
            "ageSeconds": _number("Seconds since sampleTime when this was served."),
            "source": SAMPLE_SOURCE,
        },
        description="One symbol's latest reading (REST `latest` and the WebSocket `oi` event).",
    ),
    "LatestOpenInterest": _object(
        {
            "data": {"type": "array", "items": _ref("OiSampleView"), "description": "By symbol."},
            "count": _count("Length of data."),
            "timestamp": _time("When this was served."),
        },
        description="`GET /api/market/open-interest/latest`: every symbol with a reading "
        f"younger than {CACHE_TTL_S:.0f} s (realtime preferred over snapshot).",
    ),
    "LiquidMember": _object(
        {
            "symbol": {"type": "string"},
            "quoteVolume24h": _number("24h quote volume in USDT at the last classification."),
            "enteredAt": _time("When it joined the liquid set."),
        }
    ),
    "UniverseThresholds": _object(
        {
            "enterQuote24h": _number("A symbol joins at this 24h quote volume (USDT) or more."),
            "exitQuote24h": _number("A liquid symbol leaves below this."),
        }
    ),
    "PollInterval": _object(
        {
            "designSec": _number("The interval seed 001 §4.2 asks for.", nullable=True),
            "plannedSec": _number("The interval the request budget allows.", nullable=True),
            "achievedSec": _number("Median gap between two polls of one symbol.", nullable=True),
            "othersSec": _number("Interval of the non-liquid perps.", nullable=True),
            "fitsBudget": {
                "type": ["boolean", "null"],
                "description": "False when the budget cannot give the design interval.",
            },
            "note": {"type": ["string", "null"]},
        },
        description="Polling of liquid symbols; null fields before the first plan.",
    ),
    "LiquidUniverse": _object(
        {
            "symbols": {"type": "array", "items": _ref("LiquidMember")},
            "count": _count("Liquid symbols."),
            "trackedCount": _count("Trading USDT-M perpetuals."),
            "entered": {**SYMBOL_LIST, "description": "Joined at the last classification."},
            "exited": {**SYMBOL_LIST, "description": "Left at the last classification."},
            "thresholds": _or_null(_ref("UniverseThresholds")),
            "interval": _ref("PollInterval"),
            "updatedAt": _time("Last classification; null before the first.", nullable=True),
        },
        description="`GET /api/market/open-interest/liquid-universe` and the `universe` event.",
    ),
    "OiStoredSample": _object(
        {
            "ts": _time("When it was read."),
            "openInterest": _number("Contracts."),
            "openInterestUsd": _number("USD value.", nullable=True),
            "markPrice": _number("Mark price.", nullable=True),
            "source": SAMPLE_SOURCE,
            "exchangeTime": _time("Binance's own time of the reading.", nullable=True),
        },
        optional=("openInterestUsd", "markPrice", "source", "exchangeTime"),
        description="One stored reading. Without a database only ts and openInterest are "
        "known (the alert engine's in-memory history).",
    ),
    "Samples": _object(
        {
            "symbol": {"type": "string"},
            "count": _count("Length of samples."),
            "samples": {
                "type": "array",
                "items": _ref("OiStoredSample"),
                "description": "Newest first.",
            },
        },
        description="`GET /api/market/open-interest/samples`.",
    ),
    "OiAlert": _object(
        {
            "symbol": {"type": "string"},
            "direction": {"type": "string", "enum": ["UP", "DOWN"]},
            "baseline": _number("Baseline open interest in contracts."),
            "current": _number("Open interest in contracts when it fired."),
            "pctChange": _number("(current − baseline) / baseline: 0.1 is +10 %."),
            "absChange": _number("current − baseline, in contracts."),
            "timestamp": _time("When it fired."),
            "source": {"type": "string", "description": "oi_realtime_poller, or the ingester's."},
            "baselineSamples": _count("Samples the baseline was the median of (0: ingested)."),
            "usdChange": _number("absChange in USD, when a mark price was known.", nullable=True),
        },
        description="Seed 001 §5.3's alert, plus the baseline's sample count and the USD change.",
    ),
    "Alerts": _object(
        {
            "count": _count("Length of alerts."),
            "alerts": {"type": "array", "items": _ref("OiAlert"), "description": "Newest first."},
        },
        description="`GET /api/open-interest-alerts`.",
    ),
    # -- operations ----------------------------------------------------------------------------
    "ActorHealth": _object(
        {
            "state": {"type": "string", "enum": ACTOR_STATES},
            "critical": {"type": "boolean", "description": "The service is down while it is."},
            "restarts": _count("Restarts since start."),
            "lastError": {"type": ["string", "null"]},
            "lastSuccessAt": _time(
                "When the actor last did its job (a poll, a write, a classification …); null "
                "before the first time or for actors without a single kind of success.",
                nullable=True,
            ),
        }
    ),
    "StoreHealth": _object(
        {
            "buffered": _count("Samples waiting for the database."),
            "dropped": _count("Samples dropped while the database was down too long."),
            "lastWriteAt": _time("Last successful write.", nullable=True),
            "downSince": _time("When the database went down; null while it is up.", nullable=True),
        }
    ),
    "BudgetHealth": _object(
        {
            "holdSeconds": _number("Seconds Binance requests are held after a 429/418."),
            "serverWeight": _count("Weight Binance last reported for this minute."),
            "weightLimit": _count("Binance's weight limit per minute."),
        }
    ),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok", "down"]},
            "down": {**SYMBOL_LIST, "description": "Critical actors that are not running."},
            "actors": {
                "type": "object",
                "additionalProperties": _ref("ActorHealth"),
                "description": "Actor name → its health.",
            },
            "lastPollAt": _time("Latest open interest poll.", nullable=True),
            "store": _or_null(_ref("StoreHealth")),
            "budget": _ref("BudgetHealth"),
            "status_line": {"type": "string", "description": "The last status log line."},
        },
        description="`GET /health`: 200 when every critical actor runs, else 503.",
    ),
    "StatusErrorsPerMinute": _object(
        {
            kind: {"type": "number"}
            for kind in ("429", "418", "5xx", "timeout", "transport", "malformed")
        },
        description="Binance errors per minute, by kind.",
    ),
    "StatusStore": _object(
        {
            "buffered": _count("Samples waiting for the database."),
            "dropped": _count("Samples dropped."),
            "down_s": _number("Seconds the database has been down.", nullable=True),
        }
    ),
    "StatusFigures": _object(
        {
            "tracked": _count("Tracked perps."),
            "liquid": _count("Liquid symbols."),
            "interval_s": _number("Planned interval.", nullable=True),
            "design_interval_s": _number("Design interval.", nullable=True),
            "achieved_interval_s": _number("Achieved interval.", nullable=True),
            "interval_fits": {"type": ["boolean", "null"]},
            "other_interval_s": _number("Interval of the other perps.", nullable=True),
            "oi_polls_per_min": _number("Open interest polls per minute."),
            "weight_per_min": _number("Request weight spent per minute."),
            "server_weight": _count("Weight Binance last reported."),
            "weight_limit": _count("Binance's weight limit per minute."),
            "oi_rate_per_min": _number("Planned open interest polls per minute."),
            "errors_per_min": _ref("StatusErrorsPerMinute"),
            "alerts_per_min": _number("Alerts per minute."),
            "fresh_marks": _count("Symbols with a fresh mark price."),
            "mark_source": {"type": "string", "enum": ["stream", "rest-fallback"]},
            "hold_s": _number("Seconds requests are held."),
            "store": _or_null(_ref("StatusStore")),
        },
        optional=(
            "tracked",
            "liquid",
            "interval_s",
            "design_interval_s",
            "achieved_interval_s",
            "interval_fits",
            "other_interval_s",
            "oi_polls_per_min",
            "weight_per_min",
            "server_weight",
            "weight_limit",
            "oi_rate_per_min",
            "errors_per_min",
            "alerts_per_min",
            "fresh_marks",
            "mark_source",
            "hold_s",
            "store",
        ),
        description="The figures of the last status line; empty before the first one.",
    ),
    "DebugStatus": _object(
        {
            "status": _ref("StatusFigures"),
            "line": {"type": "string", "description": "The last status log line."},
            "metrics": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Counter name → value since start.",
            },
            "wsClients": _count("Connected WebSocket clients."),
        },
        description="`GET /debug/status`: what the debug page shows.",
    ),
    # -- WebSocket /ws -------------------------------------------------------------------------
    "WsSubscribe": _object(
        {
            "op": {"type": "string", "enum": ["subscribe"]},
            "channels": {
                "type": "array",
                "items": WS_CHANNEL,
                "minItems": 1,
                "description": "Channels to receive; all when absent.",
            },
            "symbols": {
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1},
                "description": "Symbols to receive (oi and alerts); all when absent or null.",
            },
        },
        optional=("channels", "symbols"),
        description="Replaces the connection's subscription; answered by `subscribed`.",
    ),
    "WsPing": _object(
        {"op": {"type": "string", "enum": ["ping"]}}, description="Answered by `pong`."
    ),
    "WsClientOp": {
        "oneOf": [_ref("WsSubscribe"), _ref("WsPing")],
        "discriminator": {
            "propertyName": "op",
            "mapping": {
                "subscribe": "#/components/schemas/WsSubscribe",
                "ping": "#/components/schemas/WsPing",
            },
        },
        "description": "A message a client sends on /ws.",
    },
    "WsOiEvent": _event(
        "oi",
        f"Channel oi: the readings of one batch (every {BATCH_S} s), filtered by symbols.",
        data={"type": "array", "items": _ref("OiSampleView")},
    ),
    "WsAlertEvent": _event(
        "open_interest_alert", "Channel alerts: one alert as it fires.", data=_ref("OiAlert")
    ),
    "WsUniverseEvent": _event(
        "universe",
        "Channel universe: the liquid universe, whenever a symbol enters or exits.",
        data=_ref("LiquidUniverse"),
    ),
    "WsHeartbeatEvent": _event(
        "heartbeat",
        f"Sent to every client every {HEARTBEAT_S:.0f} s.",
        timestamp=_time("Server time."),
    ),
    "WsSubscribedEvent": _event(
        "subscribed",
        "The subscription now in force.",
        channels={"type": "array", "items": WS_CHANNEL},
        symbols={"type": ["array", "null"], "items": {"type": "string"}},
    ),
    "WsPongEvent": _event("pong", "The answer to a ping."),
    "WsErrorEvent": _event(
        "error",
        "A client message was refused; the subscription is unchanged.",
        optional=("field",),
        error={"type": "string"},
        field={"type": "string", "enum": ["channels", "symbols"]},
    ),
    "WsServerEvent": {
        "oneOf": [
            _ref("WsOiEvent"),
            _ref("WsAlertEvent"),
            _ref("WsUniverseEvent"),
            _ref("WsHeartbeatEvent"),
            _ref("WsSubscribedEvent"),
            _ref("WsPongEvent"),
            _ref("WsErrorEvent"),
        ],
        "discriminator": {
            "propertyName": "event",
            "mapping": {
                "oi": "#/components/schemas/WsOiEvent",
                "open_interest_alert": "#/components/schemas/WsAlertEvent",
                "universe": "#/components/schemas/WsUniverseEvent",
                "heartbeat": "#/components/schemas/WsHeartbeatEvent",
                "subscribed": "#/components/schemas/WsSubscribedEvent",
                "pong": "#/components/schemas/WsPongEvent",
                "error": "#/components/schemas/WsErrorEvent",
            },
        },
        "description": "A message the server sends on /ws (JSON text frames).",
    },
}


def _json_body(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(name: str, description: str = "OK") -> Schema:
    return _json_body(_ref(name), description)


def _response(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


RESPONSES: dict[str, Schema] = {
    "BadRequest": _json_body(
        _ref("ApiError"),
        "The request is malformed; `field` names the culprit. Nothing was stored.",
    ),
    "Unauthorized": _json_body(
        _ref("ApiError"), "Missing or wrong API key (X-API-Key or Authorization: Bearer)."
    ),
    "IngestUnavailable": _json_body(
        _ref("ApiError"),
        "Ingest is disabled (no VOLSPIKE_API_KEY on the server), or the database refused the "
        "write. Nothing was stored; retry later.",
    ),
}


def _limit(default: int, cap: int) -> Schema:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"How many rows (default {default}); larger values are served as {cap}.",
        "schema": {"type": "integer", "minimum": 1, "maximum": cap, "default": default},
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
                        "schema": _ref("LegacyOiSnapshotIngest"),
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
                        "schema": _ref("OiAlertIngest"),
                        "examples": {"alert": {"value": ALERT_EXAMPLE}},
                    }
                },
            },
            "responses": {
                "200": _ok("OiAlertIngestResult", "Stored."),
                "400": _response("BadRequest"),
                "401": _response("Unauthorized"),
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
            "summary": "The latest reading of every symbol, with prices, times and source.",
            "responses": {"200": _ok("LatestOpenInterest")},
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
                _symbol_query(required=True, description="The symbol, e.g. BTCUSDT."),
                _limit(SAMPLES_DEFAULT_LIMIT, SAMPLES_MAX_LIMIT),
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "description": "Only readings from this time on: epoch milliseconds "
                    "(1764592496000) or ISO 8601 (2025-12-01T12:34:56Z; UTC when no offset).",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {"200": _ok("Samples"), "400": _response("BadRequest")},
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
            "responses": {"200": _ok("Alerts"), "400": _response("BadRequest")},
        }
    },
    "/health": {
        "get": {
            "operationId": "getHealth",
            "tags": ["operations"],
            "summary": "Actors, store and request budget; 503 when a critical actor is down.",
            "responses": {
                "200": _ok("Health", "Every critical actor runs."),
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
            "responses": {"101": {"description": "Switching Protocols: the WebSocket is open."}},
            "x-websocket": {
                "clientMessages": _ref("WsClientOp"),
                "serverMessages": _ref("WsServerEvent"),
                "channels": {
                    "oi": "oi",
                    "alerts": "open_interest_alert",
                    "universe": "universe",
                },
                "defaultSubscription": {"channels": sorted(CHANNELS), "symbols": None},
                "heartbeatSeconds": HEARTBEAT_S,
                "batchSeconds": BATCH_S,
                "queueSize": CLIENT_QUEUE,
                "closeCodes": {
                    str(WS_CLOSE_TOO_SLOW): f"The client fell {CLIENT_QUEUE} messages behind "
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
        "WebSocket feed. Times are UTC ISO 8601 with a Z.",
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
