"""Canonical assets from venues' names, and the unit model's conversions (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.messages import OiSample
from volspike_oi.venues.model import Instrument, VenueReading
from volspike_oi.venues.units import binance_style_base, split_bundle


@pytest.mark.parametrize(
    ("base", "asset", "multiplier"),
    [
        ("BTC", "BTC", 1),
        ("1000PEPE", "PEPE", 1000),
        ("1000000MOG", "MOG", 1_000_000),
        ("10000000AIDOGE", "AIDOGE", 10_000_000),
        ("1MBABYDOGE", "BABYDOGE", 1_000_000),
        ("kPEPE", "PEPE", 1000),
        ("1INCH", "1INCH", 1),
        ("ETH", "ETH", 1),
        ("10000LADYS", "LADYS", 10_000),
    ],
)
def test_bundles_split_into_the_asset_and_its_multiplier(
    base: str, asset: str, multiplier: int
) -> None:
    assert split_bundle(base) == (asset, Decimal(multiplier))


def test_binance_style_symbols_lose_their_quote() -> None:
    assert binance_style_base("1000PEPEUSDT") == "1000PEPE"
    assert binance_style_base("BTCUSDC") == "BTC"


@given(st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True))
def test_a_plain_name_is_its_own_asset(name: str) -> None:
    asset, multiplier = split_bundle(name)
    assert (asset, multiplier) == (name, Decimal(1)) or name[0] == "1" or name.startswith("k")


@given(
    st.sampled_from(["", "1000", "1000000", "k"]),
    st.from_regex(r"[A-Z]{2,8}", fullmatch=True),
)
def test_a_bundle_round_trips_to_its_asset(prefix: str, asset: str) -> None:
    got, multiplier = split_bundle(prefix + asset)
    assert got == asset
    assert multiplier == {"": 1, "1000": 1000, "1000000": 1_000_000, "k": 1000}[prefix]


money = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1e9"), places=3)


@given(money, money, st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e6"), places=4))
def test_linear_coin_scales_with_contracts_and_never_needs_a_price(
    a: Decimal, b: Decimal, size: Decimal
) -> None:
    linear = Instrument("X", "X", "linear", size)
    coin_a, coin_b = linear.coin(a, None), linear.coin(b, None)
    assert coin_a is not None
    assert coin_b is not None
    assert linear.coin(a + b, None) == coin_a + coin_b


@given(money, money)
def test_inverse_usd_over_mark_is_coin_and_coin_times_mark_is_that_usd(
    usd: Decimal, mark: Decimal
) -> None:
    inverse = Instrument("BTC-PERPETUAL", "BTC", "inverse", Decimal(1))
    assert inverse.coin(usd, None) is None  # no price, no coin: never 0
    coin = inverse.coin(usd, mark)
    assert coin is not None
    reading = VenueReading("BTC-PERPETUAL", "BTC", usd, coin, mark, None)
    assert reading.usd is not None
    assert abs(reading.usd - usd) <= usd * Decimal("1e-20")


def test_a_reading_without_a_mark_price_has_no_usd_value() -> None:
    assert VenueReading("BTCUSDT", "BTC", Decimal(5), Decimal(5), None, None).usd is None
    assert VenueReading("BTCUSDT", "BTC", Decimal(5), Decimal(5), Decimal(0), None).usd is None


def test_binance_samples_carry_their_asset_and_coin_without_being_told() -> None:
    sample = OiSample("1000PEPEUSDT", Decimal("2.5"), 0, 0.0, None, None, "realtime")
    assert (sample.venue, sample.asset, sample.coin) == ("binance", "PEPE", Decimal("2500.0"))
    other = OiSample(
        "BTC-USDT-SWAP", Decimal(100), 0, 0.0, None, None, "realtime", venue="okx", asset="BTC"
    )
    assert other.coin is None  # another venue's coin comes from its client, never guessed
