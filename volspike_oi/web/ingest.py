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
import math
from decimal import Decimal
from typing import Any, Literal, cast

import attrs

from volspike_oi.messages import OiAlert, OiSample, SampleSource
from volspike_oi.views import OiAlertView
from volspike_oi.web.errors import BadRequest
from volspike_oi.wire import Count, described

SOURCES: frozenset[str] = frozenset({"snapshot", "realtime", "snapshot_legacy"})
MAX_ITEMS = 5000
MAX_SYMBOL_LEN = 40
MAX_DIGITS = 40
MAX_EXPONENT = 17
"""Numbers are below 1e18 in magnitude: beyond that a value is no OI, price or USD amount, and
Postgres or a float could not hold it (Decimal accepts "1e999999")."""
MIN_EXPONENT = -30
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
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
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = "null" if value is None else type(value).__name__
        raise IngestError(field, f"expected a number, got {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise IngestError(field, "expected a finite number")
    try:
        # repr() of a float is its shortest exact decimal form: 123456.789 stays 123456.789.
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError:
        raise IngestError(field, f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise IngestError(field, "expected a finite number")
    if number and (
        len(number.as_tuple().digits) > MAX_DIGITS
        or not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT
    ):
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
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(field, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        in_range = EARLIEST <= parsed < LATEST
    except OverflowError:
        in_range = False
    if not in_range:
        raise IngestError(field, f"not between {EARLIEST.year} and {LATEST.year - 1}: {value!r}")
    return parsed.timestamp()


def _symbol(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IngestError(field, "expected a non-empty symbol string")
    if len(value) > MAX_SYMBOL_LEN or any(c.isspace() for c in value) or not value.isprintable():
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
    if now is not None and at - now > MAX_AHEAD_S:
        raise IngestError(
            field,
            f"{at - now:.0f} s in the future (more than {MAX_AHEAD_S:.0f} s: check the sender's clock)",
        )
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
    with decimal.localcontext(prec=2 * (MAX_EXPONENT + 1) + 4):
        return (contracts * mark).quantize(CENT)


def parse_alert_ingest(body: Any, now: float | None = None) -> OiAlert:
    """`POST /api/open-interest-alerts/ingest`: seed 001 §5.3's alert payload."""
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
    if not isinstance(source, str) or not source or len(source) > 64 or not source.isprintable():
        raise IngestError("source", "expected a short non-empty string")
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
    )
