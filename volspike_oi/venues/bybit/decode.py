"""Bybit v5 JSON → typed values, strictly, at one boundary (REST envelopes, instruments, tickers,
open-interest history, WebSocket acknowledgements and `tickers.{symbol}` pushes).

Bybit sends prices and sizes as JSON strings and `retCode`/`time`/`ts`/`cs` as numbers; a value
of any other type is an error naming the venue's key path (`tickers.result.list[3].markPrice`),
never a silent coercion. Unknown fields are ignored (Bybit adds fields without notice:
`singleOpenInterest`, `symbolId`, `fundingIntervalHour` …).

Units (pinned in tests/venues/test_bybit_decode.py with the captures' numbers):
- A linear contract's `openInterest` counts units of the base coin ("BTCUSDT(linear) is BTC"):
  the 2023-04-05 `tickers.BTCUSDT` capture has openInterest 52774.528 and markPrice 28552.81, and
  its `openInterestValue` 1506861070.82 USDT is their product. So `Instrument.kind` is "linear"
  and `coin_per_contract` is the bundle multiplier of `baseCoin` (1000 for 1000PEPE, 1 for BTC).
- Which OI field: since 2026-06 (bybit-exchange/docs c416bd5bd, `docs/v5/market/tickers.mdx` and
  `docs/v5/websocket/public/ticker.mdx`) Bybit documents `openInterest` as "Open interest size
  (both sides)" and adds `singleOpenInterest` "(single side)". Binance, OKX and Deribit report
  one side (every open contract has a long and a short; each venue counts it once). So a reading
  takes `singleOpenInterest` when the message carries it and `openInterest` otherwise: messages
  from before the field existed (the 2023 capture) count one side under `openInterest`, as the
  USD figures of that time agree.
- The mark price is the venue's own `markPrice`, per coin of the asset (a bundle's price divided
  by its multiplier); an empty or non-positive one is unknown (None), never 0, so no USD value
  is made up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs

from volspike_oi.venues.decoding import parse_json
from volspike_oi.venues.errors import VenueDecodeError
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.units import split_bundle

PERPETUAL = "LinearPerpetual"
SETTLE_COIN = "USDT"
TRADING = "Trading"
_SUFFIX_BUNDLE = re.compile(r"^([A-Z]{2,})1000$")
"""Bybit also bundles by suffix: SHIB1000USDT has baseCoin "SHIB1000" (1000 SHIB)."""


# -- strict field readers ---------------------------------------------------------------------


def _field(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise VenueDecodeError(path, [f"required field missing @ {path}.{key}"])
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _field(obj, key, path)
    if not isinstance(value, str):
        raise VenueDecodeError(
            path, [f"expected a string, got {type(value).__name__} @ {path}.{key}"]
        )
    return value


def _int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = _field(obj, key, path)
    if type(value) is not int:
        raise VenueDecodeError(
            path, [f"expected an integer, got {type(value).__name__} @ {path}.{key}"]
        )
    return value


def _decimal(text: str, where: str) -> Decimal:
    try:
        out = Decimal(text)
    except InvalidOperation:
        raise VenueDecodeError(where, [f"invalid decimal {text!r} @ {where}"]) from None
    if not out.is_finite():
        raise VenueDecodeError(where, [f"invalid decimal {text!r} @ {where}"])
    return out


def _decimal_str(obj: Mapping[str, Any], key: str, path: str) -> Decimal:
    return _decimal(_str(obj, key, path), f"{path}.{key}")


def _optional_decimal_str(obj: Mapping[str, Any], key: str, path: str) -> Decimal | None:
    """A decimal string that may be absent or "" (Bybit's empty value)."""
    if key not in obj:
        return None
    text = _str(obj, key, path)
    return None if text == "" else _decimal(text, f"{path}.{key}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VenueDecodeError(path, [f"expected an object, got {type(value).__name__} @ {path}"])
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise VenueDecodeError(path, [f"expected a list, got {type(value).__name__} @ {path}"])
    return value


# -- REST ---------------------------------------------------------------------------------------


@attrs.frozen
class Envelope:
    """`{"retCode":0,"retMsg":"OK","result":{…},"retExtInfo":{},"time":…}`."""

    ret_code: int
    ret_msg: str
    result: dict[str, Any]
    """Left as JSON: `result` is `{}` on errors, so it is decoded only when retCode is 0."""
    time_ms: int


def decode_envelope(doc: Any, what: str) -> Envelope:
    obj = _object(doc, what)
    return Envelope(
        ret_code=_int(obj, "retCode", what),
        ret_msg=_str(obj, "retMsg", what),
        result=_object(_field(obj, "result", what), f"{what}.result"),
        time_ms=_int(obj, "time", what),
    )


@attrs.frozen
class InstrumentRow:
    symbol: str
    contract_type: str
    status: str
    base_coin: str
    settle_coin: str


def decode_instrument_row(row: Any, path: str) -> InstrumentRow:
    obj = _object(row, path)
    return InstrumentRow(
        symbol=_str(obj, "symbol", path),
        contract_type=_str(obj, "contractType", path),
        status=_str(obj, "status", path),
        base_coin=_str(obj, "baseCoin", path),
        settle_coin=_str(obj, "settleCoin", path),
    )


@attrs.frozen
class InstrumentsPage:
    rows: list[InstrumentRow]
    next_cursor: str
    """"" on the last page."""


def decode_instruments_page(result: Mapping[str, Any], what: str) -> InstrumentsPage:
    path = f"{what}.result"
    rows = _list(_field(result, "list", path), f"{path}.list")
    cursor = result.get("nextPageCursor", "")
    if not isinstance(cursor, str):
        raise VenueDecodeError(
            what, [f"expected a string, got {type(cursor).__name__} @ {path}.nextPageCursor"]
        )
    return InstrumentsPage(
        [decode_instrument_row(r, f"{path}.list[{i}]") for i, r in enumerate(rows)], cursor
    )


def asset_of(base_coin: str) -> tuple[str, Decimal]:
    """Canonical asset and coins per unit of `base_coin`: 1000PEPE → (PEPE, 1000),
    10000000AIDOGE → (AIDOGE, 1e7), SHIB1000 → (SHIB, 1000), BTC → (BTC, 1)."""
    suffix = _SUFFIX_BUNDLE.match(base_coin)
    if suffix:
        return suffix.group(1), Decimal(1000)
    return split_bundle(base_coin)


def instrument_of(row: InstrumentRow) -> Instrument | None:
    """The USDT-settled, trading linear perpetual `row` describes, or None (USDC perpetuals,
    dated futures and pre-launch or settling contracts share category=linear)."""
    if (row.contract_type, row.settle_coin, row.status) != (PERPETUAL, SETTLE_COIN, TRADING):
        return None
    asset, per_unit = asset_of(row.base_coin)
    # Linear: OI counts base-coin units, one base unit is `per_unit` coins of the asset.
    return Instrument(row.symbol, asset, "linear", per_unit)


def ticker_rows(result: Mapping[str, Any], what: str) -> list[tuple[str, dict[str, Any]]]:
    """(symbol, row) of every row of a tickers `result.list`; only `symbol` is checked here, so
    one odd row of a contract we do not track (a USDC future) cannot fail the snapshot. A row
    without a string `symbol` (or not an object) cannot be one we track: it is left out."""
    path = f"{what}.result.list"
    out = []
    for row in _list(_field(result, "list", f"{what}.result"), path):
        symbol = row.get("symbol") if isinstance(row, dict) else None
        if isinstance(symbol, str):
            out.append((symbol, row))
    return out


# -- one ticker, REST row or merged WebSocket state ------------------------------------------


@attrs.frozen
class Ticker:
    symbol: str
    open_interest: Decimal
    """Both sides since 2026-06 (see the module docstring)."""
    single_open_interest: Decimal | None
    """One side; absent before 2026-06."""
    mark_price: Decimal | None
    """None when empty or ≤ 0: unknown, never 0."""

    @property
    def contracts(self) -> Decimal:
        """The one-side OI in base-coin units, comparable with the other venues."""
        return (
            self.single_open_interest
            if self.single_open_interest is not None
            else self.open_interest
        )


def decode_ticker(row: Mapping[str, Any], path: str) -> Ticker:
    mark = _optional_decimal_str(row, "markPrice", path)
    return Ticker(
        symbol=_str(row, "symbol", path),
        open_interest=_decimal_str(row, "openInterest", path),
        single_open_interest=_optional_decimal_str(row, "singleOpenInterest", path),
        mark_price=mark if mark is not None and mark > 0 else None,
    )


def reading_of(instrument: Instrument, ticker: Ticker, time_ms: int | None) -> VenueReading:
    # Bybit quotes a bundle's price per base unit (1000PEPEUSDT: USDT per 1000 PEPE), while a
    # reading's mark price is USD per coin of the asset, so that coin × mark is the USD value.
    mark = ticker.mark_price
    per_coin = None if mark is None else mark / instrument.coin_per_contract
    return VenueReading(
        symbol=instrument.symbol,
        asset=instrument.asset,
        contracts=ticker.contracts,
        coin=instrument.coin(ticker.contracts, per_coin),
        mark_price=per_coin,
        exchange_time_ms=time_ms,
    )


# -- open-interest history --------------------------------------------------------------------


@attrs.frozen
class HistoryPoint:
    """One row of `GET /v5/market/open-interest`: `{"openInterest","singleOpenInterest"?,
    "timestamp"}`, every value a string."""

    time_ms: int
    open_interest: Decimal
    """Both sides per the docs since 2023-11 (one side in the values before 2026-06, see
    `HistoryPage`)."""
    single_open_interest: Decimal | None
    """One side; sent since 2026-06 (docs c416bd5bd), absent from the 2025 captures."""

    @property
    def contracts(self) -> Decimal:
        """One side in base-coin units, the rule of `Ticker.contracts`."""
        return (
            self.single_open_interest
            if self.single_open_interest is not None
            else self.open_interest
        )


@attrs.frozen
class HistoryPage:
    """`result` of `/v5/market/open-interest`, newest first.

    Units: base coin for a linear contract ("BTCUSDT(linear) is BTC", the docs; the 2025-02-16
    BTCUSDT capture's 62129.455 is BTC). Which side: the docs have called `openInterest` "the
    sum of both sides" since 2023-11 (5802d3ed8), yet its values kept the one-side ticker's
    magnitude (62129 BTC in the 2025-02 capture, 69605 BTC in the 2024-11 ticker capture; the
    ticker's `openInterestValue` = it × mark, one side); since 2026-06 (c416bd5bd) a row also carries
    `singleOpenInterest` and the docs example's `openInterest` is twice it (63910691 and
    31955346). So a point takes `singleOpenInterest` when sent, else `openInterest`: the same
    rule as the live readings, so the last point of the history and the ticker agree."""

    symbol: str
    points: list[HistoryPoint]
    next_cursor: str
    """"" on the last page."""


def decode_history_point(row: Any, path: str) -> HistoryPoint:
    obj = _object(row, path)
    stamp = _str(obj, "timestamp", path)
    if not stamp.isdigit():
        raise VenueDecodeError(path, [f"invalid epoch milliseconds {stamp!r} @ {path}.timestamp"])
    return HistoryPoint(
        time_ms=int(stamp),
        open_interest=_decimal_str(obj, "openInterest", path),
        single_open_interest=_optional_decimal_str(obj, "singleOpenInterest", path),
    )


def decode_history_page(result: Mapping[str, Any], what: str) -> HistoryPage:
    path = f"{what}.result"
    rows = _list(_field(result, "list", path), f"{path}.list")
    cursor = result.get("nextPageCursor", "")
    if not isinstance(cursor, str):
        raise VenueDecodeError(
            what, [f"expected a string, got {type(cursor).__name__} @ {path}.nextPageCursor"]
        )
    return HistoryPage(
        symbol=_str(result, "symbol", path),
        points=[decode_history_point(r, f"{path}.list[{i}]") for i, r in enumerate(rows)],
        next_cursor=cursor,
    )


# -- WebSocket ---------------------------------------------------------------------------------


@attrs.frozen
class Ack:
    """The answer to one of our requests: `{"success":true,"ret_msg":"","conn_id":…,"req_id":…,
    "op":"subscribe"}`; a pong is `op` "ping" with ret_msg "pong"."""

    op: str
    success: bool
    ret_msg: str
    req_id: str


@attrs.frozen
class TickerPush:
    topic: str
    type: Literal["snapshot", "delta"]
    data: dict[str, Any]
    """Every field (snapshot) or only the changed ones (delta); values are strings."""
    ts_ms: int


def decode_ws_message(message: str | bytes) -> Ack | TickerPush | None:
    """One WebSocket message; None for a message we have no use for (another topic)."""
    what = "ws message"
    obj = _object(parse_json(message, what), what)
    if "op" in obj:
        success = _field(obj, "success", what)
        if not isinstance(success, bool):
            raise VenueDecodeError(
                what, [f"expected true or false, got {type(success).__name__} @ {what}.success"]
            )
        req_id = obj.get("req_id", "")
        return Ack(
            op=_str(obj, "op", what),
            success=success,
            ret_msg=_str(obj, "ret_msg", what) if "ret_msg" in obj else "",
            req_id=req_id if isinstance(req_id, str) else str(req_id),
        )
    topic = _str(obj, "topic", what) if "topic" in obj else ""
    if not topic.startswith("tickers."):
        return None
    raw_kind = _str(obj, "type", what)
    kind: Literal["snapshot", "delta"]
    if raw_kind == "snapshot":
        kind = "snapshot"
    elif raw_kind == "delta":
        kind = "delta"
    else:
        raise VenueDecodeError(what, [f"unknown type {raw_kind!r} @ {what}.type"])
    data = _object(_field(obj, "data", what), f"{what}.data")
    for key, value in data.items():
        if not isinstance(value, str):
            raise VenueDecodeError(
                what, [f"expected a string, got {type(value).__name__} @ {what}.data.{key}"]
            )
    return TickerPush(topic, kind, data, _int(obj, "ts", what))


@attrs.define
class TickerBook:
    """The last full state of every symbol on one connection: a snapshot replaces it, a delta
    updates only the fields it carries (an absent field has not changed)."""

    states: dict[str, dict[str, Any]] = attrs.Factory(dict)

    def apply(self, push: TickerPush) -> dict[str, Any] | None:
        """The symbol's merged state after `push`; None for a delta with no snapshot before it
        (nothing full to merge into: the caller waits for the next snapshot)."""
        symbol = push.topic.removeprefix("tickers.")
        if push.type == "snapshot":
            state = dict(push.data)
            self.states[symbol] = state
            return state
        state_or_none = self.states.get(symbol)
        if state_or_none is None:
            return None
        state_or_none.update(push.data)
        return state_or_none
