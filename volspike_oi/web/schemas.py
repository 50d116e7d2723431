"""The shapes of the HTTP and WebSocket contract: OpenAPI 3.1 component schemas.

Built from the same constants the handlers use (limits, channels, sources). `openapi.py`
assembles them with the paths into `SPEC`; `typescript.py` renders them as the frontend's types.
"""

from __future__ import annotations

from typing import Any

from volspike_oi.actors.web_feed import BATCH_S, HEARTBEAT_S
from volspike_oi.web.hub import CHANNELS
from volspike_oi.web.ingest import MAX_ITEMS, MAX_SYMBOL_LEN, SOURCES
from volspike_oi.web.state import CACHE_TTL_S

Schema = dict[str, Any]

SAMPLE_SOURCES = sorted(SOURCES)
"""What a stored or served sample may say it came from."""
ACTOR_STATES = ["starting", "running", "restarting", "stopped", "disabled"]
"""`volspike_oi.supervisor.ActorHealth.state`."""


def ref(name: str) -> Schema:
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
                "items": ref("OiIngestItem"),
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
            "stored": _count("New rows stored."),
            "duplicates": _count(
                "Accepted items already stored (same symbol, time and source): a re-posted batch."
            ),
            "rejected": {"type": "array", "items": ref("OiIngestRejection")},
            "received": _count("Items received: stored + duplicates + rejected."),
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
            "alert": ref("OiAlert"),
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
            "data": {"type": "array", "items": ref("OiSampleView"), "description": "By symbol."},
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
            "symbols": {"type": "array", "items": ref("LiquidMember")},
            "count": _count("Liquid symbols."),
            "trackedCount": _count("Trading USDT-M perpetuals."),
            "entered": {**SYMBOL_LIST, "description": "Joined at the last classification."},
            "exited": {**SYMBOL_LIST, "description": "Left at the last classification."},
            "thresholds": _or_null(ref("UniverseThresholds")),
            "interval": ref("PollInterval"),
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
                "items": ref("OiStoredSample"),
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
            "alerts": {"type": "array", "items": ref("OiAlert"), "description": "Newest first."},
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
                "additionalProperties": ref("ActorHealth"),
                "description": "Actor name → its health.",
            },
            "lastPollAt": _time("Latest open interest poll.", nullable=True),
            "store": _or_null(ref("StoreHealth")),
            "budget": ref("BudgetHealth"),
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
            "errors_per_min": ref("StatusErrorsPerMinute"),
            "alerts_per_min": _number("Alerts per minute."),
            "fresh_marks": _count("Symbols with a fresh mark price."),
            "mark_source": {"type": "string", "enum": ["stream", "rest-fallback"]},
            "hold_s": _number("Seconds requests are held."),
            "store": _or_null(ref("StatusStore")),
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
            "status": ref("StatusFigures"),
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
        "oneOf": [ref("WsSubscribe"), ref("WsPing")],
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
        data={"type": "array", "items": ref("OiSampleView")},
    ),
    "WsAlertEvent": _event(
        "open_interest_alert", "Channel alerts: one alert as it fires.", data=ref("OiAlert")
    ),
    "WsUniverseEvent": _event(
        "universe",
        "Channel universe: the liquid universe, whenever a symbol enters or exits.",
        data=ref("LiquidUniverse"),
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
            ref("WsOiEvent"),
            ref("WsAlertEvent"),
            ref("WsUniverseEvent"),
            ref("WsHeartbeatEvent"),
            ref("WsSubscribedEvent"),
            ref("WsPongEvent"),
            ref("WsErrorEvent"),
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
