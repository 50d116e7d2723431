"""The shapes of the HTTP and WebSocket contract: OpenAPI 3.1 component schemas.

What the server sends is generated from its view types (`volspike_oi.views`, `web/health.py`,
`web/ingest.py`, `web/errors.py`) by `json_schema.py`; what clients send (the ingest bodies, the
WebSocket ops) is written here from the parsers' own limits, as are the status figures and the
WebSocket envelopes. `openapi.py` assembles them with the paths into `SPEC`; `typescript.py`
renders them as the frontend's types.
"""

from __future__ import annotations

from volspike_oi.venues.model import VENUES
from volspike_oi.views import (
    SOURCE_DESCRIPTION,
    AlertDriverView,
    Alerts,
    AssetDetailView,
    AssetPointView,
    AssetSummaryView,
    AssetsView,
    AssetVenueView,
    FrontendOpenInterest,
    LatestOpenInterest,
    LiquidMemberView,
    LiquidUniverse,
    OiAlertView,
    OiSampleView,
    OiStoredSample,
    PollInterval,
    Samples,
    UniverseThresholds,
    VenuesView,
    VenueView,
)
from volspike_oi.web.contract import (
    ALERT_SOURCE_PATTERN,
    DECIMAL_PATTERN,
    MAX_NUMBER,
    MAX_SYMBOL_CHARS,
    POSITIVE_DECIMAL_PATTERN,
    SYMBOL_PATTERN,
    WS_BATCH_S,
    WS_CHANNELS,
)
from volspike_oi.web.errors import ApiError
from volspike_oi.web.health import (
    ActorHealthView,
    BudgetHealth,
    Health,
    HealthReason,
    StoreHealth,
)
from volspike_oi.web.ingest import (
    CONTEXT_FIELDS,
    MAX_ITEMS,
    SOURCES,
    OiAlertIngestResult,
    OiIngestResult,
    Rejected,
)
from volspike_oi.web.json_schema import Schema, component_schemas, ref
from volspike_oi.web.ws_ops import WsErrorEvent, WsHeartbeatEvent, WsPongEvent, WsSubscribedEvent

SAMPLE_SOURCES = sorted(SOURCES)
"""What a stored or served sample may say it came from."""


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


def _time_input(description: str) -> Schema:
    """A time a client sends: RFC 3339 written in the years 2000–2099 (anything else is a typo);
    one further ahead of the server's clock than 5 minutes is taken as the server's now."""
    return {
        "type": "string",
        "format": "date-time",
        "pattern": "^20[0-9]{2}-",
        "description": description,
    }


def _number(description: str, *, nullable: bool = False) -> Schema:
    return {"type": ["number", "null"] if nullable else "number", "description": description}


def _count(description: str) -> Schema:
    return {"type": "integer", "minimum": 0, "description": description}


def _decimal_input(description: str, *, nullable: bool = False, positive: bool = False) -> Schema:
    """A number as the ingest parser accepts it: a JSON number below 1e18 in magnitude, or a
    string of plain decimal digits (`contract.DECIMAL_PATTERN`)."""
    number: Schema = {"type": "number", "exclusiveMaximum": MAX_NUMBER}
    number["exclusiveMinimum"] = 0 if positive else -MAX_NUMBER
    text = {"type": "string", "pattern": POSITIVE_DECIMAL_PATTERN if positive else DECIMAL_PATTERN}
    return {
        "anyOf": [number, text, *([{"type": "null"}] if nullable else [])],
        "description": description + ' A JSON number or a decimal string ("123.45").',
    }


SYMBOL: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_SYMBOL_CHARS,
    "pattern": SYMBOL_PATTERN,
    "description": "A USDT-M perpetual such as BTCUSDT or 币安人生USDT (upper-cased by the "
    "server): no whitespace or control characters.",
}
SAMPLE_SOURCE: Schema = {
    "type": "string",
    "enum": SAMPLE_SOURCES,
    "description": SOURCE_DESCRIPTION,
}
OPEN = "Members not listed here are ignored, so senders may add their own (forward compatible)."


def _open(schema: Schema) -> Schema:
    """A request body that tolerates unknown members: the server ignores them."""
    return {
        **schema,
        "description": f"{schema.get('description', '')} {OPEN}".strip(),
        "additionalProperties": True,
    }


def _nullable_source(description: str) -> Schema:
    """An ingest `source`: null or absent means the default (senders often write None)."""
    return {"type": ["string", "null"], "enum": [*SAMPLE_SOURCES, None], "description": description}


WS_CHANNEL: Schema = {"type": "string", "enum": sorted(WS_CHANNELS)}


def _event(
    name: str, description: str, *, optional: tuple[str, ...] = (), **properties: Schema
) -> Schema:
    """A WebSocket server message: `{"event": name, ...properties}`."""
    return _object(
        {"event": {"type": "string", "enum": [name]}, **properties},
        optional=optional,
        description=description,
    )


