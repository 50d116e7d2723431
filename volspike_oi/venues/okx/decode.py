"""OKX JSON → typed values, at one boundary, strictly.

OKX sends every value as a string, numbers and times included (`"oi":"4092973"`,
`"ts":"1654348683853"`, even `"code":"0"`), inside `{"code","msg","data":[…]}`. The converter
refuses any other type instead of coercing; unknown fields are ignored (OKX adds fields, e.g.
`oiUsd` in 2023); a missing or mistyped field raises `VenueDecodeError` naming the OKX key path
(`open-interest.data[3].oiCcy`).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from decimal import Decimal
from typing import Any, NewType, TypeVar

import attrs
from cattrs.preconf.json import make_converter

from volspike_oi.strict import register_strict_hooks
from volspike_oi.venues.decoding import structure
from volspike_oi.venues.errors import VenueDecodeError

T = TypeVar("T")

EpochMs = NewType("EpochMs", int)
"""Epoch milliseconds sent as a JSON string of digits ("1654348683853")."""


def _epoch_ms(value: object, _: type) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected a string of epoch milliseconds, got {type(value).__name__}")
    if not value.isdigit():
        raise ValueError(f"invalid epoch milliseconds {value!r}")
    return int(value)


_CONVERTER = register_strict_hooks(make_converter(forbid_extra_keys=False, use_alias=True))
_CONVERTER.register_structure_hook(EpochMs, _epoch_ms)


@attrs.frozen
class InstrumentRow:
    """One row of `GET /api/v5/public/instruments?instType=SWAP`. The contract fields stay
    strings here: SPOT rows and some pre-listing rows send `""` for them, and only the rows the
    client keeps must hold numbers (`instrument_decimals` checks those)."""

    inst_id: str = attrs.field(alias="instId")
    inst_type: str = attrs.field(alias="instType")
    settle_ccy: str = attrs.field(alias="settleCcy")
    ct_type: str = attrs.field(alias="ctType")
    """linear (coin-sized contracts) or inverse (USD-sized)."""
    state: str
    """live, suspend, preopen, test."""
    ct_val: str = attrs.field(alias="ctVal")
    """Contract value: coin of `ctValCcy` per contract for a linear swap."""
    ct_mult: str = attrs.field(alias="ctMult")
    ct_val_ccy: str = attrs.field(alias="ctValCcy")


@attrs.frozen
class OpenInterestRow:
    """A row of `GET /api/v5/public/open-interest` and of the `open-interest` channel."""

    inst_id: str = attrs.field(alias="instId")
    oi: Decimal
    """Open interest in contracts."""
    oi_ccy: Decimal = attrs.field(alias="oiCcy")
    """Open interest in coin (`oi` × ctVal × ctMult); used to check the conversion only."""
    ts_ms: EpochMs = attrs.field(alias="ts")
    oi_usd: Decimal | None = attrs.field(default=None, alias="oiUsd")
    """Added by OKX in 2023; absent from older captures, so nothing depends on it."""


@attrs.frozen
class MarkPriceRow:
    """A row of `GET /api/v5/public/mark-price` and of the `mark-price` channel."""

    inst_id: str = attrs.field(alias="instId")
    mark_px: Decimal = attrs.field(alias="markPx")
    ts_ms: EpochMs = attrs.field(alias="ts")


@attrs.frozen
class Envelope:
    """Every REST answer: `code` "0" and `data`, or an error code and `msg`."""

    code: str
    msg: str
    data: list[Any] = attrs.Factory(list)


@attrs.frozen
class PushArg:
    channel: str
    inst_id: str = attrs.field(alias="instId")


@attrs.frozen
class OpenInterestPush:
    arg: PushArg
    data: list[OpenInterestRow]


@attrs.frozen
class MarkPricePush:
    arg: PushArg
    data: list[MarkPriceRow]


@attrs.frozen
class EventMessage:
    """`{"event":"subscribe","arg":{…},"connId":…}`, `{"event":"error","code","msg",…}` or
    `{"event":"notice",…}` (a service upgrade will close the connection)."""

    event: str
    code: str = ""
    msg: str = ""
    arg: PushArg | None = None


@attrs.frozen
class HistoryRow:
    """One row of `GET /api/v5/rubik/stat/contracts/open-interest-history`, which OKX sends as
    an array of strings, `[ts, oi, oiCcy, oiUsd]` (docs: "The data returned will be arranged in
    an array like this"), newest first. `oi` is in contracts, `oiCcy` in coin, `oiUsd` in USD
    (the docs' units, the same as the `open-interest` rows')."""

    ts_ms: int
    oi: Decimal
    """Contracts: the source of the coin figure, as in a live reading."""
    oi_ccy: Decimal
    oi_usd: Decimal | None
    """Absent from rows of three (a shape reported for some periods); nothing depends on it."""


def _history_decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise VenueDecodeError(
            "open-interest-history", [f"expected a string, got {type(value).__name__} @ {where}"]
        )
    try:
        out = Decimal(value)
    except ArithmeticError:
        out = Decimal("NaN")
    if not out.is_finite():
        raise VenueDecodeError("open-interest-history", [f"invalid decimal {value!r} @ {where}"])
    return out


def decode_history_rows(data: Any, what: str) -> list[HistoryRow]:
    """`data` of the history: a list of arrays of 3 or 4 strings (ts, oi, oiCcy[, oiUsd])."""
    if not isinstance(data, list):
        raise VenueDecodeError(what, [f"expected a list, got {type(data).__name__} @ {what}.data"])
    rows = []
    for i, row in enumerate(data):
        where = f"{what}.data[{i}]"
        if not isinstance(row, list) or not 3 <= len(row) <= 4:
            shape = f"{len(row)} items" if isinstance(row, list) else type(row).__name__
            raise VenueDecodeError(
                what, [f"expected [ts, oi, oiCcy, oiUsd], got {shape} @ {where}"]
            )
        ts = row[0]
        if not isinstance(ts, str) or not ts.isdigit():
            raise VenueDecodeError(what, [f"invalid epoch milliseconds {ts!r} @ {where}[0]"])
        rows.append(
            HistoryRow(
                ts_ms=int(ts),
                oi=_history_decimal(row[1], f"{where}[1]"),
                oi_ccy=_history_decimal(row[2], f"{where}[2]"),
                oi_usd=_history_decimal(row[3], f"{where}[3]") if len(row) == 4 else None,
            )
        )
    return rows


def decode(doc: Any, cls: type[T], what: str) -> T:
    return structure(_CONVERTER, doc, cls, what)


def decode_rows(data: Any, cls: type[T], what: str) -> list[T]:
    """`data` of an envelope or a push, row by row, each error naming `what.data[i].key`."""
    if not isinstance(data, list):
        raise VenueDecodeError(what, [f"expected a list, got {type(data).__name__} @ {what}.data"])
    return [decode(row, cls, f"{what}.data[{i}]") for i, row in enumerate(data)]


def tracked_rows(
    data: Any,
    cls: type[T],
    what: str,
    tracked: Container[str],
    on_bad: Callable[[str, VenueDecodeError], None],
) -> list[T]:
    """The rows of `data` whose `instId` is in `tracked`, each decoded on its own: a row that
    does not decode goes to `on_bad(instId, error)` and is left out, and rows of instruments not
    tracked are never decoded (a pre-open swap's `""` cannot fail the others)."""
    if not isinstance(data, list):
        raise VenueDecodeError(what, [f"expected a list, got {type(data).__name__} @ {what}.data"])
    out = []
    for i, row in enumerate(data):
        inst_id = row.get("instId") if isinstance(row, dict) else None
        if not isinstance(inst_id, str) or inst_id not in tracked:
            continue
        try:
            out.append(decode(row, cls, f"{what}.data[{i}]"))
        except VenueDecodeError as exc:
            on_bad(inst_id, exc)
    return out


def instrument_decimals(row: InstrumentRow, where: str) -> tuple[Decimal, Decimal]:
    """(ctVal, ctMult) of a row the client keeps, as positive decimals."""
    out = []
    for key, text in (("ctVal", row.ct_val), ("ctMult", row.ct_mult)):
        try:
            value = Decimal(text)
        except ArithmeticError:
            value = Decimal("NaN")
        if not value.is_finite() or value <= 0:
            raise VenueDecodeError(
                "instruments", [f"expected a positive decimal string, got {text!r} @ {where}.{key}"]
            )
        out.append(value)
    return out[0], out[1]
