"""The Bybit decoder on the vendored captures (tests/fixtures/bybit, see its SOURCES.md), its units
and its strictness.

Rules: decimals are JSON strings, `retCode`/`time`/`ts` integers, and nothing else is taken; a
refusal is a `VenueDecodeError` naming Bybit's key path; keys we do not read are accepted. The
OI of a reading is `singleOpenInterest` (one side) when present, else `openInterest`, in base
coin units times the bundle multiplier; the mark price is Bybit's own, unknown when empty.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.venues.bybit.decode import (
    Ack,
    TickerBook,
    TickerPush,
    asset_of,
    decode_envelope,
    decode_history_page,
    decode_instrument_row,
    decode_instruments_page,
    decode_ticker,
    decode_ws_message,
    instrument_of,
    reading_of,
    ticker_rows,
)
from volspike_oi.venues.errors import VenueDecodeError, VenueError
from volspike_oi.venues.model import Instrument

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bybit"
BTC = Instrument("BTCUSDT", "BTC", "linear", Decimal(1))


def text(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def capture(name: str) -> Any:
    return json.loads(text(name))


LINEAR_SNAPSHOT_2023 = "bybit_ws_v5_tickers.BTCUSDT_snapshot_linear_2023-04-05.json"
LINEAR_SNAPSHOT_DOCS = "bybit_ws_v5_tickers.BTCUSDT_snapshot_linear_DOCS-EXAMPLE.json"
INVERSE_SNAPSHOT = "bybit_ws_v5_tickers.BTCUSD_snapshot_INVERSE_2023-04-05.json"
INVERSE_DELTA = "bybit_ws_v5_tickers.BTCUSD_delta_INVERSE_2023-04-05.json"
TICKERS_2024_02 = "bybit_rest_v5_market_tickers_linear_BTCUSDT_via-ccxt_2024-02-14.json"
TICKERS_2024_11 = "bybit_rest_v5_market_tickers_linear_BTCUSDT_via-ccxt_2024-11-04.json"
TICKERS_DOCS = "bybit_rest_v5_market_tickers_inverse_BTCUSD_DOCS-EXAMPLE.json"
INSTRUMENT_ROWS = "bybit_rest_v5_market_instruments-info_ROWS-ONLY_via-ccxt-markets.json"
INSTRUMENTS_DOCS = "bybit_rest_v5_market_instruments-info_linear_BTCUSDT_DOCS-EXAMPLE.json"


# -- the captures decode, and pin the units -------------------------------------------------


def test_the_2023_linear_snapshot_counts_base_coin_and_its_value_is_oi_times_mark() -> None:
    push = decode_ws_message(text(LINEAR_SNAPSHOT_2023))
    assert isinstance(push, TickerPush)
    assert (push.topic, push.type, push.ts_ms) == ("tickers.BTCUSDT", "snapshot", 1680673821770)
    ticker = decode_ticker(push.data, "tickers.BTCUSDT")
    assert ticker.contracts == Decimal("52774.528")  # no singleOpenInterest in 2023
    reading = reading_of(BTC, ticker, push.ts_ms)
    assert reading.coin == Decimal("52774.528")
    assert reading.mark_price == Decimal("28552.81")
    # Bybit's own openInterestValue (USDT) is openInterest × markPrice, to the cent.
    assert reading.usd is not None
    assert reading.usd.quantize(Decimal("0.01")) == Decimal(push.data["openInterestValue"])


def test_single_open_interest_is_preferred_over_both_sides() -> None:
    row = {"symbol": "BTCUSDT", "openInterest": "104000.000", "markPrice": "83000.00"}
    row["singleOpenInterest"] = "52000.000"
    reading = reading_of(BTC, decode_ticker(row, "t"), None)
    assert reading.contracts == reading.coin == Decimal("52000.000")
    assert reading.usd == Decimal("52000.000") * Decimal("83000.00")


def test_the_docs_linear_snapshot_with_todays_fields_decodes() -> None:
    push = decode_ws_message(text(LINEAR_SNAPSHOT_DOCS))
    assert isinstance(push, TickerPush)
    ticker = decode_ticker(push.data, "t")
    assert ticker.contracts == Decimal("492373.72")
    assert ticker.mark_price == Decimal("66666.60")


@pytest.mark.parametrize("name", [TICKERS_2024_02, TICKERS_2024_11])
def test_the_ccxt_ticker_rows_decode(name: str) -> None:
    doc = capture(name)
    [(symbol, row)] = ticker_rows(doc["result"], "tickers")
    ticker = decode_ticker(row, "tickers.result.list[0]")
    assert symbol == "BTCUSDT"
    assert ticker.mark_price == Decimal(row["markPrice"])
    # The row's USDT value is the product again (2024: 225766.793 × 51444.40).
    assert (ticker.contracts * ticker.mark_price).quantize(Decimal("0.01")) == Decimal(
        row["openInterestValue"]
    )


def test_the_ccxt_envelope_is_refused_because_ccxt_stringified_ret_code() -> None:
    """On the wire retCode is a number (the docs example, the compact ccxt lines); ccxt's pretty
    entries hold "0". The decoder takes the wire's type only."""
    with pytest.raises(VenueDecodeError, match=r"tickers\.retCode"):
        decode_envelope(capture(TICKERS_2024_02), "tickers")


