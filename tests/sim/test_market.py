"""The simulated market as a client sees it through REST: the listing, the heavy-tailed 24h quote
volumes drifting across the 2M/4M thresholds, the OI and mark price random walks, determinism
from the seed, and openInterestHist joining the synthetic past to the live series.

Every test runs under the `autojump_clock` fixture: simulated hours cost no real time, and
waiting is `trio.sleep` / `trio.sleep_until` only.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from tests.conftest import START_MS
from tests.sim.conftest import MakeSim, get_ok, in_process, sleep_until_ms

MINUTE_MS = 60_000
FIVE_MIN_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def passes_filter(row: dict[str, Any]) -> bool:
    """The correct filter: trading USDT-quoted, USDT-margined perpetuals."""
    return bool(
        row["contractType"] == "PERPETUAL"
        and row["quoteAsset"] == row["marginAsset"] == "USDT"
        and row["status"] == "TRADING"
    )


async def filtered_symbols(client: httpx.AsyncClient) -> set[str]:
    info = await get_ok(client, "/fapi/v1/exchangeInfo")
    return {s["symbol"] for s in info["symbols"] if passes_filter(s)}


async def quote_volumes(client: httpx.AsyncClient, symbols: set[str]) -> dict[str, float]:
    rows = await get_ok(client, "/fapi/v1/ticker/24hr")
    return {r["symbol"]: float(r["quoteVolume"]) for r in rows if r["symbol"] in symbols}


async def oi_and_mark(client: httpx.AsyncClient, symbol: str) -> tuple[str, str]:
    oi = await get_ok(client, "/fapi/v1/openInterest", symbol=symbol)
    premium = await get_ok(client, "/fapi/v1/premiumIndex", symbol=symbol)
    return oi["openInterest"], premium["markPrice"]


async def hist(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await get_ok(client, "/futures/data/openInterestHist", **params)
    return rows


# -- the listing -------------------------------------------------------------------------------


async def test_catalog_has_the_requested_perps_and_every_kind_a_filter_must_drop(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim(symbols=600)) as client:
        info = await get_ok(client, "/fapi/v1/exchangeInfo")
    rows = info["symbols"]
    others = [r for r in rows if not passes_filter(r)]

    assert sum(passes_filter(r) for r in rows) == 600
    assert {"CURRENT_QUARTER", "NEXT_QUARTER", "TRADIFI_PERPETUAL"} <= {
        r["contractType"] for r in others
    }
    assert any(r["contractType"] == "PERPETUAL" and r["marginAsset"] == "USDC" for r in others)
    assert {"SETTLING", "PENDING_TRADING"} <= {r["status"] for r in others}


# -- 24h quote volumes -------------------------------------------------------------------------


async def test_quote_volumes_are_heavy_tailed_with_about_57_percent_above_4m(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim(symbols=600)) as client:
        volumes = sorted((await quote_volumes(client, await filtered_symbols(client))).values())

    assert len(volumes) == 600
    assert volumes[-1] > 1000 * statistics.median(volumes)
    assert 0.50 <= sum(v >= 4e6 for v in volumes) / len(volumes) <= 0.65


async def test_quote_volumes_drift_across_4m_and_2m_within_three_hours(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim(symbols=600)
    crossed_4m_up: set[str] = set()
    crossed_2m_down: set[str] = set()
    async with in_process(sim) as client:
        perps = await filtered_symbols(client)
        before = await quote_volumes(client, perps)
        for _ in range(3 * 12):
            await trio.sleep(300)
            now = await quote_volumes(client, perps)
            crossed_4m_up |= {s for s in perps if before[s] < 4e6 <= now[s]}
            crossed_2m_down |= {s for s in perps if before[s] >= 2e6 > now[s]}
            before = now

    assert len(crossed_4m_up) >= 3
    assert len(crossed_2m_down) >= 3


# -- determinism -------------------------------------------------------------------------------


async def test_same_seed_gives_the_same_values_whatever_the_query_pattern(
    make_sim: MakeSim, autojump_clock: MockClock
):
    watched = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "币安人生USDT"]
    busy, idle = make_sim(seed=7), make_sim(seed=7)
    async with in_process(busy) as busy_client, in_process(idle) as idle_client:
        for i in range(80):  # the busy one is read every 7 s, in a rotating order
            await trio.sleep(7)
            for symbol in watched[i % 4 :] + watched[: i % 4]:
                await oi_and_mark(busy_client, symbol)
            if i == 40:
                await get_ok(busy_client, "/fapi/v1/ticker/24hr")
        await sleep_until_ms(busy, START_MS + 600_000)
        busy_values = {s: await oi_and_mark(busy_client, s) for s in watched}
        idle_values = {s: await oi_and_mark(idle_client, s) for s in reversed(watched)}

    assert busy_values == idle_values


async def test_a_different_seed_gives_a_different_market(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim(seed=1)) as one, in_process(make_sim(seed=2)) as two:
        assert await filtered_symbols(one) != await filtered_symbols(two)
        assert await oi_and_mark(one, "BTCUSDT") != await oi_and_mark(two, "BTCUSDT")


# -- random walks ------------------------------------------------------------------------------


async def test_oi_and_mark_walk_but_stay_within_a_few_percent_over_an_hour(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim()
    async with in_process(sim) as client:
        start = await get_ok(client, "/_sim/market")
        await trio.sleep(3600)
        later = {r["symbol"]: r for r in await get_ok(client, "/_sim/market")}

    trading = [r for r in start if r["status"] == "TRADING"]
    assert len(trading) > 60
    for row in trading:
        end = later[row["symbol"]]
        oi_move = end["openInterest"] / row["openInterest"] - 1
        mark_move = end["markPrice"] / row["markPrice"] - 1
        assert 0 < abs(oi_move) < 0.03, row["symbol"]
        assert 0 < abs(mark_move) < 0.06, row["symbol"]


async def test_open_interest_time_follows_the_simulated_clock(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        first = await get_ok(client, "/fapi/v1/openInterest", symbol="BTCUSDT")
        await trio.sleep(90.5)
        later = await get_ok(client, "/fapi/v1/openInterest", symbol="BTCUSDT")

    assert first["time"] == START_MS
    assert later["time"] == START_MS + 90_000


# -- which symbols answer ----------------------------------------------------------------------


async def test_ticker_without_symbol_lists_exactly_the_trading_contracts(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        info = await get_ok(client, "/fapi/v1/exchangeInfo")
        rows = await get_ok(client, "/fapi/v1/ticker/24hr")

    trading = {s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"}
    assert [r["symbol"] for r in rows if r["symbol"] not in trading] == []
    assert {r["symbol"] for r in rows} == trading


async def test_premium_index_without_symbol_lists_exactly_the_trading_contracts(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        info = await get_ok(client, "/fapi/v1/exchangeInfo")
        rows = await get_ok(client, "/fapi/v1/premiumIndex")

    trading = {s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"}
    assert {r["symbol"] for r in rows} == trading
    assert len(rows) == len(trading)


async def test_lowercase_symbol_is_accepted_and_answered_uppercase(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        oi = await get_ok(client, "/fapi/v1/openInterest", symbol="btcusdt")
        premium = await get_ok(client, "/fapi/v1/premiumIndex", symbol="ethusdt")

    assert oi["symbol"] == "BTCUSDT"
    assert premium["symbol"] == "ETHUSDT"


async def test_pending_trading_symbol_is_an_invalid_symbol(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        info = await get_ok(client, "/fapi/v1/exchangeInfo")
        pending = next(s["symbol"] for s in info["symbols"] if s["status"] == "PENDING_TRADING")
        response = await client.get("/fapi/v1/openInterest", params={"symbol": pending})

    assert response.status_code == 400
    assert response.json() == {"code": -1121, "msg": "Invalid symbol."}


# -- openInterestHist --------------------------------------------------------------------------


async def test_hist_5m_rows_sit_on_five_minute_boundaries(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim()
    async with in_process(sim) as client:
        await trio.sleep(47 * 60 + 13)
        rows = await hist(client, symbol="BTCUSDT", period="5m")

    times = [r["timestamp"] for r in rows]
    assert len(times) == 30
    assert all(t % FIVE_MIN_MS == 0 for t in times)
    assert [b - a for a, b in itertools.pairwise(times)] == [FIVE_MIN_MS] * 29
    assert times[-1] == START_MS + 45 * MINUTE_MS


async def test_hist_row_at_the_start_equals_the_live_open_interest_at_the_start(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        live = await get_ok(client, "/fapi/v1/openInterest", symbol="SOLUSDT")
        rows = await hist(client, symbol="SOLUSDT", period="5m", limit=3)

    assert rows[-1]["timestamp"] == START_MS
    assert float(rows[-1]["sumOpenInterest"]) == pytest.approx(float(live["openInterest"]))


async def test_hist_live_rows_record_the_open_interest_at_their_boundary(
    make_sim: MakeSim, autojump_clock: MockClock
):
    sim = make_sim()
    async with in_process(sim) as client:
        await sleep_until_ms(sim, START_MS + 10 * MINUTE_MS)
        live = await get_ok(client, "/fapi/v1/openInterest", symbol="ETHUSDT")
        await trio.sleep(7 * 60)
        rows = await hist(client, symbol="ETHUSDT", period="5m", limit=4)

    by_time = {r["timestamp"]: float(r["sumOpenInterest"]) for r in rows}
    assert sorted(by_time) == [START_MS + m * MINUTE_MS for m in (0, 5, 10, 15)]
    assert by_time[START_MS + 10 * MINUTE_MS] == pytest.approx(float(live["openInterest"]))


async def test_hist_limit_returns_the_newest_rows(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim()
    async with in_process(sim) as client:
        await trio.sleep(20 * 60 + 30)
        rows = await hist(client, symbol="BTCUSDT", period="5m", limit=7)

    assert [r["timestamp"] for r in rows] == [
        START_MS + m * MINUTE_MS for m in (-10, -5, 0, 5, 10, 15, 20)
    ]


async def test_hist_start_time_returns_rows_from_the_first_boundary_after_it(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        rows = await hist(
            client, symbol="BTCUSDT", period="5m", startTime=START_MS - HOUR_MS + 1, limit=3
        )

    assert [r["timestamp"] for r in rows] == [START_MS - m * MINUTE_MS for m in (55, 50, 45)]


async def test_hist_end_time_returns_rows_up_to_it(make_sim: MakeSim, autojump_clock: MockClock):
    async with in_process(make_sim()) as client:
        rows = await hist(
            client, symbol="BTCUSDT", period="5m", endTime=START_MS - 20 * MINUTE_MS - 1, limit=2
        )

    assert [r["timestamp"] for r in rows] == [START_MS - m * MINUTE_MS for m in (30, 25)]


async def test_hist_period_1h_gives_hourly_rows(make_sim: MakeSim, autojump_clock: MockClock):
    sim = make_sim()
    async with in_process(sim) as client:
        await trio.sleep(2 * 3600 + 60)
        rows = await hist(client, symbol="BTCUSDT", period="1h", limit=5)

    times = [r["timestamp"] for r in rows]
    assert times == [START_MS + h * HOUR_MS for h in (-2, -1, 0, 1, 2)]


async def test_hist_start_time_older_than_30_days_is_refused(
    make_sim: MakeSim, autojump_clock: MockClock
):
    async with in_process(make_sim()) as client:
        response = await client.get(
            "/futures/data/openInterestHist",
            params={"symbol": "BTCUSDT", "period": "5m", "startTime": START_MS - 31 * DAY_MS},
        )

    assert response.status_code == 400
    assert response.json()["code"] < 0


async def test_hist_invalid_period_is_refused(make_sim: MakeSim, autojump_clock: MockClock):
    async with in_process(make_sim()) as client:
        response = await client.get(
            "/futures/data/openInterestHist", params={"symbol": "BTCUSDT", "period": "3m"}
        )

    assert response.status_code == 400
    assert response.json()["code"] < 0
