"""Validation of the existing backend's ingest payloads: pure functions, no I/O.

A malformed body raises `IngestError` naming the field (`data[3].openInterest`), so the route
answers 400 and stores nothing. A well-formed item that cannot be used (mark price ≤ 0, a symbol
we do not track, a duplicate) is not silently dropped as in seed 003: it is returned as
`Rejected` with its reason, next to the samples that will be stored.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
import re
from decimal import Decimal
from typing import Any, Literal, cast

import attrs

from volspike_oi.messages import OiAlert, OiSample, SampleSource
from volspike_oi.views import OiAlertView
from volspike_oi.web.contract import DECIMAL_PATTERN, MAX_NUMBER, is_alert_source, is_symbol
from volspike_oi.web.errors import BadRequest
from volspike_oi.wire import Count, described

log = logging.getLogger(__name__)

SOURCES: frozenset[str] = frozenset({"snapshot", "realtime", "snapshot_legacy"})
MAX_ITEMS = 5000
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""Times outside these years are typos; a year 0 or 10000 would not even convert to UTC."""
CENT = Decimal("0.01")


class IngestError(BadRequest):
    """A malformed ingest body."""


@attrs.frozen
class Rejected:
    """A well-formed item that was not stored (bad price, unknown symbol, duplicate)."""

    index: Count = attrs.field(metadata=described("Position of the item in `data`."))
    symbol: str
    reason: str = attrs.field(metadata=described("Why it was not stored."))


@attrs.frozen
class OiIngest:
    samples: list[OiSample]
    rejected: list[Rejected]
    total_symbols: int | None


@attrs.frozen
class OiIngestResult:
    stored: Count = attrs.field(metadata=described("New rows stored."))
    duplicates: Count = attrs.field(
        metadata=described(
            "Accepted items already stored (same symbol, time and source): a re-posted batch."
        )
    )
    rejected: list[Rejected]
    received: Count = attrs.field(
        metadata=described("Items received: stored + duplicates + rejected.")
    )
    total_symbols: Count | None = attrs.field(
        metadata=described("The request's totalSymbols, or null.", json="totalSymbols")
    )


@attrs.frozen
class OiAlertIngestResult:
    stored: Literal[1]
    """Always 1: the alert is stored (or was already)."""
    alert: OiAlertView


def parse_body(raw: str | bytes) -> Any:
    """The JSON body. NaN and Infinity (which Python's json.dumps writes) are let through as
    floats, so that the 400 names the field that holds them."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError("$", f"body is not valid JSON ({exc})") from None
    except RecursionError:
        raise IngestError("$", "body is nested too deeply") from None


def _number(value: Any, field: str, *, optional: bool = False) -> Decimal | None:
    """A JSON number, or a string of plain decimal digits (`contract.DECIMAL_PATTERN`), below
    `MAX_NUMBER` in magnitude."""
    if value is None and optional:
        return None
    if isinstance(value, str):
        if re.fullmatch(DECIMAL_PATTERN, value) is None:
            raise IngestError(field, f"expected a decimal such as 123.45, got {value[:50]!r}")
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "null" if value is None else type(value).__name__
        raise IngestError(field, f"expected a number, got {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise IngestError(field, "expected a finite number")
    # repr() of a float is its shortest exact decimal form: 123456.789 stays 123456.789.
    number = Decimal(repr(value) if isinstance(value, float) else value)
    if not -MAX_NUMBER < number < MAX_NUMBER:
        raise IngestError(field, f"out of range: {str(value)[:50]}")
    return number


def _required_number(value: Any, field: str) -> Decimal:
    number = _number(value, field)
    assert number is not None
    return number


def _timestamp(value: Any, field: str) -> float:
    if not isinstance(value, str):
        raise IngestError(field, "expected an ISO 8601 time such as 2025-11-06T12:05:00Z")
    try:
        # RFC 3339 allows a lower-case t and z; fromisoformat wants them upper-case.
        parsed = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(field, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    # The year as written (the spec's pattern says 20xx), not after the offset is applied.
    if not EARLIEST.year <= parsed.year < LATEST.year:
        raise IngestError(field, f"not between {EARLIEST.year} and {LATEST.year - 1}: {value!r}")
    return (parsed - EPOCH).total_seconds()


def _symbol(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IngestError(field, "expected a non-empty symbol string")
    if not is_symbol(value):
        raise IngestError(field, f"not a symbol: {value[:50]!r}")
    return value.upper()


def _source(value: Any, field: str, default: SampleSource) -> SampleSource:
    if value is None:
        return default
    if not isinstance(value, str) or value not in SOURCES:
        raise IngestError(field, f"expected one of {', '.join(sorted(SOURCES))}")
    return cast(SampleSource, value)


MAX_AHEAD_S = 300.0
"""A timestamp further ahead of our clock is refused: it would look fresh until that time."""


def _not_ahead(at: float, now: float | None, field: str) -> float:
    """`at`, or our `now` when `at` is further ahead than `MAX_AHEAD_S`: the reading is fresh
    now, but stored at the sender's time it would look fresh until that time. Logged, so the
    sender's clock gets fixed."""
    if now is not None and at - now > MAX_AHEAD_S:
        log.warning(
            "%s %.0f s ahead of our clock: taken as now (check the sender's clock)", field, at - now
        )
        return now
    return at


