"""`/openapi.json` against the app it describes, and the TypeScript types against the spec.

Rules: no network, no database, no new dependency. Routes are read from the app's own URL
map; shapes are checked against the spec's schemas with the small validator below (types,
enums, required and undeclared keys, lengths, bounds, ISO times). The validator refuses any
schema keyword it does not know, so the spec cannot grow a rule that nothing checks. Requests go
through quart's in-memory test client; the live feed runs under `autojump_clock`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
import trio

from tests.web.conftest import make_service, start_app, unfed_app
from volspike_oi import __version__
from volspike_oi.actors import web_feed
from volspike_oi.actors.status import status_figures
from volspike_oi.clock import WallClock
from volspike_oi.history import OiHistory
from volspike_oi.messages import Ingested, LiquidMember, OiAlert, OiSample, UniverseUpdate
from volspike_oi.polling import plan_polls
from volspike_oi.service import Service
from volspike_oi.snapshots import ActorHealth, PollerStatus, WebState, WriterStatus
from volspike_oi.store.database import read_alerts, read_samples
from volspike_oi.universe import Thresholds
from volspike_oi.views import (
    alert_view,
    frontend_view,
    latest_view,
    sample_view,
    universe_view,
)
from volspike_oi.web.contract import WS_HEARTBEAT_S
from volspike_oi.web.hub import Hub
from volspike_oi.web.ingest import parse_alert_ingest, parse_oi_ingest
from volspike_oi.web.openapi import SPEC
from volspike_oi.web.query import MAX_WHOLE_NUMBER
from volspike_oi.web.typescript import HTTP_METHODS, OUTPUT, render
from volspike_oi.web.ws_ops import apply_op
from volspike_oi.wire import to_json

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}
NOW = dt.datetime(2025, 11, 6, 12, 6, tzinfo=dt.UTC).timestamp()
"""One minute after seed 000's example batch, so what it carries is fresh."""
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
"""Added by quart to every GET route; not part of the contract."""


# -- a JSON Schema validator for the keywords SPEC uses ------------------------------------------

