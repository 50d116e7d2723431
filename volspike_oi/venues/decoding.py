"""Strict JSON decoding every venue's `decode.py` shares: parse a body, structure it with the
venue's converter, and turn cattrs' validation groups into one `VenueDecodeError` whose messages
name the venue's own key path (`open-interest.data[3].oiCcy`), never our attribute names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs

from volspike_oi.strict import format_error
from volspike_oi.venues.errors import VenueDecodeError

T = TypeVar("T")


def parse_json(
    body: bytes | str, what: str, *, parse_float: Callable[[str], Any] | None = None
) -> Any:
    """The body as JSON, or `VenueDecodeError` saying it is not JSON (a cut-short body)."""
    try:
        return json.loads(body, parse_float=parse_float)
    except ValueError as exc:
        raise VenueDecodeError(what, [f"not JSON ({exc})"]) from None


def error_messages(exc: BaseException, path: str, *, use_alias: bool = True) -> list[str]:
    """One `message @ path` per leaf error. With `use_alias` a field is named by its alias (the
    venue's key), as converters made with `use_alias=True` read it."""
    if isinstance(exc, cattrs.ClassValidationError):
        aliases = {f.name: f.alias for f in attrs.fields(exc.cl)} if use_alias else {}
        with_notes, without = exc.group_exceptions()
        out = [
            m
            for sub, note in with_notes
            for m in error_messages(
                sub, f"{path}.{aliases.get(note.name, note.name)}", use_alias=use_alias
            )
        ]
        return out + [m for sub in without for m in error_messages(sub, path, use_alias=use_alias)]
    if isinstance(exc, cattrs.IterableValidationError):
        indexed, unindexed = exc.group_exceptions()
        out = [
            m
            for sub, note in indexed
            for m in error_messages(sub, f"{path}[{note.index!r}]", use_alias=use_alias)
        ]
        return out + [
            m for sub in unindexed for m in error_messages(sub, path, use_alias=use_alias)
        ]
    if isinstance(exc, KeyError):
        return [f"required field missing @ {path}"]
    return [f"{format_error(exc, None)} @ {path}"]


def structure(
    converter: cattrs.Converter,
    doc: Any,
    cls: type[T],
    what: str,
    path: str | None = None,
    *,
    use_alias: bool = True,
) -> T:
    """`doc` as `cls`, or one `VenueDecodeError` about `what` whose messages start at `path`
    (default `what`). An attrs class needs a JSON object: a list or a string there is refused
    before cattrs would report it less clearly."""
    where = what if path is None else path
    if attrs.has(cls) and not isinstance(doc, dict):
        raise VenueDecodeError(what, [f"expected an object, got {type(doc).__name__} @ {where}"])
    try:
        return converter.structure(doc, cls)
    except cattrs.BaseValidationError as exc:
        raise VenueDecodeError(what, error_messages(exc, where, use_alias=use_alias)) from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise VenueDecodeError(what, [f"{exc} @ {where}"]) from None


def parse_decimal_json(body: bytes | str, what: str) -> Any:
    """`parse_json` with floats as `Decimal`: the digits the venue wrote, no binary rounding."""
    return parse_json(body, what, parse_float=Decimal)