def parse_oi_ingest(
    body: Any, tracked: frozenset[str] | None, now: float | None = None
) -> OiIngest:
    """`POST /api/market/open-interest/ingest`: the legacy 5-minute snapshot payload of seed 000
    (`{data: [{symbol, openInterest, openInterestUsd, markPrice}], timestamp, totalSymbols}`)
    or a realtime batch (`source: "realtime"`, per item or for the whole batch)."""
    if not isinstance(body, dict):
        raise IngestError("$", "expected a JSON object")
    if "data" not in body:
        raise IngestError("data", "required")
    items = body["data"]
    if not isinstance(items, list):
        raise IngestError("data", "expected a list of items")
    if len(items) > MAX_ITEMS:
        raise IngestError("data", f"at most {MAX_ITEMS} items per request")
    if "timestamp" not in body:
        raise IngestError("timestamp", "required")
    at = _not_ahead(_timestamp(body["timestamp"], "timestamp"), now, "timestamp")
    total = body.get("totalSymbols")
    if isinstance(total, float) and total.is_integer():
        total = int(total)  # JSON has one number type: 342.0 is the whole number 342
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise IngestError("totalSymbols", "expected a whole number ≥ 0")
    batch_source = _source(body.get("source"), "source", "snapshot")

    parsed: list[tuple[int, str, Decimal, Decimal | None, Decimal | None, SampleSource]] = []
    for i, item in enumerate(items):
        where = f"data[{i}]"
        if not isinstance(item, dict):
            raise IngestError(where, "expected an object")
        symbol = _symbol(item.get("symbol"), f"{where}.symbol")
        contracts = _required_number(item.get("openInterest"), f"{where}.openInterest")
        usd = _number(item.get("openInterestUsd"), f"{where}.openInterestUsd", optional=True)
        mark = _number(item.get("markPrice"), f"{where}.markPrice", optional=True)
        source = _source(item.get("source"), f"{where}.source", batch_source)
        parsed.append((i, symbol, contracts, usd, mark, source))

    samples: list[OiSample] = []
    rejected: list[Rejected] = []
    seen: set[tuple[str, str]] = set()
    for i, symbol, contracts, usd, mark, source in parsed:
        reason = None
        if contracts < 0:
            reason = "openInterest must be ≥ 0"
        elif mark is None or mark <= 0:
            reason = "markPrice must be > 0 (a missing price is not stored as $0)"
        elif usd is not None and usd < 0:
            reason = "openInterestUsd must be ≥ 0"
        elif tracked is not None and symbol not in tracked:
            reason = "unknown symbol: not a trading USDT-M perpetual"
        elif (symbol, source) in seen:
            reason = "duplicate symbol in this batch"
        if reason is not None:
            rejected.append(Rejected(i, symbol, reason))
            continue
        assert mark is not None
        seen.add((symbol, source))
        samples.append(
            OiSample(
                symbol=symbol,
                contracts=contracts,
                exchange_time_ms=round(at * 1000),
                received_at=at,
                mark_price=mark,
                usd=usd if usd is not None else _usd(contracts, mark),
                source=source,
            )
        )
    return OiIngest(samples, rejected, total)


def _usd(contracts: Decimal, mark: Decimal) -> Decimal:
    # Both are below 1e18: the cents of the product need up to 38 digits, more than the
    # default context's 28.
    with decimal.localcontext(prec=2 * len(str(MAX_NUMBER)) + 4):
        return (contracts * mark).quantize(CENT)


CONTEXT_FIELDS = ("baselineUsd", "currentUsd", "markPriceChangePct", "windowMinutes")
"""Optional alert members beside seed 001 §5.3's: absent or null when unknown."""
POSITIVE_CONTEXT_FIELDS = frozenset({"baselineUsd", "currentUsd", "windowMinutes"})
"""A USD level or a window of 0 would read as a value: unknown is null, never 0."""


def parse_alert_ingest(body: Any, now: float | None = None) -> OiAlert:
    """`POST /api/open-interest-alerts/ingest`: seed 001 §5.3's alert payload, unchanged, with
    the optional context members (`CONTEXT_FIELDS`)."""
    if not isinstance(body, dict):
        raise IngestError("$", "expected a JSON object")
    symbol = _symbol(body.get("symbol"), "symbol")
    direction = body.get("direction")
    if direction not in ("UP", "DOWN"):
        raise IngestError("direction", 'expected "UP" or "DOWN"')
    fields = {}
    for name in ("baseline", "current", "pctChange", "absChange"):
        fields[name] = float(_required_number(body.get(name), name))
    if fields["baseline"] <= 0:
        raise IngestError("baseline", "must be > 0")
    at = _not_ahead(_timestamp(body.get("timestamp"), "timestamp"), now, "timestamp")
    source = body.get("source", "external")
    if not isinstance(source, str) or not is_alert_source(source):
        raise IngestError("source", "expected 1–64 characters without control characters")
    more: dict[str, float | None] = {}
    for name in CONTEXT_FIELDS:
        number = _number(body.get(name), name, optional=True)
        if number is not None and number <= 0 and name in POSITIVE_CONTEXT_FIELDS:
            raise IngestError(name, "must be > 0 (null when unknown)")
        more[name] = None if number is None else float(number)
    return OiAlert(
        symbol=symbol,
        direction=direction,
        baseline=fields["baseline"],
        current=fields["current"],
        pct_change=fields["pctChange"],
        abs_change=fields["absChange"],
        timestamp=at,
        baseline_samples=0,
        source=source,
        baseline_usd=more["baselineUsd"],
        current_usd=more["currentUsd"],
        mark_price_change_pct=more["markPriceChangePct"],
        window_minutes=more["windowMinutes"],
    )
