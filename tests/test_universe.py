"""Specification of `volspike_oi.universe`: which contracts are tracked, and which are liquid.

The filter is checked against every contract in the exchangeInfo capture in
tests/fixtures/binance/; the liquidity hysteresis (seed 001 §3.1 step 3) is checked as
properties over any universe, any 24h quote volumes (some symbols without a ticker row) and any
enter ≥ exit thresholds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REFERENCE_DIR
from volspike_oi.universe import (
    Classification,
    ContractInfo,
    Thresholds,
    classify,
    is_tracked_perpetual,
)

EXCHANGE_INFO = "exchangeInfo_trimmed.json"
HYSTERESIS = settings(max_examples=150)
"""Each hysteresis property sees 150 readings: enough to hit every threshold edge, quick."""


def captured_contracts() -> dict[str, ContractInfo]:
    doc: dict[str, Any] = json.loads((REFERENCE_DIR / EXCHANGE_INFO).read_text(encoding="utf-8"))
    return {
        s["symbol"]: ContractInfo(
            s["symbol"], s["contractType"], s["status"], s["quoteAsset"], s["marginAsset"]
        )
        for s in doc["symbols"]
    }


# -- the exchangeInfo filter -----------------------------------------------------------------

CAPTURED_VERDICTS = [
    # symbol, tracked by default, tracked with include_tradfi
    ("BTCUSDT", True, True),
    ("XAUUSDT", False, True),
    ("币安人生USDT", True, True),
    ("OMGUSDT", False, False),
    ("BTCUSDT_261225", False, False),
]


def test_capture_holds_exactly_the_contracts_the_verdicts_cover() -> None:
    assert set(captured_contracts()) == {symbol for symbol, _, _ in CAPTURED_VERDICTS}


@pytest.mark.parametrize(("symbol", "default", "with_tradfi"), CAPTURED_VERDICTS)
def test_filter_verdict_on_each_captured_contract(
    symbol: str, default: bool, with_tradfi: bool
) -> None:
    info = captured_contracts()[symbol]
    assert is_tracked_perpetual(info) is default
    assert is_tracked_perpetual(info, include_tradfi=True) is with_tradfi


CONTRACT_TYPES = st.sampled_from(
    ["PERPETUAL", "TRADIFI_PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL_DELIVERING"]
)
STATUSES = st.sampled_from(["TRADING", "SETTLING", "PENDING_TRADING", "DELIVERING", "CLOSE"])
ASSETS = st.sampled_from(["USDT", "USDC", "BTC", "BNB"])

contracts = st.builds(
    ContractInfo,
    symbol=st.sampled_from(["BTCUSDT", "XAUUSDT", "币安人生USDT", "OMGUSDT"]),
    contract_type=CONTRACT_TYPES,
    status=STATUSES,
    quote_asset=ASSETS,
    margin_asset=ASSETS,
)


@settings(max_examples=200)
@given(contracts)
def test_tracked_means_a_trading_usdt_margined_usdt_perpetual(info: ContractInfo) -> None:
    expected = (
        info.contract_type == "PERPETUAL"
        and info.quote_asset == "USDT"
        and info.margin_asset == "USDT"
        and info.status == "TRADING"
    )
    assert is_tracked_perpetual(info) is expected


@settings(max_examples=200)
@given(contracts)
def test_include_tradfi_adds_only_tradfi_perpetuals(info: ContractInfo) -> None:
    with_tradfi = is_tracked_perpetual(info, include_tradfi=True)
    if info.contract_type == "TRADIFI_PERPETUAL":
        assert with_tradfi is is_tracked_perpetual(
            ContractInfo(info.symbol, "PERPETUAL", info.status, info.quote_asset, info.margin_asset)
        )
    else:
        assert with_tradfi is is_tracked_perpetual(info)


# -- the liquidity hysteresis --------------------------------------------------------------------

SYMBOLS = st.sampled_from([f"S{i}USDT" for i in range(12)])

Reading = tuple[frozenset[str], dict[str, float], frozenset[str], Thresholds]


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    """(current members, quote volumes, tracked, thresholds); many volumes sit on a threshold."""
    exit_, enter = sorted(draw(st.tuples(st.floats(0, 2e8), st.floats(0, 2e8))))
    limits = Thresholds(enter_quote_24h=enter, exit_quote_24h=exit_)
    on_threshold = {"exit": exit_, "enter": enter, "between": (exit_ + enter) / 2}
    raw = draw(
        st.dictionaries(SYMBOLS, st.one_of(st.sampled_from(list(on_threshold)), st.floats(0, 3e8)))
    )
    volumes = {s: on_threshold[v] if isinstance(v, str) else v for s, v in raw.items()}
    return draw(st.frozensets(SYMBOLS)), volumes, draw(st.frozensets(SYMBOLS)), limits


def run(reading: Reading) -> Classification:
    return classify(*reading)


@HYSTERESIS
@given(readings())
def test_every_entered_symbol_reached_the_enter_threshold(reading: Reading) -> None:
    _, volumes, _, limits = reading
    for symbol in run(reading).entered:
        assert volumes[symbol] >= limits.enter_quote_24h


@HYSTERESIS
@given(readings())
def test_every_exited_symbol_fell_below_exit_or_is_no_longer_tracked(reading: Reading) -> None:
    _, volumes, tracked, limits = reading
    for symbol in run(reading).exited:
        assert symbol not in tracked or volumes[symbol] < limits.exit_quote_24h


@HYSTERESIS
@given(readings())
def test_member_between_thresholds_keeps_its_membership(reading: Reading) -> None:
    current, volumes, tracked, limits = reading
    members = run(reading).members
    for symbol in current & tracked:
        if limits.exit_quote_24h <= volumes.get(symbol, -1.0) < limits.enter_quote_24h:
            assert symbol in members


@HYSTERESIS
@given(readings())
def test_non_member_below_enter_stays_out(reading: Reading) -> None:
    current, volumes, tracked, limits = reading
    members = run(reading).members
    for symbol in tracked - current:
        if volumes.get(symbol, 0.0) < limits.enter_quote_24h:
            assert symbol not in members


@HYSTERESIS
@given(readings())
def test_tracked_member_without_ticker_row_keeps_membership(reading: Reading) -> None:
    current, volumes, tracked, _ = reading
    members = run(reading).members
    for symbol in (current & tracked) - volumes.keys():
        assert symbol in members


@HYSTERESIS
@given(readings())
def test_untracked_symbol_without_ticker_row_never_enters(reading: Reading) -> None:
    current, volumes, tracked, _ = reading
    members = run(reading).members
    for symbol in (tracked - current) - volumes.keys():
        assert symbol not in members


@HYSTERESIS
@given(readings())
def test_members_are_always_tracked(reading: Reading) -> None:
    _, _, tracked, _ = reading
    assert run(reading).members <= tracked


@HYSTERESIS
@given(readings())
def test_entered_and_exited_are_the_difference_with_the_current_set(reading: Reading) -> None:
    current = reading[0]
    result = run(reading)
    assert result.entered == result.members - current
    assert result.exited == current - result.members


@HYSTERESIS
@given(readings())
def test_classify_is_idempotent(reading: Reading) -> None:
    current, volumes, tracked, limits = reading
    once = classify(current, volumes, tracked, limits)
    twice = classify(once.members, volumes, tracked, limits)
    assert twice.members == once.members
    assert twice.entered == frozenset()
    assert twice.exited == frozenset()


def test_seed_example_thresholds_enter_4m_exit_2m() -> None:
    limits = Thresholds(enter_quote_24h=4e6, exit_quote_24h=2e6)
    tracked = frozenset({"IN_STAYS", "IN_LEAVES", "OUT_JOINS", "OUT_STAYS_OUT"})
    volumes = {"IN_STAYS": 3e6, "IN_LEAVES": 1.99e6, "OUT_JOINS": 4e6, "OUT_STAYS_OUT": 3.99e6}
    result = classify(frozenset({"IN_STAYS", "IN_LEAVES"}), volumes, tracked, limits)
    assert result.members == {"IN_STAYS", "OUT_JOINS"}
    assert result.entered == {"OUT_JOINS"}
    assert result.exited == {"IN_LEAVES"}


@pytest.mark.parametrize(("enter", "exit_"), [(1.0, 2.0), (1.0, -1.0)])
def test_thresholds_refuse_exit_above_enter_or_negative(enter: float, exit_: float) -> None:
    with pytest.raises(ValueError, match="exit threshold"):
        Thresholds(enter_quote_24h=enter, exit_quote_24h=exit_)
