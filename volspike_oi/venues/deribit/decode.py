"""Deribit JSON-RPC → typed values, at one boundary, strictly.

Deribit sends every number as a JSON number (never a string), sometimes with a trailing `.0`
(`"open_interest":1132329370.0`). Bodies are parsed with `parse_float=Decimal`, so a price keeps
the digits Deribit wrote; a string where a number belongs, a bool, or a missing required key is a
`VenueDecodeError` naming the key path in Deribit's own names (`result[3].open_interest`).
Unknown keys are ignored: Deribit adds fields (`interest_value`, `instrument_type`) over time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from volspike_oi.strict import register_strict_hooks
from volspike_oi.venues.decoding import parse_decimal_json, structure
from volspike_oi.venues.errors import VenueDecodeError

T = TypeVar("T")

TOO_MANY_REQUESTS = 10028
"""JSON-RPC error code of a refusal for rate ("too_many_requests")."""


def decimal_from_number(value: object, _: type) -> Decimal:
    """A JSON number (parsed as int or, with `parse_float=Decimal`, as Decimal); never a string."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    out = Decimal(value)
    if not out.is_finite():
        raise ValueError(f"invalid number {value!r}")
    return out


_CONVERTER = register_strict_hooks(make_converter(forbid_extra_keys=False))
_CONVERTER.register_structure_hook(Decimal, decimal_from_number)


@attrs.frozen
class InstrumentRow:
    """One row of `public/get_instruments`."""

    instrument_name: str
    kind: str
    """"future" for perpetuals and dated futures alike; "option", "spot", … otherwise."""
    base_currency: str
    quote_currency: str
    """"USD" for the inverse (coin-settled) contracts, "USDC" for the linear ones."""
    settlement_period: str
    """"perpetual" for perpetuals; "day", "week", "month" for dated futures."""
    is_active: bool
    contract_size: Decimal
    settlement_currency: str | None = None
    """Absent from older rows (the 2021 BTC capture); "BTC" inverse, "USDC" linear."""
    future_type: str | None = None
    """"linear" or "reversed" (inverse); older name of `instrument_type`."""
    instrument_type: str | None = None


@attrs.frozen
class BookSummaryRow:
    """One row of `public/get_book_summary_by_currency` (or `…_by_instrument`)."""

    instrument_name: str
    open_interest: Decimal
    """USD for inverse futures, coin for linear ones, contracts for options."""
    mark_price: Decimal | None
    creation_timestamp: int
    """Epoch ms the summary was made."""


@attrs.frozen
class TickerData:
    """`data` of a `ticker.<instrument>.<interval>` notification: the instrument's full state
    (Deribit sends every field on every push; there are no deltas to merge)."""

    instrument_name: str
    open_interest: Decimal
    mark_price: Decimal
    timestamp: int


@attrs.frozen
class RpcError:
    code: int
    message: str


def parse_json(body: bytes | str, what: str) -> Any:
    """Parse a body, floats as `Decimal` (the digits Deribit wrote, no binary rounding)."""
    return parse_decimal_json(body, what)


def decode(doc: Any, cls: type[T], what: str, path: str) -> T:
    # Deribit's converter reads attribute names (no aliases): the path names them as they are.
    return structure(_CONVERTER, doc, cls, what, path, use_alias=False)


def rpc_error(doc: Any) -> RpcError | None:
    """The `error` member of a JSON-RPC answer, when it has one of the documented shape."""
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return None
    try:
        return _CONVERTER.structure(doc["error"], RpcError)
    except (cattrs.BaseValidationError, ValueError, TypeError):
        return None


def result_list(doc: Any, cls: type[T], what: str) -> list[T]:
    """`result` of a JSON-RPC answer, a list of `cls` rows."""
    if not isinstance(doc, dict):
        raise VenueDecodeError(what, [f"expected an object, got {type(doc).__name__}"])
    if "result" not in doc:
        raise VenueDecodeError(what, ["required field missing @ result"])
    rows = doc["result"]
    if not isinstance(rows, list):
        raise VenueDecodeError(what, [f"expected a list, got {type(rows).__name__} @ result"])
    return [decode(row, cls, what, f"result[{i}]") for i, row in enumerate(rows)]


def decode_instruments(doc: Any) -> list[InstrumentRow]:
    return result_list(doc, InstrumentRow, "get_instruments")


def decode_book_summaries(doc: Any) -> list[BookSummaryRow]:
    return result_list(doc, BookSummaryRow, "get_book_summary_by_currency")


@attrs.frozen
class Notification:
    """A subscription push: which channel, and its (still undecoded) data."""

    channel: str
    data: Any


def notification(doc: Any) -> Notification | None:
    """The channel and data of a `"method":"subscription"` message; None for anything else
    (replies, heartbeats). A subscription without `params.channel`/`params.data` is an error."""
    if not isinstance(doc, dict) or doc.get("method") != "subscription":
        return None
    params = doc.get("params")
    if not isinstance(params, dict):
        raise VenueDecodeError("subscription", ["expected an object @ params"])
    channel = params.get("channel")
    if not isinstance(channel, str):
        raise VenueDecodeError("subscription", ["expected a string @ params.channel"])
    if "data" not in params:
        raise VenueDecodeError("subscription", ["required field missing @ params.data"])
    return Notification(channel, params["data"])


def decode_ticker(data: Any) -> TickerData:
    return decode(data, TickerData, "ticker", "params.data")


def is_test_request(doc: Any) -> bool:
    """The server's `heartbeat` of type `test_request`: answer with `public/test` or be cut."""
    if not isinstance(doc, dict) or doc.get("method") != "heartbeat":
        return False
    params = doc.get("params")
    return isinstance(params, dict) and params.get("type") == "test_request"