COMPONENTS: dict[str, type | Schema] = {
    "ApiError": ApiError,
    # -- ingest --------------------------------------------------------------------------------
    "OiIngestItem": _open(
        _object(
            {
                "symbol": SYMBOL,
                "openInterest": _decimal_input("Open interest in contracts, ≥ 0."),
                "openInterestUsd": _decimal_input(
                    "openInterest × markPrice in USDT, ≥ 0; computed by the server when absent.",
                    nullable=True,
                ),
                "markPrice": _decimal_input(
                    "Mark price in USDT. An item without a price > 0 (absent, null, ≤ 0) is "
                    "listed in `rejected`, never stored as $0.",
                    nullable=True,
                ),
                "source": _nullable_source("Overrides the batch's source for this item."),
            },
            optional=("openInterestUsd", "markPrice", "source"),
            description="One symbol's reading in an ingest batch.",
        )
    ),
    "LegacyOiSnapshotIngest": _open(
        _object(
            {
                "data": {
                    "type": "array",
                    "items": ref("OiIngestItem"),
                    "maxItems": MAX_ITEMS,
                },
                "timestamp": _time_input(
                    "When the batch was read; every item is stored at this time (at the server's "
                    "time if this is more than 5 minutes ahead of it)."
                ),
                "totalSymbols": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "description": "How many symbols the sender tried (informational, echoed back).",
                },
                "source": _nullable_source(
                    "Source of every item without its own; snapshot when absent or null."
                ),
            },
            optional=("totalSymbols", "source"),
            description="`POST /api/market/open-interest/ingest`: seed 000's 5-minute snapshot "
            'payload unchanged, or a realtime batch (seed 001 §4.4, `source: "realtime"`).',
        )
    ),
    "OiIngestRejection": Rejected,
    "OiIngestResult": OiIngestResult,
    "OiAlertIngest": _open(
        _object(
            {
                "symbol": SYMBOL,
                "direction": {"type": "string", "enum": ["UP", "DOWN"]},
                "baseline": _decimal_input(
                    "Baseline open interest in contracts, > 0 (the change is relative to it).",
                    positive=True,
                ),
                "current": _decimal_input("Open interest in contracts now."),
                "pctChange": _decimal_input("(current − baseline) / baseline: 0.1 is +10 %."),
                "absChange": _decimal_input("current − baseline, in contracts."),
                "timestamp": _time_input(
                    "When the alert fired (the server's time if more than 5 minutes ahead of it)."
                ),
                "source": {
                    "type": "string",
                    "pattern": ALERT_SOURCE_PATTERN,
                    "description": "Who raised it: 1–64 characters, no control characters; "
                    "external when absent.",
                },
                "baselineUsd": _decimal_input(
                    "baseline valued at the baseline window's mark price, > 0; null when unknown.",
                    nullable=True,
                    positive=True,
                ),
                "currentUsd": _decimal_input(
                    "current valued at the mark price when it fired, > 0; null when unknown.",
                    nullable=True,
                    positive=True,
                ),
                "markPriceChangePct": _decimal_input(
                    "The mark price's move over the same window: 0.02 is +2 %.", nullable=True
                ),
                "windowMinutes": _decimal_input(
                    "The baseline window started this many minutes before timestamp, > 0.",
                    nullable=True,
                    positive=True,
                ),
            },
            optional=("source", *CONTEXT_FIELDS),
            description="`POST /api/open-interest-alerts/ingest`: seed 001 §5.3's alert payload, "
            "with optional context members.",
        )
    ),
    "OiAlertIngestResult": OiAlertIngestResult,
    # -- reads ---------------------------------------------------------------------------------
    "FrontendOpenInterest": FrontendOpenInterest,
    "OiSampleView": OiSampleView,
    "LatestOpenInterest": LatestOpenInterest,
    "LiquidMember": LiquidMemberView,
    "UniverseThresholds": UniverseThresholds,
    "PollInterval": PollInterval,
    "LiquidUniverse": LiquidUniverse,
    "OiStoredSample": OiStoredSample,
    "Samples": Samples,
    "OiAlert": OiAlertView,
    "Alerts": Alerts,
    "VenueView": VenueView,
    "Venues": VenuesView,
    "AssetSummary": AssetSummaryView,
    "Assets": AssetsView,
    "AssetVenue": AssetVenueView,
    "AssetPoint": AssetPointView,
    "AssetDetail": AssetDetailView,
    "AlertDriver": AlertDriverView,
    # -- operations ----------------------------------------------------------------------------
    "ActorHealth": ActorHealthView,
    "StoreHealth": StoreHealth,
    "BudgetHealth": BudgetHealth,
    "HealthReason": HealthReason,
    "Health": Health,
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
            "venues": {
                "type": "array",
                "items": {"type": "string", "enum": list(VENUES)},
                "minItems": 1,
                "description": "Venues whose oi rows to receive; binance only when absent.",
            },
        },
        optional=("channels", "symbols", "venues"),
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
        f"Channel oi: the readings of one batch (every {WS_BATCH_S} s), filtered by symbols.",
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
    "WsAssetsEvent": _event(
        "asset_totals",
        "Channel assets (only when subscribed): the totals of the assets that changed in the "
        "last second, each summed over its fresh venues.",
        data={"type": "array", "items": ref("AssetSummary")},
    ),
    "WsHeartbeatEvent": WsHeartbeatEvent,
    "WsSubscribedEvent": WsSubscribedEvent,
    "WsPongEvent": WsPongEvent,
    "WsErrorEvent": WsErrorEvent,
    "WsServerEvent": {
        "oneOf": [
            ref("WsOiEvent"),
            ref("WsAlertEvent"),
            ref("WsUniverseEvent"),
            ref("WsAssetsEvent"),
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
                "asset_totals": "#/components/schemas/WsAssetsEvent",
                "heartbeat": "#/components/schemas/WsHeartbeatEvent",
                "subscribed": "#/components/schemas/WsSubscribedEvent",
                "pong": "#/components/schemas/WsPongEvent",
                "error": "#/components/schemas/WsErrorEvent",
            },
        },
        "description": "A message the server sends on /ws (JSON text frames).",
    },
}
"""Every component in the document's order: a view class (generated) or a schema as written."""

SCHEMAS: dict[str, Schema] = component_schemas(COMPONENTS)
