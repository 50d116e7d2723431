"""Scripted market events for the simulator, read from a JSON scenario file.

A scenario is `{"events": [{"type": ..., "at_s": ... or "at_min": ..., ...}, ...]}`. Each event
type is a frozen attrs class; the file is decoded strictly (unknown keys and wrong types are
errors that name the event index and field) so a typo never silently does nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import cattrs

from volspike_oi.sim.faults import Faults
from volspike_oi.strict import format_error, register_strict_hooks


class ScenarioError(ValueError):
    """The scenario file cannot be used; the message names the event and the field."""


@attrs.frozen
class OiChange:
    """Open interest of `symbol` moves by `pct` percent, at once or spread over `over_s`."""

    at_s: float
    symbol: str
    pct: float
    over_s: float = 0.0


@attrs.frozen
class QuoteVolumeChange:
    """24h quote volume of `symbol` becomes `usdt` (and stays near it) from `at_s`."""

    at_s: float
    symbol: str
    usdt: float


@attrs.frozen
class Listing:
    """A new USDT perpetual starts trading at `at_s`."""

    at_s: float
    symbol: str
    quote_volume_usdt: float
    mark_price: float


@attrs.frozen
class Delisting:
    """`symbol` stops trading (status SETTLING); with `remove` it vanishes from exchangeInfo."""

    at_s: float
    symbol: str
    remove: bool = False


@attrs.frozen
class SetFaults:
    """From `at_s` the simulator's fault injection is `faults` (fields of `Faults`)."""

    at_s: float
    faults: Faults


Event = OiChange | QuoteVolumeChange | Listing | Delisting | SetFaults

EVENT_TYPES: dict[str, type[Any]] = {
    "oi_change": OiChange,
    "quote_volume": QuoteVolumeChange,
    "listing": Listing,
    "delisting": Delisting,
    "faults": SetFaults,
}


@attrs.frozen
class Scenario:
    events: tuple[Event, ...] = ()


NO_EVENTS = Scenario()
"""A quiet market: only the random walks move."""


_CONVERTER = register_strict_hooks(
    cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
)


def _describe(exc: cattrs.BaseValidationError, where: str) -> str:
    """cattrs' "message @ path" lines as "path: message", like the other scenario errors."""
    lines = cattrs.transform_error(exc, path=where, format_exception=format_error)
    return "; ".join(f"{path}: {msg}" for msg, _, path in (ln.rpartition(" @ ") for ln in lines))


def _out_of_range(event: Event) -> str | None:
    """The first field whose value makes no sense, as "field: reason"."""
    if event.at_s < 0:
        return "at_s: must be ≥ 0"
    if isinstance(event, OiChange):
        if event.pct <= -100:
            return "pct: must be > -100 (open interest cannot drop to zero or below)"
        if event.over_s < 0:
            return "over_s: must be ≥ 0"
    elif isinstance(event, QuoteVolumeChange):
        if event.usdt < 0:
            return "usdt: must be ≥ 0"
    elif isinstance(event, Listing):
        if event.symbol != event.symbol.upper() or not event.symbol.endswith("USDT"):
            return f"symbol: a listing is an upper-case USDT perpetual, got {event.symbol!r}"
        if event.quote_volume_usdt < 0:
            return "quote_volume_usdt: must be ≥ 0"
        if event.mark_price <= 0:
            return "mark_price: must be > 0"
    return None


def decode_faults(doc: object) -> Faults:
    """Fault settings from JSON, as strictly as a scenario's (`POST /_sim/faults` uses it):
    unknown keys and wrong types are refused with a `ScenarioError` naming the field."""
    try:
        return _CONVERTER.structure(doc, Faults)
    except cattrs.BaseValidationError as exc:
        raise ScenarioError(_describe(exc, "faults")) from None


def parse_scenario(doc: object) -> Scenario:
    """Decode a scenario document (already parsed JSON)."""
    if not isinstance(doc, dict) or set(doc) != {"events"} or not isinstance(doc["events"], list):
        raise ScenarioError('a scenario is an object with one key, "events", holding a list')
    events: list[Event] = []
    for i, raw in enumerate(doc["events"]):
        where = f"events[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected an object")
        item = dict(raw)
        kind = item.pop("type", None)
        cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ScenarioError(
                f"{where}.type: expected one of {', '.join(EVENT_TYPES)}, got {kind!r}"
            )
        if "at_min" in item:
            if "at_s" in item:
                raise ScenarioError(f"{where}: give at_s or at_min, not both")
            minutes = item.pop("at_min")
            if (
                isinstance(minutes, bool)
                or not isinstance(minutes, int | float)
                or not math.isfinite(minutes)
            ):
                raise ScenarioError(f"{where}.at_min: expected a finite number")
            item["at_s"] = float(minutes) * 60
        try:
            event = _CONVERTER.structure(item, cls)
        except cattrs.BaseValidationError as exc:
            raise ScenarioError(_describe(exc, where)) from None
        problem = _out_of_range(event)
        if problem is not None:
            raise ScenarioError(f"{where}.{problem}")
        events.append(event)
    events.sort(key=lambda e: e.at_s)
    return Scenario(tuple(events))


def load_scenario(path: str | Path) -> Scenario:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario {path} is not JSON: {exc}") from None
    return parse_scenario(doc)


BUILTIN_DIR = Path(__file__).parent / "scenarios"