def test_the_docs_envelope_decodes() -> None:
    envelope = decode_envelope(capture(TICKERS_DOCS), "tickers")
    assert (envelope.ret_code, envelope.ret_msg, envelope.time_ms) == (0, "OK", 1760352369814)
    assert ticker_rows(envelope.result, "tickers")[0][0] == "BTCUSD"


def test_instrument_rows_keep_only_usdt_trading_perpetuals() -> None:
    rows = [decode_instrument_row(r, f"list[{i}]") for i, r in enumerate(capture(INSTRUMENT_ROWS))]
    kept = {r.symbol: instrument_of(r) for r in rows}
    assert kept == {
        "BTCUSDT": Instrument("BTCUSDT", "BTC", "linear", Decimal(1)),
        "ETHUSDT": Instrument("ETHUSDT", "ETH", "linear", Decimal(1)),
        "BTCUSD": None,  # inverse, settled in BTC
    }


def test_the_docs_instruments_page_decodes_with_its_cursor() -> None:
    envelope = decode_envelope(capture(INSTRUMENTS_DOCS), "instruments-info")
    page = decode_instruments_page(envelope.result, "instruments-info")
    assert [r.symbol for r in page.rows] == ["BTCUSDT"]
    assert page.next_cursor == ""


@pytest.mark.parametrize(
    ("base", "asset", "per_unit"),
    [
        ("BTC", "BTC", 1),
        ("1000PEPE", "PEPE", 1000),
        ("10000000AIDOGE", "AIDOGE", 10_000_000),
        ("SHIB1000", "SHIB", 1000),
        ("1INCH", "1INCH", 1),
    ],
)
def test_bundled_bases_count_coins_of_the_asset(base: str, asset: str, per_unit: int) -> None:
    assert asset_of(base) == (asset, Decimal(per_unit))


def test_a_bundle_multiplies_contracts_into_coin() -> None:
    row = decode_instrument_row(
        {
            "symbol": "1000PEPEUSDT",
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": "1000PEPE",
            "settleCoin": "USDT",
        },
        "row",
    )
    pepe = instrument_of(row)
    assert pepe is not None
    ticker = decode_ticker(
        {"symbol": "1000PEPEUSDT", "openInterest": "7.5", "markPrice": "0.0095"}, "t"
    )
    reading = reading_of(pepe, ticker, None)
    assert (reading.asset, reading.contracts, reading.coin) == (
        "PEPE",
        Decimal("7.5"),
        Decimal(7500),
    )
    # Bybit's price is per 1000 PEPE; the reading's is per PEPE, and USD stays the same.
    assert reading.mark_price == Decimal("0.0000095")
    assert reading.usd == Decimal("7.5") * Decimal("0.0095")


# -- deltas --------------------------------------------------------------------------------


