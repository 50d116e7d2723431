"""Deribit decoding and units, pinned with the vendored captures (tests/fixtures/deribit/).

Rules: every capture decodes; an inverse perpetual's `open_interest` is USD (coin = USD / mark),
a USDC-linear one's is coin; numbers are JSON numbers (a string is an error naming the key);
unknown keys are ignored.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.venues.deribit.client import contract_kind, instrument_of, is_tracked
from volspike_oi.venues.deribit.decode import (
    decode_book_summaries,
    decode_instruments,
    decode_ticker,
    is_test_request,
    notification,
    parse_json,
    rpc_error,
)
from volspike_oi.venues.deribit.stream import reading_of
from volspike_oi.venues.errors import VenueDecodeError
from volspike_oi.venues.model import Instrument

FIXTURES = Path(__file__).parent.parent / "fixtures" / "deribit"
BTC_PERP_WS = "deribit_ws_ticker.BTC-PERPETUAL.100ms_2022-06-02.json"
BTC_PERP_WS_2025 = "deribit_ws_ticker.BTC-PERPETUAL.100ms_via-nautilus_2025-12-12.json"
ETH_USDC_WS = "deribit_ws_ticker.ETH_USDC-PERPETUAL.100ms_linear_2025-12-11.json"
BTC_DATED_WS = "deribit_ws_ticker.BTC-30SEP22.100ms_future_2022-06-02.json"
BTC_PERP_REST = "deribit_rest_get_book_summary_by_instrument_BTC-PERPETUAL_2022-06-04.json"
BTC_DATED_REST = "deribit_rest_get_book_summary_by_instrument_BTC-24JUN22_2022-06-04.json"
BTC_BY_CURRENCY = (
    "deribit_rest_get_book_summary_by_currency_BTC_TRIMMED-by-upstream_2022-06-04.json"
)
USDC_INSTRUMENTS = "deribit_rest_get_instruments_currency-USDC_FULL_2022-05-29.json"
BTC_INSTRUMENTS = "deribit_rest_get_instruments_currency-BTC_futures-only_TRIMMED_2021-07-22.json"

INVERSE = Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))
LINEAR_ETH = Instrument("ETH_USDC-PERPETUAL", "ETH", "linear", Decimal(1))


def load(name: str) -> Any:
    return parse_json((FIXTURES / name).read_bytes(), name)


def ticker_of(name: str) -> Any:
    note = notification(load(name))
    assert note is not None
    return decode_ticker(note.data)


@pytest.mark.parametrize("name", [BTC_PERP_WS, BTC_PERP_WS_2025, ETH_USDC_WS, BTC_DATED_WS])
def test_every_ticker_capture_decodes(name: str) -> None:
    ticker = ticker_of(name)
    assert ticker.open_interest > 0
    assert ticker.mark_price > 0
    assert ticker.timestamp > 1_600_000_000_000


@pytest.mark.parametrize("name", [BTC_PERP_REST, BTC_DATED_REST, BTC_BY_CURRENCY])
def test_every_book_summary_capture_decodes(name: str) -> None:
    rows = decode_book_summaries(load(name))
    assert rows
    assert all(r.open_interest > 0 and r.creation_timestamp > 0 for r in rows)


def test_numbers_keep_the_digits_deribit_wrote() -> None:
    ticker = ticker_of(BTC_PERP_WS_2025)
    assert ticker.open_interest == Decimal("1132329370.0")
    assert ticker.mark_price == Decimal("92281.78")


def test_inverse_perpetual_open_interest_is_usd_and_coin_is_usd_over_mark() -> None:
    ticker = ticker_of(BTC_PERP_WS)
    reading = reading_of(INVERSE, ticker.open_interest, ticker.mark_price, ticker.timestamp)
    assert reading.contracts == Decimal(559_791_310)
    assert reading.mark_price == Decimal("29932.79")
    assert reading.coin == Decimal(559_791_310) / Decimal("29932.79")
    assert reading.coin is not None
    assert 18_701 < reading.coin < 18_702  # ≈ 18.7 k BTC (not 559 M contracts of 10 USD)
    assert reading.usd is not None
    assert abs(reading.usd - Decimal(559_791_310)) < Decimal("0.0001")


def test_inverse_rest_summary_gives_the_same_units() -> None:
    (row,) = decode_book_summaries(load(BTC_PERP_REST))
    reading = reading_of(INVERSE, row.open_interest, row.mark_price, row.creation_timestamp)
    assert reading.contracts == Decimal(560_105_870)
    assert reading.coin == Decimal(560_105_870) / Decimal("29700.53")
    assert reading.exchange_time_ms == 1_654_340_303_741


def test_usdc_linear_perpetual_open_interest_is_coin() -> None:
    ticker = ticker_of(ETH_USDC_WS)
    reading = reading_of(LINEAR_ETH, ticker.open_interest, ticker.mark_price, ticker.timestamp)
    assert reading.contracts == Decimal("7695.018")
    assert reading.coin == Decimal("7695.018")  # not × contract_size 0.01
    assert reading.usd == Decimal("7695.018") * Decimal("3187.42")
    assert Decimal(24_000_000) < reading.usd < Decimal(25_000_000)


def test_usdc_instruments_are_linear_perpetuals_of_their_base() -> None:
    rows = decode_instruments(load(USDC_INSTRUMENTS))
    assert len(rows) == 16
    assert all(is_tracked(r) for r in rows)
    eth = instrument_of(next(r for r in rows if r.instrument_name == "ETH_USDC-PERPETUAL"))
    assert eth == Instrument("ETH_USDC-PERPETUAL", "ETH", "linear", Decimal(1))
    btc = next(r for r in rows if r.instrument_name == "BTC_USDC-PERPETUAL")
    assert btc.contract_size == Decimal("0.001")
    assert contract_kind(btc) == "linear"


def test_btc_instruments_keep_only_the_inverse_perpetual() -> None:
    rows = decode_instruments(load(BTC_INSTRUMENTS))
    assert len(rows) == 8
    tracked = [instrument_of(r) for r in rows if is_tracked(r)]
    # The 2021 rows carry neither future_type nor settlement_currency: quote USD means inverse.
    assert tracked == [Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))]


def test_inactive_perpetual_is_not_tracked() -> None:
    doc = load(USDC_INSTRUMENTS)
    doc["result"][0]["is_active"] = False
    rows = decode_instruments(doc)
    assert not is_tracked(rows[0])


def test_instrument_type_names_the_kind_when_present() -> None:
    doc = load(BTC_INSTRUMENTS)
    doc["result"][-1]["instrument_type"] = "reversed"
    doc["result"][-1]["quote_currency"] = "USDC"  # instrument_type wins over the inference
    assert contract_kind(decode_instruments(doc)[-1]) == "inverse"


def test_unknown_keys_are_ignored() -> None:
    doc = load(BTC_PERP_REST)
    doc["result"][0]["brand_new_field"] = {"x": [1]}
    assert decode_book_summaries(doc)[0].open_interest == Decimal(560_105_870)


def test_open_interest_as_a_string_is_refused_naming_the_key() -> None:
    doc = load(BTC_PERP_REST)
    doc["result"][0]["open_interest"] = "560105870"
    with pytest.raises(VenueDecodeError, match=r"result\[0\]\.open_interest"):
        decode_book_summaries(doc)


def test_missing_mark_price_in_a_ticker_is_refused_naming_the_key() -> None:
    doc = load(BTC_PERP_WS)
    del doc["params"]["data"]["mark_price"]
    note = notification(doc)
    assert note is not None
    with pytest.raises(VenueDecodeError, match=r"params\.data\.mark_price"):
        decode_ticker(note.data)


def test_a_boolean_is_not_a_number() -> None:
    doc = load(BTC_PERP_REST)
    doc["result"][0]["creation_timestamp"] = True
    with pytest.raises(VenueDecodeError, match="creation_timestamp"):
        decode_book_summaries(doc)


def test_an_envelope_without_result_is_refused() -> None:
    with pytest.raises(VenueDecodeError, match="result"):
        decode_book_summaries({"jsonrpc": "2.0", "usIn": 1})


def test_a_cut_body_is_not_json() -> None:
    raw = (FIXTURES / BTC_PERP_REST).read_bytes()
    with pytest.raises(VenueDecodeError, match="not JSON"):
        parse_json(raw[: len(raw) // 2], "get_book_summary_by_currency")


def test_null_mark_price_in_a_summary_is_unknown_not_zero() -> None:
    doc = load(BTC_PERP_REST)
    doc["result"][0]["mark_price"] = None
    (row,) = decode_book_summaries(doc)
    reading = reading_of(INVERSE, row.open_interest, row.mark_price, row.creation_timestamp)
    assert reading.mark_price is None
    assert reading.coin is None  # inverse without a mark: coin is unknown


def test_rate_limit_error_and_heartbeat_shapes() -> None:
    refusal = json.loads(
        '{"jsonrpc":"2.0","error":{"message":"too_many_requests","code":10028},'
        '"usIn":1,"usOut":2,"usDiff":1,"testnet":false}'
    )
    error = rpc_error(refusal)
    assert error is not None
    assert (error.code, error.message) == (10028, "too_many_requests")
    assert rpc_error(load(BTC_PERP_REST)) is None
    assert is_test_request(
        {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
    )
    assert not is_test_request(
        {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "heartbeat"}}
    )


usd = st.decimals(min_value=1, max_value=10**11, places=0)
marks = st.decimals(min_value=Decimal("0.0001"), max_value=10**6, places=4)


@given(a=usd, b=usd, mark=marks)
def test_inverse_coin_is_linear_in_usd(a: Decimal, b: Decimal, mark: Decimal) -> None:
    coin_a = INVERSE.coin(a, mark)
    coin_b = INVERSE.coin(b, mark)
    coin_sum = INVERSE.coin(a + b, mark)
    assert coin_a is not None
    assert coin_b is not None
    assert coin_sum is not None
    assert abs(coin_sum - (coin_a + coin_b)) <= coin_sum * Decimal("1e-20") + Decimal("1e-20")


@given(usd_oi=usd, mark=marks)
def test_inverse_reading_usd_round_trips_to_the_reported_usd(
    usd_oi: Decimal, mark: Decimal
) -> None:
    reading = reading_of(INVERSE, usd_oi, mark, None)
    assert reading.usd is not None
    assert abs(reading.usd - usd_oi) <= usd_oi * Decimal("1e-20")
