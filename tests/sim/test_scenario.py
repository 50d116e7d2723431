"""Scripted scenario events as a client sees them (OI jumps and dumps, listings, delistings,
24h volume changes), and the strict decoding of scenario files: every mistake is an error that
names the event index and the field, never a silent no-op.

Tests where simulated time passes run under the `autojump_clock` fixture (`trio.sleep_until`
only, never real time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from tests.conftest import START_MS
from tests.sim.conftest import MakeSim, get_ok, in_process
from volspike_oi.sim.binance import (
    BinanceSim,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from volspike_oi.sim.binance.scenario import BUILTIN_DIR

SHIPPED = sorted(BUILTIN_DIR.glob("*.json"))


def scenario(*events: dict[str, Any]) -> Scenario:
    return parse_scenario({"events": list(events)})


async def at_second(sim: BinanceSim, second: float) -> None:
    """Sleep until `second` simulated seconds after the simulator's start."""
    await trio.sleep_until(sim.clock.trio_time_at(START_MS + round(second * 1000)))


async def open_interest(client: httpx.AsyncClient, symbol: str) -> float:
    return float((await get_ok(client, "/fapi/v1/openInterest", symbol=symbol))["openInterest"])


async def quote_volume(client: httpx.AsyncClient, symbol: str) -> float:
    return float((await get_ok(client, "/fapi/v1/ticker/24hr", symbol=symbol))["quoteVolume"])


async def listed(client: httpx.AsyncClient) -> dict[str, str]:
    """Symbol → status, from exchangeInfo."""
    info = await get_ok(client, "/fapi/v1/exchangeInfo")
    return {s["symbol"]: s["status"] for s in info["symbols"]}


async def ticker_symbols(client: httpx.AsyncClient) -> set[str]:
    return {r["symbol"] for r in await get_ok(client, "/fapi/v1/ticker/24hr")}


async def oi_error_code(client: httpx.AsyncClient, symbol: str) -> int:
    response = await client.get("/fapi/v1/openInterest", params={"symbol": symbol})
    assert response.status_code == 400
    code: int = response.json()["code"]
    return code


def decoding_error(**event: Any) -> str:
    """The message of the error a scenario holding one good event and then `event` raises."""
    good = {"type": "oi_change", "at_s": 1, "symbol": "BTCUSDT", "pct": 12}
    with pytest.raises(ScenarioError) as caught:
        scenario(good, event)
    return str(caught.value)


# -- open interest moves -----------------------------------------------------------------------