def test_the_real_delta_updates_only_the_fields_it_carries() -> None:
    book = TickerBook()
    snapshot = decode_ws_message(text(INVERSE_SNAPSHOT))
    delta = decode_ws_message(text(INVERSE_DELTA))
    assert isinstance(snapshot, TickerPush)
    assert isinstance(delta, TickerPush)
    assert delta.type == "delta"
    book.apply(snapshot)
    state = book.apply(delta)
    assert state is not None
    assert state["openInterest"] == "449736674"  # changed by the delta
    assert state["markPrice"] == "28560.00"  # absent from the delta: unchanged
    assert state["openInterestValue"] == "15747.08"


def test_a_delta_before_any_snapshot_gives_nothing() -> None:
    delta = decode_ws_message(text(INVERSE_DELTA))
    assert isinstance(delta, TickerPush)
    assert TickerBook().apply(delta) is None


fields = st.sampled_from(["openInterest", "markPrice", "singleOpenInterest", "bid1Price"])
values = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False).map(str)


@given(st.lists(st.dictionaries(fields, values, max_size=4), max_size=8))
def test_merging_deltas_equals_applying_their_fields_in_order(
    deltas: list[dict[str, str]],
) -> None:
    snapshot = {"symbol": "BTCUSDT", "openInterest": "1", "markPrice": "2"}
    book = TickerBook()
    book.apply(TickerPush("tickers.BTCUSDT", "snapshot", dict(snapshot), 0))
    expected = dict(snapshot)
    state: dict[str, Any] | None = None
    for i, delta in enumerate(deltas):
        state = book.apply(TickerPush("tickers.BTCUSDT", "delta", dict(delta), i))
        expected.update(delta)
    assert (state if deltas else book.states["BTCUSDT"]) == expected


@given(
    st.decimals(min_value=0, max_value=10**12, places=3),
    st.decimals(min_value=0, max_value=10**12, places=3),
    st.integers(min_value=1, max_value=10**7),
)
def test_coin_is_linear_in_contracts(a: Decimal, b: Decimal, per_unit: int) -> None:
    instrument = Instrument("X", "X", "linear", Decimal(per_unit))
    coin_a, coin_b = instrument.coin(a, None), instrument.coin(b, None)
    assert coin_a is not None
    assert coin_b is not None
    assert instrument.coin(a + b, None) == coin_a + coin_b


# -- acknowledgements ------------------------------------------------------------------------


def test_subscribe_ack_and_pong_decode() -> None:
    ack = decode_ws_message(
        '{"success":true,"ret_msg":"","conn_id":"3cd84cb1","req_id":"sub-0","op":"subscribe"}'
    )
    pong = decode_ws_message(
        '{"success":true,"ret_msg":"pong","conn_id":"465772b1","req_id":"","op":"ping"}'
    )
    assert ack == Ack("subscribe", True, "", "sub-0")
    assert pong == Ack("ping", True, "pong", "")


def test_other_topics_are_ignored() -> None:
    assert decode_ws_message('{"topic":"orderbook.1.BTCUSDT","type":"snapshot","data":{}}') is None


# -- strictness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ({"symbol": "BTCUSDT", "markPrice": "1"}, r"required field missing @ t\.openInterest"),
        (
            {"symbol": "BTCUSDT", "openInterest": 52774.528, "markPrice": "1"},
            r"expected a string, got float @ t\.openInterest",
        ),
        (
            {"symbol": "BTCUSDT", "openInterest": "abc", "markPrice": "1"},
            r"invalid decimal 'abc' @ t\.openInterest",
        ),
        (
            {"symbol": "BTCUSDT", "openInterest": "1", "markPrice": 28552.81},
            r"expected a string, got float @ t\.markPrice",
        ),
    ],
)
def test_a_bad_ticker_names_bybits_key(row: dict[str, Any], where: str) -> None:
    with pytest.raises(VenueDecodeError, match=where) as caught:
        decode_ticker(row, "t")
    assert isinstance(caught.value, VenueError)