KNOWN_KEYWORDS = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "discriminator",
    "description",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
}
_KINDS: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve(ref: str) -> Any:
    node: Any = SPEC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Why `value` does not match `schema` (empty when it does)."""
    unknown = set(schema) - KNOWN_KEYWORDS
    if unknown:
        return [f"{where}: the schema uses keywords this validator does not know: {unknown}"]
    if "$ref" in schema:
        return problems(value, resolve(schema["$ref"]), where)
    if "oneOf" in schema:
        fits = [s for s in schema["oneOf"] if not problems(value, s, where)]
        if len(fits) != 1:
            return [f"{where}: matches {len(fits)} of the oneOf variants, not exactly one"]
        return []
    if "anyOf" in schema:
        fits = [s for s in schema["anyOf"] if not problems(value, s, where)]
        return [] if fits else [f"{where}: matches none of the anyOf variants"]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_KINDS[k](value) for k in kinds):
            return [f"{where}: expected {'|'.join(kinds)}, got {value!r:.80}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{where}: expected {schema['const']!r}, got {value!r}"]
    out: list[str] = []
    if isinstance(value, str):
        out += _string_problems(value, schema, where)
    if _KINDS["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{where}: {value} > maximum {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            out.append(f"{where}: {value} ≤ exclusiveMinimum {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            out.append(f"{where}: {value} ≥ exclusiveMaximum {schema['exclusiveMaximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1e18):
            out.append(f"{where}: {len(value)} items is out of bounds")
        for i, item in enumerate(value):
            out += problems(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(value, dict):
        out += _object_problems(value, schema, where)
    return out


def _string_problems(value: str, schema: dict[str, Any], where: str) -> list[str]:
    out = []
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9):
        out.append(f"{where}: length {len(value)} is out of bounds")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if schema.get("format") == "date-time":
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            out.append(f"{where}: {value!r} is not an ISO 8601 time with a zone")
    return out


def _object_problems(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    out = [f"{where}: missing {k!r}" for k in schema.get("required", ()) if k not in value]
    declared = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in declared:
            out += problems(item, declared[key], f"{where}.{key}")
        elif extra is False:
            out.append(f"{where}: undeclared key {key!r}")
        elif isinstance(extra, dict):
            out += problems(item, extra, f"{where}.{key}")
    return out


def assert_matches(value: Any, schema_name: str) -> None:
    found = problems(value, {"$ref": f"#/components/schemas/{schema_name}"})
    assert not found, f"not a {schema_name}:\n" + "\n".join(found)


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) below `node`."""
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def schemas_in_spec() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in SPEC: components, parameters, bodies, responses, and inside them."""
    roots = [(f"#/components/schemas/{n}", s) for n, s in SPEC["components"]["schemas"].items()]
    for pointer, node in walk(SPEC):
        if pointer.endswith("/schema") and "/components/schemas/" not in pointer:
            roots.append((pointer, node))
    for pointer, root in roots:
        yield from _subschemas(pointer, root)


def _subschemas(pointer: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield pointer, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _subschemas(f"{pointer}/properties/{key}", sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _subschemas(f"{pointer}/{key}", schema[key])
    for key in ("oneOf", "anyOf"):
        for i, sub in enumerate(schema.get(key, ())):
            yield from _subschemas(f"{pointer}/{key}/{i}", sub)


# -- the app under test -------------------------------------------------------------------------


def make_app(service: Service, api_key: str | None = API_KEY) -> Any:
    return unfed_app(service, api_key)


def rules() -> dict[str, tuple[set[str], bool]]:
    """Path (OpenAPI style) → (methods, is a WebSocket) of every route the app registers."""
    app = make_app(make_service(WallClock(NOW, 0.0)))
    out: dict[str, tuple[set[str], bool]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        methods = {m.lower() for m in set(rule.methods or ()) - AUTOMATIC_METHODS}
        known, websocket = out.get(path, (set(), False))
        out[path] = (known | methods, websocket or bool(rule.websocket))
    return out


def operation(path: str, method: str) -> dict[str, Any]:
    op = SPEC["paths"][path][method.lower()]
    assert isinstance(op, dict)
    return op


def body_schema(response: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    if "$ref" in response:
        response = resolve(response["$ref"])
    schema = response["content"][media]["schema"]
    assert isinstance(schema, dict)
    return schema


async def call(app: Any, method: str, path: str, *, query: str = "", **kw: Any) -> tuple[int, Any]:
    """Send a request; check its status is documented and its JSON body fits that status's
    schema. Returns (status, parsed body)."""
    client = app.test_client()
    response = await client.open(path + query, method=method, **kw)
    documented = operation(path, method)["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answered {status}, not in the spec"
    text = (await response.get_data()).decode()
    if response.mimetype != "application/json":
        assert response.mimetype in documented[status]["content"]
        return response.status_code, text
    body = json.loads(text)
    found = problems(body, body_schema(documented[status]))
    assert not found, f"{method} {path} {status}:\n" + "\n".join(found)
    return response.status_code, body


def sample(
    symbol: str,
    at: float,
    *,
    source: Any = "realtime",
    mark: str | None = "100.5",
    usd: str | None = "1005000.00",
) -> OiSample:
    return OiSample(
        symbol=symbol,
        contracts=Decimal("10000.5"),
        exchange_time_ms=round(at * 1000) - 40,
        received_at=at,
        mark_price=None if mark is None else Decimal(mark),
        usd=None if usd is None else Decimal(usd),
        source=source,
    )


def alert(*, usd_change: float | None) -> OiAlert:
    return OiAlert(
        symbol="ETHUSDT",
        direction="DOWN",
        baseline=200000.0,
        current=180000.0,
        pct_change=-0.1,
        abs_change=-20000.0,
        timestamp=NOW - 5,
        baseline_samples=180,
        usd_change=usd_change,
    )


def universe() -> UniverseUpdate:
    return UniverseUpdate(
        tracked=frozenset({"BTCUSDT", "ETHUSDT", "DOGEUSDT"}),
        liquid=(
            LiquidMember("BTCUSDT", 9.5e9, NOW - 3600),
            LiquidMember("ETHUSDT", 4.1e9, NOW - 60),
        ),
        entered=frozenset({"ETHUSDT"}),
        exited=frozenset({"SOLUSDT"}),
        thresholds=Thresholds(4e6, 2e6),
        classified_at=NOW - 60,
    )


# -- (a) the spec describes exactly the app's routes --------------------------------------------


def test_every_route_of_the_app_is_in_the_spec_with_the_same_methods() -> None:
    documented = {
        path: {m for m in item if m in HTTP_METHODS} for path, item in SPEC["paths"].items()
    }
    registered = {path: methods for path, (methods, _) in rules().items()}
    assert documented == registered


def test_websocket_routes_and_only_they_carry_the_x_websocket_extension() -> None:
    for path, (methods, websocket) in rules().items():
        described = ["x-websocket" in operation(path, m) for m in methods]
        assert described == [websocket] * len(methods), path


# -- (b) the TypeScript declarations are generated from the spec --------------------------------


def test_checked_in_typescript_declarations_equal_what_the_spec_renders() -> None:
    checked_in = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else "<missing>"
    assert checked_in == render(SPEC), (
        f"{OUTPUT.name} has drifted from /openapi.json: run `make types` and commit the result"
    )


def test_every_component_schema_becomes_one_exported_typescript_type() -> None:
    declared = re.findall(r"^export (?:interface|type) (\w+)", render(SPEC), re.MULTILINE)
    assert declared == [*SPEC["components"]["schemas"], "Endpoints"]


def test_render_maps_json_schema_to_typescript() -> None:
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "summary": "List things.",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "description": "A thing.",
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["a", "b"]},
                        "price": {"type": ["number", "null"], "description": "Or null."},
                        "tags": {"type": "array", "items": {"type": ["string", "null"]}},
                        "byName": {"type": "object", "additionalProperties": {"type": "number"}},
                        "5xx": {"oneOf": [{"$ref": "#/components/schemas/Id"}, {"type": "null"}]},
                    },
                    "required": ["id", "kind"],
                    "additionalProperties": False,
                },
                "Id": {"type": ["string", "integer"]},
            }
        },
    }
    assert render(spec) == (
        "// generated from /openapi.json by `make types`; do not edit\n"
        "// t 1 (OpenAPI 3.1.0)\n"
        "\n"
        "/** A thing. */\n"
        "export interface Thing {\n"
        "  id: number;\n"
        '  kind: "a" | "b";\n'
        "  /** Or null. */\n"
        "  price?: number | null;\n"
        "  tags?: (string | null)[];\n"
        "  byName?: Record<string, number>;\n"
        '  "5xx"?: Id | null;\n'
        "}\n"
        "\n"
        "export type Id = string | number;\n"
        "\n"
        "/** Every HTTP route (`METHOD /path`): query parameters, JSON body, responses by status. */\n"
        "export interface Endpoints {\n"
        "  /** List things. */\n"
        '  "GET /things": {\n'
        "    query: {\n"
        "      limit?: number;\n"
        "    };\n"
        "    responses: {\n"
        "      200: Thing;\n"
        "    };\n"
        "  };\n"
        "}\n"
    )


# -- (c) the document itself ---------------------------------------------------------------------


def test_spec_is_openapi_3_1_named_for_this_service_and_version() -> None:
    assert SPEC["openapi"] == "3.1.0"
    assert SPEC["info"]["title"] == "volspike-oi"
    assert SPEC["info"]["version"] == __version__


def test_spec_is_plain_json() -> None:
    assert json.loads(json.dumps(SPEC, allow_nan=False)) == SPEC


def test_every_ref_and_discriminator_mapping_resolves() -> None:
    refs = [
        (pointer, value)
        for pointer, value in walk(SPEC)
        if pointer.endswith("/$ref") or "/discriminator/mapping/" in pointer
    ]
    assert refs
    for pointer, ref in refs:
        assert ref.startswith("#/"), pointer
        try:
            target = resolve(ref)
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"{pointer}: {ref} does not resolve")
        assert isinstance(target, dict), pointer


def test_every_schema_uses_only_keywords_the_generator_and_validator_know() -> None:
    for pointer, schema in schemas_in_spec():
        assert set(schema) <= KNOWN_KEYWORDS, f"{pointer}: {set(schema) - KNOWN_KEYWORDS}"


def test_every_json_body_is_a_named_schema_so_typescript_has_a_type_for_it() -> None:
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            bodies = [op["requestBody"]] if "requestBody" in op else []
            bodies += list(op["responses"].values())
            for body in bodies:
                if "$ref" in body or "content" not in body or path == "/openapi.json":
                    continue
                schema = body["content"].get("application/json", {}).get("schema")
                assert schema is None or "$ref" in schema, f"{method.upper()} {path}"


def test_every_closed_object_lists_only_declared_properties_as_required() -> None:
    for pointer, schema in schemas_in_spec():
        required = set(schema.get("required", ()))
        assert required <= set(schema.get("properties", {})), pointer


def test_request_examples_fit_their_schema_and_the_ingest_parsers_accept_them() -> None:
    oi = operation("/api/market/open-interest/ingest", "post")["requestBody"]
    for example in oi["content"]["application/json"]["examples"].values():
        assert_matches(example["value"], "LegacyOiSnapshotIngest")
        parsed = parse_oi_ingest(example["value"], None)
        assert parsed.rejected == []
        assert len(parsed.samples) == len(example["value"]["data"])
    alerts = operation("/api/open-interest-alerts/ingest", "post")["requestBody"]
    for example in alerts["content"]["application/json"]["examples"].values():
        assert_matches(example["value"], "OiAlertIngest")
        parse_alert_ingest(example["value"])


def test_query_limits_are_those_the_handlers_enforce() -> None:
    def params(path: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in operation(path, "get")["parameters"]}

    samples = params("/api/market/open-interest/samples")
    assert samples["symbol"]["required"] is True
    # Any whole number the server can read is allowed; beyond the cap it serves the cap.
    assert samples["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_WHOLE_NUMBER,
        "default": 100,
    }
    assert "served as 5000" in samples["limit"]["description"]
    alerts = params("/api/open-interest-alerts")
    assert alerts["symbol"]["required"] is False
    assert "served as 1000" in alerts["limit"]["description"]
    assert alerts["limit"]["schema"]["default"] == 50


# -- (d) the shapes the code produces fit the schemas -------------------------------------------


def test_the_validator_catches_missing_undeclared_and_mistyped_keys() -> None:
    view = to_json(alert_view(alert(usd_change=None)))
    assert problems(view, {"$ref": "#/components/schemas/OiAlert"}) == []
    missing = {k: v for k, v in view.items() if k != "baselineSamples"}
    undeclared = {**view, "pct": 1}
    mistyped = {**view, "baseline": None}
    for wrong in (missing, undeclared, mistyped):
        assert problems(wrong, {"$ref": "#/components/schemas/OiAlert"}) != []


def test_frontend_view_fits_FrontendOpenInterest() -> None:
    state = WebState()
    state.record(sample("BTCUSDT", NOW - 10))
    state.record(sample("ETHUSDT", NOW - 20, source="snapshot"))
    state.record(sample("DOGEUSDT", NOW - 30, mark=None, usd=None))
    view = to_json(frontend_view(state, NOW))
    assert_matches(view, "FrontendOpenInterest")
    assert set(view["data"]) == {"BTCUSDT", "ETHUSDT"}
    assert_matches(to_json(frontend_view(WebState(), NOW)), "FrontendOpenInterest")


def test_latest_view_fits_LatestOpenInterest_with_and_without_prices() -> None:
    state = WebState()
    state.record(sample("BTCUSDT", NOW - 10))
    state.record(sample("DOGEUSDT", NOW - 30, source="snapshot", mark=None, usd=None))
    state.record(sample("XRPUSDT", NOW - 40, source="snapshot_legacy"))
    view = to_json(latest_view(state, NOW))
    assert view["count"] == 3
    assert_matches(view, "LatestOpenInterest")
    assert_matches(to_json(latest_view(WebState(), NOW)), "LatestOpenInterest")


@pytest.mark.parametrize("usd_change", [None, -3.6e6])
def test_alert_view_fits_OiAlert(usd_change: float | None) -> None:
    assert_matches(to_json(alert_view(alert(usd_change=usd_change))), "OiAlert")


def test_universe_view_fits_LiquidUniverse_before_and_after_the_first_classification() -> None:
    assert_matches(to_json(universe_view(None, None, None)), "LiquidUniverse")
    plan = plan_polls(2, 1, 2000, 5, 20)
    assert_matches(to_json(universe_view(universe(), plan, 5.2)), "LiquidUniverse")


def test_stored_rows_fit_OiStoredSample_and_OiAlert() -> None:
    class Rows:
        """Stands in for a psycopg connection: every query answers `rows`."""

        def __init__(self, rows: list[tuple[Any, ...]]) -> None:
            self.rows = rows

        def execute(self, *_: Any) -> Rows:
            return self

        def fetchall(self) -> list[tuple[Any, ...]]:
            return self.rows

    ts = dt.datetime.fromtimestamp(NOW, dt.UTC)
    samples = Rows(
        [
            (ts, Decimal("10000.5"), Decimal("1.1e6"), Decimal("110"), "realtime", ts, Decimal(1)),
            (ts, Decimal("7"), None, None, "snapshot_legacy", None, None),
        ]
    )
    for row in read_samples(cast(Any, samples), "BTCUSDT", None, 10):
        assert_matches(to_json(row), "OiStoredSample")
    alerts = Rows(
        [
            ("BTCUSDT", "UP", Decimal(1), Decimal(2), Decimal(1), Decimal(1), ts, "x", 0, None)
            + (None,) * 4
            + ("binance", None),
            (
                "BTCUSDT",
                "DOWN",
                Decimal(2),
                Decimal(1),
                Decimal("-0.5"),
                Decimal(-1),
                ts,
                "y",
                9,
                5.0,
                Decimal("166168.6"),
                Decimal("83084.3"),
                Decimal("-0.004"),
                Decimal(60),
                "all",
                [
                    {
                        "venue": "bybit",
                        "baseline": 1.0,
                        "current": 1.1,
                        "pct_change": 0.1,
                        "share_of_change": None,
                    }
                ],
            ),
        ]
    )
    for stored in read_alerts(cast(Any, alerts), None, 10):
        assert_matches(to_json(stored), "OiAlert")


async def test_ingest_and_every_read_route_answer_what_the_spec_says(
    nursery: trio.Nursery,
) -> None:
    service = make_service(WallClock.starting_now(NOW))
    service.status.universe = universe()
    service.poller.plan = plan_polls(2, 1, 2000, 5, 20)
    history = service.alerts.histories["BTCUSDT"] = OiHistory(10)
    history.append(NOW - 20, 10000.0)
    history.append(NOW - 10, 10010.0)
    app = await start_app(nursery, service, api_key=API_KEY)
    legacy = operation("/api/market/open-interest/ingest", "post")["requestBody"]["content"][
        "application/json"
    ]["examples"]["legacySnapshot"]["value"]
    batch = {**legacy, "data": [*legacy["data"], {"symbol": "ZZZUSDT", "openInterest": 1}]}

    status, result = await call(
        app, "POST", "/api/market/open-interest/ingest", json=batch, headers=AUTH
    )
    assert (status, result["stored"], len(result["rejected"])) == (200, 1, 1)
    example = operation("/api/open-interest-alerts/ingest", "post")["requestBody"]["content"][
        "application/json"
    ]["examples"]["alert"]["value"]
    # Fired one minute ago (a time more than 5 min ahead would be taken as the server's now).
    raised = {
        **example,
        "symbol": "ethusdt",
        "pctChange": "0.1",
        "timestamp": "2025-11-06T12:05:00Z",
    }
    assert_matches(raised, "OiAlertIngest")
    status, stored = await call(
        app, "POST", "/api/open-interest-alerts/ingest", json=raised, headers=AUTH
    )
    assert (status, stored["alert"]["symbol"]) == (200, "ETHUSDT")

    _, cache = await call(app, "GET", "/api/market/open-interest")
    assert cache["data"] == {"BTCUSDT": 12700000000.5}
    _, latest = await call(app, "GET", "/api/market/open-interest/latest")
    assert latest["count"] == 1
    _, members = await call(app, "GET", "/api/market/open-interest/liquid-universe")
    assert members["count"] == 2
    _, rows = await call(
        app, "GET", "/api/market/open-interest/samples", query="?symbol=btcusdt&limit=1"
    )
    assert rows["count"] == 1
    _, recent = await call(app, "GET", "/api/open-interest-alerts", query="?symbol=ETHUSDT")
    assert recent["count"] == 1


async def test_operations_and_debug_routes_answer_what_the_spec_says() -> None:
    service = make_service(WallClock.starting_now(NOW))
    service.health["oi_poller"] = ActorHealth("oi_poller", True, state="running")
    service.health["backfill"] = ActorHealth("backfill", False, state="disabled")
    service.status.last_minute = status_figures(
        {},
        {"oi_polls_total": 120},
        1.0,
        service.poller,
        service.budget,
        service.book,
        universe(),
        NOW,
        WriterStatus(buffered=3, down_since=NOW - 30),
    )
    app = make_app(service)

    assert (await call(app, "GET", "/health"))[0] == 200
    _, debug = await call(app, "GET", "/debug/status")
    assert debug["status"]["store"]["buffered"] == 3
    assert_matches({**debug, "status": {}}, "DebugStatus")  # before the first status line
    assert (await call(app, "GET", "/metrics"))[0] == 200
    assert (await call(app, "GET", "/debug/open-interest"))[0] == 200
    _, document = await call(app, "GET", "/openapi.json")
    assert document == SPEC


async def test_health_answers_503_with_a_health_body_when_a_critical_actor_is_down() -> None:
    service = make_service(WallClock.starting_now(NOW))
    service.health["oi_poller"] = ActorHealth(
        "oi_poller", True, state="restarting", restarts=2, last_error="ReadTimeout: slow"
    )
    status, body = await call(make_app(service), "GET", "/health")
    assert (status, body["down"]) == (503, ["oi_poller"])


@pytest.mark.parametrize(
    ("method", "path", "query", "kw", "field"),
    [
        ("POST", "/api/market/open-interest/ingest", "", {"data": b"{"}, "$"),
        ("POST", "/api/market/open-interest/ingest", "", {"json": {"data": []}}, "timestamp"),
        ("POST", "/api/open-interest-alerts/ingest", "", {"json": {"symbol": "X"}}, "direction"),
        ("GET", "/api/market/open-interest/samples", "", {}, "symbol"),
        ("GET", "/api/market/open-interest/samples", "?symbol=BTCUSDT&limit=0", {}, "limit"),
        ("GET", "/api/market/open-interest/samples", "?symbol=BTCUSDT&since=soon", {}, "since"),
        ("GET", "/api/open-interest-alerts", "?limit=x", {}, "limit"),
    ],
)
async def test_bad_requests_answer_400_with_an_ApiError_naming_the_field(
    method: str, path: str, query: str, kw: dict[str, Any], field: str
) -> None:
    app = make_app(make_service(WallClock.starting_now(NOW)))
    status, body = await call(app, method, path, query=query, headers=AUTH, **kw)
    assert (status, body["field"]) == (400, field)


@pytest.mark.parametrize(
    "path", ["/api/market/open-interest/ingest", "/api/open-interest-alerts/ingest"]
)
async def test_ingest_refusals_answer_401_and_503_with_an_ApiError(path: str) -> None:
    service = make_service(WallClock.starting_now(NOW))
    wrong = {"Authorization": "Bearer nope"}
    assert (await call(make_app(service), "POST", path, json={}, headers=wrong))[0] == 401
    assert (await call(make_app(service, None), "POST", path, json={}))[0] == 503


def test_websocket_replies_fit_WsServerEvent() -> None:
    hub = Hub()
    subscriber, _ = hub.subscribe()
    ops = [
        {"op": "subscribe"},
        {"op": "subscribe", "channels": ["oi"], "symbols": ["btcusdt"]},
        {"op": "subscribe", "symbols": None},
        {"op": "ping"},
    ]
    refused: list[Any] = [
        "not json",
        {"op": "unsubscribe"},
        {"op": "subscribe", "channels": ["trades"]},
        {"op": "subscribe", "symbols": [""]},
    ]
    for op in ops:
        assert_matches(op, "WsClientOp")
    for op in refused[1:]:
        assert problems(op, {"$ref": "#/components/schemas/WsClientOp"}) != []
    events = []
    for op in [*ops, *refused]:
        reply = apply_op(subscriber, op if isinstance(op, str) else json.dumps(op))
        assert reply is not None
        assert_matches(json.loads(reply), "WsServerEvent")
        events.append(json.loads(reply)["event"])
    assert events == ["subscribed"] * 3 + ["pong"] + ["error"] * 4


async def test_live_feed_events_fit_WsServerEvent(autojump_clock: trio.abc.Clock) -> None:
    hub = Hub()
    _, outbound = hub.subscribe()
    poller = PollerStatus(plan=plan_polls(2, 1, 2000, 5, 20))
    samples_tx, samples_rx = trio.open_memory_channel[OiSample](8)
    alerts_tx, alerts_rx = trio.open_memory_channel[OiAlert](8)
    universe_tx, universe_rx = trio.open_memory_channel[UniverseUpdate](8)
    clock = WallClock.starting_now(NOW)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            web_feed.run,
            samples_rx,
            trio.open_memory_channel[OiSample](1)[1],
            alerts_rx,
            universe_rx,
            trio.open_memory_channel[Ingested](1)[1],
            WebState(),
            hub,
            poller,
            clock,
        )
        await samples_tx.send(sample("BTCUSDT", NOW))
        await samples_tx.send(sample("DOGEUSDT", NOW, mark=None, usd=None))
        await alerts_tx.send(alert(usd_change=-3.6e6))
        await universe_tx.send(universe())
        await trio.sleep(WS_HEARTBEAT_S + 1)
        nursery.cancel_scope.cancel()
    seen = set()
    while True:
        try:
            message = json.loads(outbound.receive_nowait())
        except trio.WouldBlock:
            break
        assert_matches(message, "WsServerEvent")
        seen.add(message["event"])
    assert seen == {"oi", "open_interest_alert", "universe", "heartbeat"}
    assert_matches(
        {"event": "oi", "data": [to_json(sample_view(sample("X", NOW), NOW))]}, "WsOiEvent"
    )
