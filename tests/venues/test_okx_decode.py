"""OKX decoding and units, pinned with the vendored captures' own numbers.

Every capture in tests/fixtures/okx decodes; contracts × ctVal × ctMult equals OKX's own `oiCcy`
in each of them; a missing or mistyped field is a `VenueDecodeError` naming OKX's key path.
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

from volspike_oi.venues.errors import VenueDecodeError
from volspike_oi.venues.model import Instrument
from volspike_oi.venues.okx.decode import (
    Envelope,
    InstrumentRow,
    MarkPricePush,
    OpenInterestPush,
    OpenInterestRow,
    decode,
    decode_history_rows,
    decode_rows,
    instrument_decimals,
)
from volspike_oi.venues.okx.stream import ReadingMerger, reading, subscribe_requests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "okx"
INSTRUMENTS = "okx_rest_public_instruments_instType-SWAP_FULL_2022-05-13.json"
OI_INVERSE = "okx_rest_public_open-interest_instType-SWAP_TRIMMED-by-upstream_2022-06-04.json"
OI_BTC = "okx_rest_public_open-interest_BTC-USDT-SWAP_linear_via-ccxt_2024-10-12.json"
WS_OI_WNCG = "okx_ws_open-interest_WNCG-USDT-SWAP_2021-12-22.json"
WS_OI_FIL = "okx_ws_open-interest_FIL-USDT-220325_linear-future_2021-12-22.json"
WS_MARK_WNCG = "okx_ws_mark-price_WNCG-USDT-SWAP_2021-12-22.json"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def rows_of(name: str) -> list[OpenInterestRow]:
    return decode_rows(decode(load(name), Envelope, name).data, OpenInterestRow, name)


def instruments_by_id() -> dict[str, InstrumentRow]:
    doc = decode(load(INSTRUMENTS), Envelope, "instruments")
    return {r.inst_id: r for r in decode_rows(doc.data, InstrumentRow, "instruments")}


def test_every_vendored_capture_is_used_here() -> None:
    used = {INSTRUMENTS, OI_INVERSE, OI_BTC, WS_OI_WNCG, WS_OI_FIL, WS_MARK_WNCG}
    assert {p.name for p in FIXTURES.glob("*.json")} == used


def test_the_instruments_capture_decodes_all_166_rows() -> None:
    rows = instruments_by_id()
    assert len(rows) == 166
    btc = rows["BTC-USDT-SWAP"]
    assert (btc.ct_val, btc.ct_mult, btc.ct_val_ccy, btc.settle_ccy, btc.ct_type) == (
        "0.01",
        "1",
        "BTC",
        "USDT",
        "linear",
    )
    assert instrument_decimals(btc, "row") == (Decimal("0.01"), Decimal(1))


def test_btc_usdt_oi_over_oiccy_is_one_over_ctval() -> None:
    """ccxt 2024-10-12: oi 2663107.29999999861 contracts × ctVal 0.01 = oiCcy 26631.0729999999861
    BTC, and oiUsd / oiCcy = 62950 USD, the BTC price that day."""
    [row] = rows_of(OI_BTC)
    ct_val = Decimal(instruments_by_id()["BTC-USDT-SWAP"].ct_val)
    assert row.oi / row.oi_ccy == 100 == 1 / ct_val
    instrument = Instrument("BTC-USDT-SWAP", "BTC", "linear", ct_val)
    out = reading(instrument, row, Decimal("62950"))
    assert out.coin == row.oi_ccy == Decimal("26631.0729999999861")
    assert row.oi_usd is not None
    assert round(row.oi_usd / row.oi_ccy, 6) == 62950
    assert out.usd is not None
    assert abs(out.usd - row.oi_usd) < Decimal("0.01")


def test_old_answers_without_oiusd_decode() -> None:
    rows = rows_of(OI_INVERSE)
    assert [r.inst_id for r in rows] == ["BTC-USD-SWAP", "ETH-USD-SWAP"]
    assert all(r.oi_usd is None for r in rows)
    assert rows[0].ts_ms == 1654348683853


def test_inverse_rows_count_usd_contracts() -> None:
    """BTC-USD-SWAP ctVal 100 USD: oi × 100 / oiCcy is the BTC price (29573.4), which is why
    the client keeps linear USDT swaps only."""
    btc, eth = rows_of(OI_INVERSE)
    assert round(btc.oi * 100 / btc.oi_ccy, 1) == Decimal("29573.4")
    assert round(eth.oi * 10 / eth.oi_ccy, 1) == Decimal("1763.9")


def test_ws_open_interest_pushes_decode_and_convert() -> None:
    wncg = decode(load(WS_OI_WNCG), OpenInterestPush, "push")
    assert wncg.arg.channel == "open-interest"
    [row] = wncg.data
    assert row.oi == row.oi_ccy == 644195  # ctVal 1
    fil = decode(load(WS_OI_FIL), OpenInterestPush, "push")
    [frow] = fil.data
    future = Instrument("FIL-USDT-220325", "FIL", "linear", Decimal("0.1"))
    assert reading(future, frow, None).coin == frow.oi_ccy == 23687


def test_ws_mark_price_push_decodes() -> None:
    push = decode(load(WS_MARK_WNCG), MarkPricePush, "push")
    assert push.data[0].mark_px == Decimal("2.1729")
    assert push.data[0].ts_ms == 1640131259180


def test_a_number_where_okx_sends_a_string_names_the_key() -> None:
    doc = load(OI_BTC)
    doc["data"][0]["oi"] = 2663107.3
    with pytest.raises(VenueDecodeError, match=r"open-interest\.data\[0\]\.oi\b"):
        decode_rows(doc["data"], OpenInterestRow, "open-interest")


def test_a_missing_field_names_the_key() -> None:
    doc = load(WS_OI_WNCG)
    del doc["data"][0]["oiCcy"]
    with pytest.raises(VenueDecodeError, match=r"missing @ push\.data\[0\]\.oiCcy"):
        decode(doc, OpenInterestPush, "push")


def test_a_bad_timestamp_names_the_key() -> None:
    doc = load(WS_MARK_WNCG)
    doc["data"][0]["ts"] = 1640131259180
    with pytest.raises(VenueDecodeError, match=r"@ push\.data\[0\]\.ts$"):
        decode(doc, MarkPricePush, "push")


def test_a_kept_instrument_without_a_contract_value_names_the_key() -> None:
    row = instruments_by_id()["BTC-USDT-SWAP"]
    broken = InstrumentRow(
        row.inst_id, row.inst_type, row.settle_ccy, row.ct_type, row.state, "", "1", "BTC"
    )
    with pytest.raises(VenueDecodeError, match=r"instruments\.data\[7\]\.ctVal"):
        instrument_decimals(broken, "instruments.data[7]")


def test_unknown_fields_are_ignored() -> None:
    doc = load(OI_BTC)
    doc["data"][0]["newField"] = {"nested": 1}
    assert decode_rows(doc["data"], OpenInterestRow, "oi")[0].inst_id == "BTC-USDT-SWAP"


decimals = st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False)
ct_vals = st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal(1), Decimal(10**7)])


@given(a=decimals, b=decimals, ct_val=ct_vals)
def test_coin_is_linear_in_contracts(a: Decimal, b: Decimal, ct_val: Decimal) -> None:
    instrument = Instrument("X-USDT-SWAP", "X", "linear", ct_val)
    assert instrument.coin(a + b, None) == instrument.coin(a, None) + instrument.coin(b, None)  # type: ignore[operator]


def _oi(inst_id: str, oi: str, ts: str = "1") -> OpenInterestRow:
    return decode({"instId": inst_id, "oi": oi, "oiCcy": oi, "ts": ts}, OpenInterestRow, "row")


@given(
    events=st.lists(
        st.one_of(
            st.tuples(st.just("oi"), st.integers(0, 10**6)),
            st.tuples(st.just("mark"), st.integers(1, 10**6)),
        ),
        max_size=30,
    )
)
def test_merged_readings_carry_the_newest_oi_and_mark(events: list[tuple[str, int]]) -> None:
    """Applying pushes in order: every reading has the last OI and the last mark seen so far."""
    merger = ReadingMerger({"X-USDT-SWAP": Instrument("X-USDT-SWAP", "X", "linear", Decimal(1))})
    oi: int | None = None
    mark: int | None = None
    for kind, value in events:
        if kind == "oi":
            oi = value
            out = merger.on_open_interest(_oi("X-USDT-SWAP", str(value)))
        else:
            mark = value
            out = merger.on_mark_price("X-USDT-SWAP", Decimal(value))
        if out is not None:
            assert out.contracts == oi
            assert out.mark_price == (None if mark is None else Decimal(mark))


def test_a_mark_after_an_unpriced_reading_reissues_it_with_usd() -> None:
    merger = ReadingMerger({"X-USDT-SWAP": Instrument("X-USDT-SWAP", "X", "linear", Decimal(1))})
    first = merger.on_open_interest(_oi("X-USDT-SWAP", "5"))
    assert first is not None
    assert first.usd is None
    priced = merger.on_mark_price("X-USDT-SWAP", Decimal(2))
    assert priced is not None
    assert priced.usd == 10
    assert merger.on_mark_price("X-USDT-SWAP", Decimal(3)) is None


def test_subscriptions_fit_okx_args_limit() -> None:
    symbols = [f"COIN{i}-USDT-SWAP" for i in range(2000)]
    requests = subscribe_requests(symbols)
    assert len(requests) > 1
    args = [a for r in requests for a in json.loads(r)["args"]]
    assert len(args) == 4000
    for r in requests:
        doc = json.loads(r)
        assert doc["op"] == "subscribe"
        assert len(json.dumps(doc["args"], separators=(",", ":"))) <= 64 * 1024


# -- the rubik open-interest history -------------------------------------------------------------
# No capture of it was found (fixtures/okx/SOURCES.md): these rows follow the docs' array
# [ts, oi, oiCcy, oiUsd], written here with BTC-USDT-SWAP's ctVal 0.01.


def test_history_rows_decode_the_docs_array_and_convert_contracts_to_coin() -> None:
    rows = decode_history_rows(
        [
            ["1780000200000", "2796328.21", "27963.2821", "2322929418.34"],
            ["1780000500000", "2796400", "27964", "2322900000"],
        ],
        "open-interest-history",
    )
    assert rows[0].ts_ms == 1_780_000_200_000
    assert rows[0].oi == Decimal("2796328.21")
    assert rows[0].oi_usd == Decimal("2322929418.34")
    btc = Instrument("BTC-USDT-SWAP", "BTC", "linear", Decimal("0.01"))
    assert btc.coin(rows[0].oi, None) == rows[0].oi_ccy  # oi × ctVal = OKX's own oiCcy


def test_history_rows_of_three_have_no_usd() -> None:
    (row,) = decode_history_rows([["1", "2", "0.02"]], "open-interest-history")
    assert row.oi_usd is None


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"ts": "1"}, "open-interest-history.data"),
        ([{"ts": "1", "oi": "2"}], "open-interest-history.data[0]"),
        ([["1", "2"]], "open-interest-history.data[0]"),
        ([["1", 2, "3", "4"]], "open-interest-history.data[0][1]"),
        ([["x1", "2", "3", "4"]], "open-interest-history.data[0][0]"),
        ([["1", "2", "three", "4"]], "open-interest-history.data[0][2]"),
    ],
)
def test_history_rows_of_another_shape_are_refused_naming_the_place(data: Any, where: str) -> None:
    with pytest.raises(VenueDecodeError, match=re.escape(where)):
        decode_history_rows(data, "open-interest-history")
