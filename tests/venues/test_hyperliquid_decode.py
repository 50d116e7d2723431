"""The Hyperliquid decoder on captures (tests/fixtures/hyperliquid, see its SOURCES.md) and its
strictness: every context value is a decimal string, `premium`/`midPx`/`impactPxs` may be null.

Rules: a wrong type is refused naming Hyperliquid's key path, never coerced; unknown keys are
accepted (`marginTableId`, `isDelisted`, `marginTables`, `collateralToken` arrived over time);
OI is in units of the listed coin, so coin = OI (× 1000 for kPEPE) and USD = OI × markPx.
The mainnet file has UNVERIFIED provenance: it pins shapes and arithmetic only.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.venues.errors import VenueDecodeError, VenueError
from volspike_oi.venues.hyperliquid.decode import (
    AssetCtx,
    AssetCtxPush,
    OtherChannel,
    Pong,
    StreamError,
    SubscriptionAck,
    UniverseEntry,
    decode_meta_and_asset_ctxs,
    decode_ws_message,
    instrument_of,
    reading_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hyperliquid"
TESTNET = "hyperliquid_rest_info_metaAndAssetCtxs_TESTNET_TRIMMED-6-assets_2024-12-21.json"
MAINNET = (
    "hyperliquid_rest_info_metaAndAssetCtxs_mainnet-prefix_UNVERIFIED-PROVENANCE_2026-09-03.json"
)
WS_PUSH = "hyperliquid_ws_activeAssetCtx_MOODENG_2024-10-29.json"


def capture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


def ctx_of(oi: Decimal, mark: Decimal) -> AssetCtx:
    return AssetCtx(openInterest=oi, markPx=mark, oraclePx=mark)


def refusal(doc: Any) -> VenueDecodeError:
    with pytest.raises(VenueDecodeError) as caught:
        decode_meta_and_asset_ctxs(doc)
    return caught.value


# -- captures -------------------------------------------------------------------------------------


def test_the_testnet_capture_decodes_every_asset_in_universe_order():
    body = decode_meta_and_asset_ctxs(capture(TESTNET))
    assert [e.name for e in body.universe] == ["SOL", "APT", "ATOM", "BTC", "ETH", "MATIC"]
    btc = body.ctxs[3]
    assert btc.open_interest == Decimal("1784.59898")
    assert btc.mark_px == Decimal("98818.0")
    assert btc.oracle_px == Decimal("99235.0")
    assert btc.impact_pxs == [Decimal("98798.6"), Decimal("98880.1")]


def test_a_dead_market_has_null_premium_mid_and_impact_prices():
    matic = decode_meta_and_asset_ctxs(capture(TESTNET)).ctxs[5]
    assert (matic.premium, matic.mid_px, matic.impact_pxs) == (None, None, None)
    assert matic.mark_px == Decimal("0.37035")


def test_the_mainnet_shape_decodes_and_marks_the_delisted_asset():
    body = decode_meta_and_asset_ctxs(capture(MAINNET))
    assert [(e.name, e.is_delisted) for e in body.universe] == [
        ("BTC", False),
        ("ETH", False),
        ("ATOM", False),
        ("MATIC", True),
    ]


def test_the_ws_push_capture_decodes_without_day_base_volume():
    push = decode_ws_message((FIXTURES / WS_PUSH).read_text("utf-8"))
    assert isinstance(push, AssetCtxPush)
    assert push.coin == "MOODENG"
    assert push.ctx.open_interest == Decimal("18617460.0")
    assert push.ctx.mark_px == Decimal("0.19963")
    assert push.ctx.day_base_vlm is None


# -- units ----------------------------------------------------------------------------------------


def test_btc_oi_is_coin_and_usd_is_oi_times_mark_on_the_testnet_capture():
    body = decode_meta_and_asset_ctxs(capture(TESTNET))
    entry, ctx = body.pairs()[3]
    reading = reading_of(instrument_of(entry), ctx)
    assert reading.contracts == reading.coin == Decimal("1784.59898")
    assert reading.mark_price == Decimal("98818.0")
    assert reading.usd == Decimal("176350502.005640")  # 1784.59898 × 98818.0 ≈ 176 M USD
    assert reading.exchange_time_ms is None


def test_btc_usd_on_the_mainnet_shape_uses_mark_not_oracle():
    entry, ctx = decode_meta_and_asset_ctxs(capture(MAINNET)).pairs()[0]
    reading = reading_of(instrument_of(entry), ctx)
    assert reading.usd == Decimal("36295.80812") * Decimal("80639.0")
    assert reading.usd != Decimal("36295.80812") * Decimal("80684.7")


def test_kpepe_counts_1000_pepe_per_unit_and_keeps_usd_as_oi_times_mark():
    instrument = instrument_of(UniverseEntry("kPEPE", 0, 10))
    assert (instrument.asset, instrument.kind, instrument.coin_per_contract) == (
        "PEPE",
        "linear",
        Decimal(1000),
    )
    ctx = ctx_of(Decimal("2500000.0"), Decimal("0.0075"))
    reading = reading_of(instrument, ctx)
    assert reading.contracts == Decimal("2500000.0")
    assert reading.coin == Decimal("2500000000.0")
    assert reading.mark_price == Decimal("0.0000075")
    assert reading.usd == Decimal("18750.0")


def test_a_zero_mark_is_unknown_not_zero():
    ctx = ctx_of(Decimal(5), Decimal(0))
    reading = reading_of(instrument_of(UniverseEntry("BTC", 5, 40)), ctx)
    assert reading.mark_price is None
    assert reading.usd is None
    assert reading.coin == Decimal(5)


@given(
    oi=st.decimals(min_value=0, max_value=10**9, places=5, allow_nan=False),
    mark=st.decimals(min_value=Decimal("0.00001"), max_value=10**6, places=5, allow_nan=False),
    bundled=st.booleans(),
)
def test_usd_is_oi_times_mark_whatever_the_bundle(oi: Decimal, mark: Decimal, bundled: bool):
    instrument = instrument_of(UniverseEntry("kPEPE" if bundled else "PEPE", 0, 10))
    reading = reading_of(instrument, ctx_of(oi, mark))
    assert reading.usd is not None
    assert abs(reading.usd - oi * mark) <= Decimal("1e-20") * max(Decimal(1), oi * mark)
    assert reading.coin == oi * (1000 if bundled else 1)


# -- strictness -----------------------------------------------------------------------------------


def test_a_number_where_hyperliquid_sends_a_string_is_refused_naming_the_key():
    doc = capture(TESTNET)
    doc[1][3]["openInterest"] = 1784.59898
    exc = refusal(doc)
    assert isinstance(exc, VenueError)
    assert "metaAndAssetCtxs[1][3].openInterest" in str(exc)
    assert "expected a decimal string" in str(exc)


def test_a_missing_mark_price_is_named():
    doc = capture(TESTNET)
    del doc[1][0]["markPx"]
    assert "required field missing @ metaAndAssetCtxs[1][0].markPx" in str(refusal(doc))


def test_a_string_leverage_is_refused_naming_the_universe_key():
    doc = capture(MAINNET)
    doc[0]["universe"][1]["maxLeverage"] = "25"
    assert "metaAndAssetCtxs[0].universe[1].maxLeverage" in str(refusal(doc))


def test_universe_and_contexts_of_different_lengths_are_refused():
    doc = capture(TESTNET)
    doc[1].pop()
    assert "6 universe entries but 5 asset contexts" in str(refusal(doc))


@pytest.mark.parametrize("doc", [{}, [], [{"universe": []}], "null", None])
def test_a_body_that_is_not_meta_and_contexts_is_refused(doc: Any):
    assert "metaAndAssetCtxs" in str(refusal(doc))


def test_unknown_fields_are_ignored():
    doc = copy.deepcopy(capture(MAINNET))
    doc[0]["universe"][0]["somethingNew"] = {"x": 1}
    doc[1][0]["newCtxField"] = "1"
    assert decode_meta_and_asset_ctxs(doc).ctxs[0].open_interest == Decimal("36295.80812")


# -- WebSocket messages ---------------------------------------------------------------------------


def test_acks_pongs_errors_and_other_channels_are_told_apart():
    ack = decode_ws_message(
        '{"channel":"subscriptionResponse","data":{"method":"subscribe",'
        '"subscription":{"type":"activeAssetCtx","coin":"BTC"}}}'
    )
    assert ack == SubscriptionAck("subscribe", {"type": "activeAssetCtx", "coin": "BTC"})
    assert decode_ws_message('{"channel":"pong"}') == Pong()
    assert decode_ws_message('{"channel":"error","data":"Invalid subscription"}') == StreamError(
        "Invalid subscription"
    )
    assert decode_ws_message('{"channel":"allMids","data":{}}') == OtherChannel("allMids")


def test_a_push_with_a_numeric_oi_is_refused_naming_the_key():
    doc = capture(WS_PUSH)
    doc["data"]["ctx"]["openInterest"] = 18617460.0
    with pytest.raises(VenueDecodeError, match=r"activeAssetCtx\.data\.ctx\.openInterest"):
        decode_ws_message(json.dumps(doc))


@pytest.mark.parametrize("text", ["not json", "[]", '{"data":1}'])
def test_a_message_without_a_channel_is_refused(text: str):
    with pytest.raises(VenueDecodeError):
        decode_ws_message(text)
