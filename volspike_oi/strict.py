"""Strict cattrs hooks: JSON values are taken as they are typed, never coerced.

cattrs' defaults turn `"7"` into 7 and 7.9 into 7, and have no `Decimal` hook. Binance sends
numbers as strings and times as integers; our own files (scenarios) send real numbers. Both
decoders register these hooks so a wrong type is an error naming the field, not a silent guess.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

import cattrs


def strict_int(value: object, _: type) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return value


def strict_float(value: object, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return float(value)


def strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def strict_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def decimal_from_str(value: object, _: type) -> Decimal:
    """A decimal sent as a JSON string, as Binance sends prices, quantities and OI."""
    if not isinstance(value, str):
        raise ValueError(f"expected a decimal string, got {type(value).__name__}")
    try:
        out = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"invalid decimal {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"invalid decimal {value!r}")
    return out


def register_strict_hooks(converter: cattrs.Converter) -> cattrs.Converter:
    for type_, hook in (
        (int, strict_int),
        (float, strict_float),
        (str, strict_str),
        (bool, strict_bool),
        (Decimal, decimal_from_str),
    ):
        converter.register_structure_hook(type_, hook)
    return converter


def format_error(exc: BaseException, type_: type | None) -> str:
    """For `cattrs.transform_error`: keep our hooks' own messages (cattrs' default text,
    "invalid value for type, expected float", would hide what was wrong)."""
    if type(exc) is ValueError:
        return str(exc)
    return cattrs.v.format_exception(exc, type_)
