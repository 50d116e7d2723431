"""The Binance decoder on real captures (tests/fixtures/binance, see its SOURCES.md), and its
strictness: Binance sends decimals as strings and times as integers, and nothing else is taken.

Rules: a wrong type is refused with a message naming the field, never coerced (`"7"` is not 7,
a float is not a decimal string); keys we do not read are accepted (Binance adds fields without
notice); a missing key is named. Every refusal is a `DecodeError`, an `ExchangeError`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import REFERENCE_DIR
from volspike_oi.venues.binance.decode import (
    ErrorBody,
    ExchangeInfo,
    ExchangeSymbol,
    MarkPriceFrame,
    MarkPriceUpdate,
    OpenInterest,
    OpenInterestHistRow,
    PremiumIndex,
    Ticker24h,
    decode,
    decode_list,
    parse_json,
)
from volspike_oi.venues.binance.errors import DecodeError, ExchangeError
from volspike_oi.venues.binance.mark_price_stream import decode_frame


def capture(name: str) -> Any:
    return json.loads((REFERENCE_DIR / name).read_text("utf-8"))


def refusal(doc: Any, cls: type, what: str = "openInterest") -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(doc, cls, what)
    return caught.value


OI = {"symbol": "BTCUSDT", "openInterest": "95744.938", "time": 1791382984119}


# -- real captures --------------------------------------------------------------------------------


def test_exchange_info_capture_decodes_every_symbol_with_its_contract_fields():
    info = decode(capture("exchangeInfo_trimmed.json"), ExchangeInfo, "exchangeInfo")
    assert [s.symbol for s in info.symbols] == [
        "BTCUSDT",
        "XAUUSDT",
        "币安人生USDT",
        "OMGUSDT",
        "BTCUSDT_261225",
    ]
    assert info.symbols[0] == ExchangeSymbol("BTCUSDT", "PERPETUAL", "TRADING", "USDT", "USDT")
    assert info.symbols[1].contract_type == "TRADIFI_PERPETUAL"
    assert info.symbols[3].status == "SETTLING"
    assert info.symbols[4].contract_type == "CURRENT_QUARTER"


def test_the_2021_untrimmed_exchange_info_still_decodes():
    """Retired fields and filters are extra keys: ignored, not refused."""
    info = decode(
        capture("exchangeInfo_full_2021-07-21_cryptofeed.json"), ExchangeInfo, "exchangeInfo"
    )
    assert len(info.symbols) == 122
    assert all(s.symbol for s in info.symbols)


def test_ticker_24hr_capture_decodes_quote_volumes_as_exact_decimals():
    rows = decode_list(capture("ticker24hr_all.json"), Ticker24h, "ticker/24hr")
    assert {r.symbol: r.quote_volume for r in rows} == {
        "XAUUSDT": Decimal("2241110732.05"),
        "币安人生USDT": Decimal("3427981.5502400"),
        "BTCUSDT": Decimal("14378633588.65"),
    }


def test_premium_index_capture_decodes_mark_prices_and_times():
    rows = decode_list(capture("premiumIndex_all.json"), PremiumIndex, "premiumIndex")
    assert rows[0] == PremiumIndex("BTCUSDT", Decimal("83067.30000000"), 1791382985000)
    assert [r.symbol for r in rows] == ["BTCUSDT", "XAUUSDT", "币安人生USDT"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openInterest.json", OpenInterest("BTCUSDT", Decimal("95744.938"), 1791382984119)),
        (
            "openInterest_2022-06-04_cryptomsgparser.json",
            OpenInterest("BTCUSDT", Decimal("84617.188"), 1654336844754),
        ),
    ],
)
def test_open_interest_captures_decode(name: str, expected: OpenInterest):
    assert decode(capture(name), OpenInterest, "openInterest") == expected


def test_the_live_open_interest_hist_row_decodes_with_an_integer_timestamp():
    row = decode(
        capture("openInterestHist_firstrow_2026-09-15_live.json"),
        OpenInterestHistRow,
        "openInterestHist",
    )
    assert row == OpenInterestHistRow(
        "BTCUSDT",
        Decimal("106289.69300000"),
        1789478400000,
        Decimal("8175197334.30990000"),
    )


def test_the_docs_example_of_open_interest_hist_is_refused_for_its_string_timestamp():
    """The docs show `timestamp` as a string; the live API sends an integer, and a string is
    never coerced."""
    with pytest.raises(DecodeError) as caught:
        decode_list(capture("openInterestHist_docs_example.json"), OpenInterestHistRow, "hist")
    assert "hist[0]" in str(caught.value)
    assert "expected an integer, got str" in str(caught.value)
    assert "timestamp" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "stream", "rows"),
    [
        (
            "markPrice_arr_stream.json",
            "!markPrice@arr@1s",
            [
                MarkPriceUpdate("XAUUSDT", Decimal("4103.92233180"), 1791382992684, 1),
                MarkPriceUpdate("XAGUSDT", Decimal("59.63000000"), 1791382992684, 1),
            ],
        ),
        (
            "markPrice_arr_stream_2021-04-01_cryptomsgparser.json",
            "!markPrice@arr",
            [
                MarkPriceUpdate("BTCUSDT", Decimal("59022.53514719"), 1617309024002),
                MarkPriceUpdate("ETHUSDT", Decimal("1981.15704420"), 1617309024002),
            ],
        ),
    ],
)
def test_all_market_mark_price_frames_decode_row_by_row(
    name: str, stream: str, rows: list[MarkPriceUpdate]
):
    frame = decode_frame((REFERENCE_DIR / name).read_bytes())
    assert frame.stream == stream
    assert frame.data == rows


def test_a_2021_mark_price_row_without_st_is_usdt_margined():
    frame = decode_frame(
        (REFERENCE_DIR / "markPrice_arr_stream_2021-04-01_cryptomsgparser.json").read_text()
    )
    assert {row.symbol_type for row in frame.data} == {1}


@pytest.mark.parametrize(
    "name",
    ["markPrice_symbol_stream.json", "markPrice_symbol_stream_2021-04-01_cryptomsgparser.json"],
)
def test_a_single_symbol_frame_is_not_an_all_market_frame_but_its_row_decodes(name: str):
    doc = capture(name)
    with pytest.raises(DecodeError, match="markPrice frame"):
        decode_frame(json.dumps(doc))
    row = decode(doc["data"], MarkPriceUpdate, "markPrice")
    assert row.symbol == "BTCUSDT"
    assert row.mark_price > 0


def test_the_invalid_symbol_error_body_decodes():
    body = decode(capture("error_invalid_symbol_400.json"), ErrorBody, "error")
    assert body == ErrorBody(-1121, "Invalid symbol.")


# -- strictness -----------------------------------------------------------------------------------


def test_a_number_where_a_decimal_string_is_expected_is_refused_naming_the_field():
    error = refusal({**OI, "openInterest": 95744.938}, OpenInterest)
    assert error.messages == ["expected a decimal string, got float @ openInterest.openInterest"]


def test_a_string_integer_is_never_coerced_to_an_integer():
    error = refusal({**OI, "time": "7"}, OpenInterest)
    assert error.messages == ["expected an integer, got str @ openInterest.time"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1791382984119.0, "got float"),
        (True, "got bool"),
        (None, "got NoneType"),
    ],
)
def test_a_time_that_is_not_a_json_integer_is_refused(value: Any, reason: str):
    [message] = refusal({**OI, "time": value}, OpenInterest).messages
    assert reason in message
    assert "openInterest.time" in message


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "", "1,5"])
def test_a_decimal_string_that_is_no_finite_decimal_is_refused(text: str):
    [message] = refusal({**OI, "openInterest": text}, OpenInterest).messages
    assert "invalid decimal" in message
    assert "openInterest.openInterest" in message


def test_a_symbol_that_is_not_a_string_is_refused():
    [message] = refusal({**OI, "symbol": 7}, OpenInterest).messages
    assert message == "expected a string, got int @ openInterest.symbol"


def test_unknown_extra_keys_are_accepted():
    decoded = decode({**OI, "newField": [1, 2], "pair": "BTCUSDT"}, OpenInterest, "openInterest")
    assert decoded == OpenInterest("BTCUSDT", Decimal("95744.938"), 1791382984119)


def test_every_missing_key_is_named():
    error = refusal({"symbol": "BTCUSDT"}, OpenInterest)
    assert error.messages == [
        "required field missing @ openInterest.openInterest",
        "required field missing @ openInterest.time",
    ]


def test_a_list_item_that_is_wrong_is_named_by_its_index():
    rows = [{"symbol": "A", "quoteVolume": "1"}, {"symbol": "B", "quoteVolume": 2}]
    with pytest.raises(DecodeError) as caught:
        decode_list(rows, Ticker24h, "ticker/24hr")
    assert caught.value.messages == [
        "expected a decimal string, got int @ ticker/24hr[1].quoteVolume"
    ]


@pytest.mark.parametrize("doc", [{"symbol": "BTCUSDT"}, "[]", None, 7])
def test_decode_list_refuses_anything_but_a_list(doc: Any):
    with pytest.raises(DecodeError) as caught:
        decode_list(doc, Ticker24h, "ticker/24hr")
    assert caught.value.messages == [f"expected a list, got {type(doc).__name__}"]
    assert str(caught.value).startswith("ticker/24hr: ")


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"symbol": ', b"", "\x00"])
def test_parse_json_refuses_garbage_saying_it_is_not_json(body: bytes | str):
    with pytest.raises(DecodeError) as caught:
        parse_json(body, "/fapi/v1/openInterest")
    [message] = caught.value.messages
    assert message.startswith("not JSON (")
    assert str(caught.value).startswith("/fapi/v1/openInterest: not JSON")


def test_parse_json_takes_bytes_and_text_alike():
    assert parse_json(b'{"a": "1"}', "x") == parse_json('{"a": "1"}', "x") == {"a": "1"}


def test_a_decode_error_is_an_exchange_error_listing_at_most_five_messages():
    error = DecodeError("premiumIndex", [f"problem {i}" for i in range(8)])
    assert isinstance(error, ExchangeError)
    assert len(error.messages) == 8
    assert str(error) == "premiumIndex: " + "; ".join(f"problem {i}" for i in range(5))


@pytest.mark.parametrize("doc", [[1], "x", 7, None])
def test_a_body_that_is_no_object_is_refused_in_one_message(doc: Any):
    assert refusal(doc, OpenInterest).messages == [f"expected an object, got {type(doc).__name__}"]


def test_a_nested_error_is_named_by_binance_keys():
    frame = {"stream": "!markPrice@arr@1s", "data": [{"s": 1, "p": "1", "E": 1}]}
    assert refusal(frame, MarkPriceFrame, "frame").messages == [
        "expected a string, got int @ frame.data[0].s"
    ]
