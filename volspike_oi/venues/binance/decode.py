"""Binance JSON → typed values, at one boundary, strictly.

Binance sends prices, quantities and OI as strings and times as integers; cattrs would coerce
`"7"` → 7 and 7.9 → 7 by default, so strict hooks refuse any other type. Unknown extra fields
are allowed (Binance adds fields without notice); missing or mistyped ones raise `DecodeError`
(an `ExchangeError`) with readable messages naming the field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from volspike_oi.strict import format_error, register_strict_hooks
from volspike_oi.venues.binance.errors import DecodeError

T = TypeVar("T")


_CONVERTER = register_strict_hooks(make_converter(forbid_extra_keys=False, use_alias=True))


@attrs.frozen
class ExchangeSymbol:
    symbol: str
    contract_type: str = attrs.field(alias="contractType")
    status: str
    quote_asset: str = attrs.field(alias="quoteAsset")
    margin_asset: str = attrs.field(alias="marginAsset")


@attrs.frozen
class ExchangeInfo:
    symbols: list[ExchangeSymbol]


@attrs.frozen
class Ticker24h:
    symbol: str
    quote_volume: Decimal = attrs.field(alias="quoteVolume")


@attrs.frozen
class OpenInterest:
    symbol: str
    open_interest: Decimal = attrs.field(alias="openInterest")
    time_ms: int = attrs.field(alias="time")


@attrs.frozen
class PremiumIndex:
    symbol: str
    mark_price: Decimal = attrs.field(alias="markPrice")
    time_ms: int = attrs.field(alias="time")


@attrs.frozen
class OpenInterestHistRow:
    symbol: str
    sum_open_interest: Decimal = attrs.field(alias="sumOpenInterest")
    timestamp_ms: int = attrs.field(alias="timestamp")
    """An integer on the live API (the docs example's string is wrong)."""
    sum_open_interest_value: Decimal | None = attrs.field(
        default=None, alias="sumOpenInterestValue"
    )
    """USD value of sumOpenInterest: with it, the row's mark price for the alert context."""


@attrs.frozen
class MarkPriceUpdate:
    symbol: str = attrs.field(alias="s")
    mark_price: Decimal = attrs.field(alias="p")
    event_ms: int = attrs.field(alias="E")
    symbol_type: int = attrs.field(alias="st", default=1)
    """1 = USDT-M, 2 = COIN-M (COIN-M rows ride on the same stream since 2026-06)."""


@attrs.frozen
class MarkPriceFrame:
    stream: str
    data: list[MarkPriceUpdate]


@attrs.frozen
class ErrorBody:
    code: int
    msg: str


def _messages(exc: BaseException, path: str) -> list[str]:
    """One `message @ path` per leaf error, the path in Binance's own keys (`openInterest.time`,
    not our attribute `time_ms`): the reader compares it with the body Binance sent."""
    if isinstance(exc, cattrs.ClassValidationError):
        aliases = {f.name: f.alias for f in attrs.fields(exc.cl)}
        with_notes, without = exc.group_exceptions()
        out = [
            m
            for sub, note in with_notes
            for m in _messages(sub, f"{path}.{aliases.get(note.name, note.name)}")
        ]
        return out + [m for sub in without for m in _messages(sub, path)]
    if isinstance(exc, cattrs.IterableValidationError):
        indexed, unindexed = exc.group_exceptions()
        out = [m for sub, note in indexed for m in _messages(sub, f"{path}[{note.index!r}]")]
        return out + [m for sub in unindexed for m in _messages(sub, path)]
    if isinstance(exc, KeyError):
        return [f"required field missing @ {path}"]
    return [f"{format_error(exc, None)} @ {path}"]


def decode(doc: Any, cls: type[T], what: str) -> T:
    if attrs.has(cls) and not isinstance(doc, dict):
        raise DecodeError(what, [f"expected an object, got {type(doc).__name__}"])
    try:
        return _CONVERTER.structure(doc, cls)
    except cattrs.BaseValidationError as exc:
        raise DecodeError(what, _messages(exc, what)) from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise DecodeError(what, [str(exc)]) from None


def decode_list(doc: Any, cls: type[T], what: str) -> list[T]:
    if not isinstance(doc, list):
        raise DecodeError(what, [f"expected a list, got {type(doc).__name__}"])
    return [decode(item, cls, f"{what}[{i}]") for i, item in enumerate(doc)]


BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")


def banned_until_ms(body: bytes | str) -> int | None:
    """The ban's end (epoch ms) a 418's -1003 body names ("IP banned until 1791383040000. ..."),
    or None when the body says nothing usable."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    msg = doc.get("msg") if isinstance(doc, dict) else None
    found = BANNED_UNTIL.search(msg) if isinstance(msg, str) else None
    return int(found.group(1)) if found else None


def parse_json(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise DecodeError(what, [f"not JSON ({exc})"]) from None