async def test_oi_change_raises_open_interest_at_its_minute(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(scenario({"type": "oi_change", "at_min": 30, "symbol": "SOLUSDT", "pct": 12}))
    async with in_process(sim) as client:
        await at_second(sim, 30 * 60 - 1)
        before = await open_interest(client, "SOLUSDT")
        await at_second(sim, 30 * 60 + 1)
        after = await open_interest(client, "SOLUSDT")

    assert after / before == pytest.approx(1.12, abs=0.002)


async def test_oi_change_leaves_other_symbols_alone(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim(scenario({"type": "oi_change", "at_min": 30, "symbol": "SOLUSDT", "pct": 12}))
    async with in_process(sim) as client:
        await at_second(sim, 30 * 60 - 1)
        before = {s: await open_interest(client, s) for s in ("BTCUSDT", "ETHUSDT", "XRPUSDT")}
        await at_second(sim, 30 * 60 + 1)
        after = {s: await open_interest(client, s) for s in before}

    for symbol, value in before.items():
        assert after[symbol] / value == pytest.approx(1.0, abs=0.002), symbol


async def test_oi_change_over_s_spreads_the_move_over_that_time(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(
        scenario({"type": "oi_change", "at_min": 30, "symbol": "SOLUSDT", "pct": 12, "over_s": 60})
    )
    async with in_process(sim) as client:
        await at_second(sim, 30 * 60 - 1)
        before = await open_interest(client, "SOLUSDT")
        await at_second(sim, 30 * 60 + 1)
        just_after = await open_interest(client, "SOLUSDT")
        await at_second(sim, 30 * 60 + 30)
        halfway = await open_interest(client, "SOLUSDT")
        await at_second(sim, 31 * 60 + 1)
        done = await open_interest(client, "SOLUSDT")

    assert just_after / before < 1.01
    assert 1.04 < halfway / before < 1.08
    assert done / before == pytest.approx(1.12, abs=0.003)


async def test_negative_oi_change_dumps_open_interest(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim(scenario({"type": "oi_change", "at_min": 30, "symbol": "SOLUSDT", "pct": -10}))
    async with in_process(sim) as client:
        await at_second(sim, 30 * 60 - 1)
        before = await open_interest(client, "SOLUSDT")
        await at_second(sim, 30 * 60 + 1)
        after = await open_interest(client, "SOLUSDT")

    assert after / before == pytest.approx(0.90, abs=0.002)


# -- listings and delistings -------------------------------------------------------------------

NEW_LISTING = {
    "type": "listing",
    "at_min": 10,
    "symbol": "NEWCOINUSDT",
    "quote_volume_usdt": 6e6,
    "mark_price": 0.5,
}


async def test_listing_is_unknown_before_its_minute(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim(scenario(NEW_LISTING))
    async with in_process(sim) as client:
        await at_second(sim, 10 * 60 - 1)
        assert "NEWCOINUSDT" not in await listed(client)
        assert await oi_error_code(client, "NEWCOINUSDT") == -1121


async def test_listing_trades_from_its_minute(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim(scenario(NEW_LISTING))
    async with in_process(sim) as client:
        await at_second(sim, 10 * 60 + 1)
        assert (await listed(client))["NEWCOINUSDT"] == "TRADING"
        assert await open_interest(client, "NEWCOINUSDT") > 0
        assert "NEWCOINUSDT" in await ticker_symbols(client)


async def test_delisting_flips_status_to_settling_and_leaves_the_ticker(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(scenario({"type": "delisting", "at_min": 10, "symbol": "XRPUSDT"}))
    async with in_process(sim) as client:
        await at_second(sim, 10 * 60 - 1)
        assert (await listed(client))["XRPUSDT"] == "TRADING"
        assert "XRPUSDT" in await ticker_symbols(client)
        await at_second(sim, 10 * 60 + 1)
        assert (await listed(client))["XRPUSDT"] == "SETTLING"
        assert "XRPUSDT" not in await ticker_symbols(client)


async def test_delisting_with_remove_makes_the_symbol_invalid(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(
        scenario({"type": "delisting", "at_min": 10, "symbol": "XRPUSDT", "remove": True})
    )
    async with in_process(sim) as client:
        await at_second(sim, 10 * 60 - 1)
        assert await open_interest(client, "XRPUSDT") > 0
        await at_second(sim, 10 * 60 + 1)
        assert await oi_error_code(client, "XRPUSDT") == -1121
        assert "XRPUSDT" not in await listed(client)


async def test_delisted_symbol_freezes_at_its_delisting_whoever_looked_before(
    make_sim: MakeSim, autojump_clock: MockClock
):
    delisting = scenario({"type": "delisting", "at_min": 10, "symbol": "XRPUSDT"})
    watched, unwatched = make_sim(delisting), make_sim(delisting)
    async with in_process(watched) as watched_client, in_process(unwatched) as unwatched_client:
        for minute in range(1, 20):
            await at_second(watched, minute * 60)
            await open_interest(watched_client, "XRPUSDT")
        assert await open_interest(watched_client, "XRPUSDT") == await open_interest(
            unwatched_client, "XRPUSDT"
        )


# -- 24h quote volume --------------------------------------------------------------------------


async def test_quote_volume_event_drops_a_liquid_symbol_below_2m(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(
        scenario({"type": "quote_volume", "at_min": 5, "symbol": "LTCUSDT", "usdt": 1e6})
    )
    async with in_process(sim) as client:
        await at_second(sim, 5 * 60 - 1)
        before = await quote_volume(client, "LTCUSDT")
        await at_second(sim, 5 * 60 + 1)
        after = await quote_volume(client, "LTCUSDT")
        await at_second(sim, 65 * 60)
        an_hour_later = await quote_volume(client, "LTCUSDT")

    assert before > 4e6
    assert after == pytest.approx(1e6)
    assert an_hour_later < 2e6


async def test_scripted_moves_of_a_later_listing_apply_once_it_is_listed(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(
        scenario(
            {"type": "quote_volume", "at_min": 5, "symbol": "NEWCOINUSDT", "usdt": 1e6},
            {**NEW_LISTING, "at_min": 1, "quote_volume_usdt": 1e7},
        )
    )
    async with in_process(sim) as client:
        await at_second(sim, 5 * 60 - 1)
        before = await quote_volume(client, "NEWCOINUSDT")
        await at_second(sim, 5 * 60 + 1)
        after = await quote_volume(client, "NEWCOINUSDT")

    assert 7e6 < before < 14e6
    assert after == pytest.approx(1e6)


# -- decoding errors ---------------------------------------------------------------------------


def test_unknown_event_type_is_named():
    message = decoding_error(type="oi_jump", at_s=1, symbol="BTCUSDT", pct=12)
    assert "events[1].type" in message
    assert "oi_jump" in message


def test_missing_field_is_named():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT")
    assert "events[1].pct" in message
    assert "missing" in message


def test_number_given_as_string_is_refused_not_coerced():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT", pct="12")
    assert "events[1].pct" in message
    assert "expected a number, got str" in message


def test_boolean_given_as_number_is_refused():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT", pct=True)
    assert "events[1].pct" in message


def test_non_finite_number_is_refused():
    message = decoding_error(type="oi_change", at_s=float("nan"), symbol="BTCUSDT", pct=12)
    assert "events[1].at_s" in message


def test_extra_key_is_named():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT", pct=12, pcnt=3)
    assert "events[1]" in message
    assert "pcnt" in message


def test_at_s_and_at_min_together_are_refused():
    message = decoding_error(type="oi_change", at_s=60, at_min=1, symbol="BTCUSDT", pct=12)
    assert "events[1]" in message
    assert "at_min" in message


def test_negative_time_is_refused():
    message = decoding_error(type="oi_change", at_min=-1, symbol="BTCUSDT", pct=12)
    assert "events[1].at_s" in message


def test_negative_duration_is_refused():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT", pct=12, over_s=-5)
    assert "events[1].over_s" in message


def test_drop_of_100_percent_or_more_is_refused():
    message = decoding_error(type="oi_change", at_s=1, symbol="BTCUSDT", pct=-100)
    assert "events[1].pct" in message


def test_listing_symbol_that_no_request_could_reach_is_refused():
    message = decoding_error(**{**NEW_LISTING, "symbol": "newcoinusdt"})
    assert "events[1].symbol" in message


def test_nested_fault_field_is_named():
    message = decoding_error(type="faults", at_s=1, faults={"error_rate": "0.1"})
    assert "events[1].faults.error_rate" in message


async def test_unknown_symbol_is_refused_when_the_simulator_is_built(make_sim: MakeSim):
    script = scenario({"type": "oi_change", "at_min": 30, "symbol": "NOSUCHUSDT", "pct": 12})
    with pytest.raises(ScenarioError, match="NOSUCHUSDT"):
        make_sim(script)


async def test_listing_of_an_existing_symbol_is_refused(make_sim: MakeSim):
    script = scenario({**NEW_LISTING, "symbol": "BTCUSDT"})
    with pytest.raises(ScenarioError, match="BTCUSDT"):
        make_sim(script)


def test_scenario_document_must_be_an_object_with_an_event_list():
    with pytest.raises(ScenarioError, match="events"):
        parse_scenario([{"type": "oi_change"}])


def test_load_scenario_of_a_missing_file_is_a_scenario_error(tmp_path: Path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")


def test_load_scenario_of_a_non_json_file_is_a_scenario_error(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"events": [', encoding="utf-8")
    with pytest.raises(ScenarioError, match="not JSON"):
        load_scenario(path)


def test_load_scenario_reads_a_scenario_file(tmp_path: Path):
    event = {"type": "delisting", "at_min": 2, "symbol": "XRPUSDT", "remove": True}
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"events": [event]}), encoding="utf-8")
    assert load_scenario(path) == scenario(event)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
async def test_shipped_scenario_loads_and_builds_a_simulator(path: Path, make_sim: MakeSim):
    make_sim(load_scenario(path), symbols=600)