@pytest.mark.parametrize("mark", ["", "0", "-1"])
def test_an_empty_or_non_positive_mark_price_is_unknown_never_zero(mark: str) -> None:
    ticker = decode_ticker({"symbol": "X", "openInterest": "5", "markPrice": mark}, "t")
    reading = reading_of(BTC, ticker, None)
    assert reading.mark_price is None
    assert reading.usd is None


def test_a_ws_data_value_of_the_wrong_type_is_named() -> None:
    message = '{"topic":"tickers.BTCUSDT","type":"delta","data":{"openInterest":5},"ts":1}'
    with pytest.raises(VenueDecodeError, match=r"ws message\.data\.openInterest"):
        decode_ws_message(message)


def test_an_envelope_without_result_is_named() -> None:
    with pytest.raises(VenueDecodeError, match=r"required field missing @ tickers\.result"):
        decode_envelope({"retCode": 0, "retMsg": "OK", "time": 1}, "tickers")


def test_a_ticker_list_that_is_not_a_list_is_named() -> None:
    with pytest.raises(VenueDecodeError, match=r"tickers\.result\.list"):
        ticker_rows({"category": "linear", "list": {}}, "tickers")


# -- open-interest history ---------------------------------------------------------------------

HISTORY_LINEAR_2025 = "bybit_rest_v5_market_open-interest_linear_BTCUSDT_via-ccxt_2025-02-16.json"
HISTORY_INVERSE_2025 = "bybit_rest_v5_market_open-interest_inverse_BTCUSD_via-ccxt_2025-02-16.json"
HISTORY_DOCS = "bybit_rest_v5_market_open-interest_inverse_BTCUSD_DOCS-EXAMPLE.json"


def test_the_2025_linear_history_is_base_coin_under_open_interest() -> None:
    envelope = decode_envelope(capture(HISTORY_LINEAR_2025), "open-interest")
    page = decode_history_page(envelope.result, "open-interest")
    assert page.symbol == "BTCUSDT"
    assert page.next_cursor == "lastid%3D10860016%26lasttime%3D1739725200"
    (point,) = page.points
    assert point.time_ms == 1_739_725_200_000
    assert point.single_open_interest is None
    # Before singleOpenInterest existed the one figure is the one side, in BTC.
    assert point.contracts == point.open_interest == Decimal("62129.455")
    assert BTC.coin(point.contracts, None) == Decimal("62129.455")


def test_the_docs_history_takes_the_single_side_beside_both_sides() -> None:
    envelope = decode_envelope(capture(HISTORY_DOCS), "open-interest")
    page = decode_history_page(envelope.result, "open-interest")
    times = [p.time_ms for p in page.points]
    assert times == sorted(times, reverse=True)  # newest first
    first = page.points[0]
    assert first.open_interest == Decimal("63910691")
    assert first.contracts == first.single_open_interest == Decimal("31955346")
    for point in page.points:
        assert point.single_open_interest is not None
        assert abs(2 * point.single_open_interest - point.open_interest) <= 1
    assert page.next_cursor.startswith("lastid%3D")


def test_the_inverse_history_capture_decodes_too() -> None:
    envelope = decode_envelope(capture(HISTORY_INVERSE_2025), "open-interest")
    (point,) = decode_history_page(envelope.result, "open-interest").points
    assert point.contracts == Decimal("1536179414")


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ({"openInterest": 1.5, "timestamp": "1"}, "open-interest.result.list[0].openInterest"),
        ({"openInterest": "1.5", "timestamp": 17}, "open-interest.result.list[0].timestamp"),
        ({"openInterest": "1.5", "timestamp": "17x"}, "open-interest.result.list[0].timestamp"),
        ({"timestamp": "17"}, "open-interest.result.list[0].openInterest"),
        (
            {"openInterest": "1", "singleOpenInterest": "NaN", "timestamp": "1"},
            "open-interest.result.list[0].singleOpenInterest",
        ),
    ],
)
def test_a_history_row_of_another_shape_is_refused_naming_the_key(
    row: dict[str, Any], where: str
) -> None:
    with pytest.raises(VenueDecodeError, match=re.escape(where)):
        decode_history_page(
            {"symbol": "BTCUSDT", "list": [row], "nextPageCursor": ""}, "open-interest"
        )
