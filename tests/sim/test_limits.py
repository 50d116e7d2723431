"""Binance's per-IP request limits, as the simulator enforces them.

Rules (binance-api-facts §2):
- REQUEST_WEIGHT is counted per IP in the fixed UTC clock minute; every answer carries the
  running total in X-MBX-USED-WEIGHT-1M, another process's (background) weight included.
- Past the limit the answer is 429, code -1003, with Retry-After in whole seconds up to the next
  minute (never earlier); a new minute starts again from zero.
- More than `ban_after` refusals in one minute earn a 418 ban: 2 minutes, doubling per repeat
  offence, at most 3 days; every request until the ban ends gets 418.
- Weights: exchangeInfo 1, ticker/24hr 1 with a symbol and 40 without, premiumIndex 1 and 10,
  openInterest 1; a refused-as-invalid request (400) still costs its weight.
- /futures/data/openInterestHist costs no weight but has its own limit of 1000 requests per
  IP in each 5-minute window.
- /_sim/stats reports per minute exactly what the client saw.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import START_MS
from tests.sim.conftest import BTC, OI, WEIGHT, Connect, in_process, sleep_until_ms
from volspike_oi.sim.binance import BinanceSim
from volspike_oi.sim.limits import (
    FIRST_BAN_MS,
    MAX_BAN_MS,
    MINUTE_MS,
    Admission,
    IpWeightLimiter,
    WindowCounter,
    background_weight,
)

IP = "10.0.0.1"
FIVE_MIN_MS = 300_000
HIST = "/futures/data/openInterestHist"
HIST_PARAMS = {"symbol": "BTCUSDT", "period": "5m", "limit": "1"}


# -- helpers ---------------------------------------------------------------------------------------


def run(
    limiter: IpWeightLimiter, start_ms: int, requests: list[tuple[int, int]]
) -> list[tuple[int, int, Admission]]:
    """Feed (gap ms, weight) requests to `limiter`; returns (epoch ms, weight, verdict) of each."""
    now = start_ms
    seen: list[tuple[int, int, Admission]] = []
    for gap, weight in requests:
        now += gap
        seen.append((now, weight, limiter.admit(IP, weight, now)))
    return seen


def next_minute(now_ms: int) -> int:
    return now_ms - now_ms % MINUTE_MS + MINUTE_MS


def used(response: httpx.Response) -> int:
    return int(response.headers[WEIGHT])


async def get_oi(client: httpx.AsyncClient, n: int) -> list[httpx.Response]:
    return [await client.get(OI, params=BTC) for _ in range(n)]


def banned_until(response: httpx.Response) -> int:
    found = re.fullmatch(
        r"Way too many requests; IP banned until (\d+)\. "
        r"Please use the websocket for live updates to avoid bans\.",
        response.json()["msg"],
    )
    assert found is not None, response.json()
    return int(found.group(1))


# -- IpWeightLimiter and WindowCounter: examples ---------------------------------------------------


def test_limiter_admits_up_to_the_limit_and_reports_the_running_weight() -> None:
    limiter = IpWeightLimiter(limit=50)
    verdicts = [limiter.admit(IP, 1, START_MS) for _ in range(51)]
    assert [v.status for v in verdicts[:50]] == [200] * 50
    assert [v.used_weight for v in verdicts[:50]] == list(range(1, 51))
    assert verdicts[50] == Admission(429, 50, retry_after_s=60)


def test_limiter_refusal_does_not_add_weight() -> None:
    limiter = IpWeightLimiter(limit=10)
    assert limiter.admit(IP, 8, START_MS).status == 200
    assert limiter.admit(IP, 5, START_MS).status == 429
    assert limiter.admit(IP, 2, START_MS) == Admission(200, 10)


def test_limiter_bans_on_the_refusal_after_ban_after() -> None:
    limiter = IpWeightLimiter(limit=1, ban_after=3)
    statuses = [limiter.admit(IP, 1, START_MS).status for _ in range(6)]
    assert statuses == [200, 429, 429, 429, 418, 418]


def test_limiter_counts_each_ip_separately() -> None:
    limiter = IpWeightLimiter(limit=5)
    assert limiter.admit("10.0.0.1", 5, START_MS).status == 200
    assert limiter.admit("10.0.0.2", 5, START_MS) == Admission(200, 5)
    assert limiter.admit("10.0.0.1", 1, START_MS).status == 429


def test_window_counter_refuses_past_its_limit_until_the_window_ends() -> None:
    counter = WindowCounter(limit=3, window_ms=FIVE_MIN_MS)
    now = START_MS + 100_500
    assert [counter.admit(IP, now).status for _ in range(3)] == [200, 200, 200]
    assert counter.admit(IP, now) == Admission(429, 0, retry_after_s=200)
    assert counter.admit(IP, START_MS + FIVE_MIN_MS).status == 200


def test_window_counter_counts_each_ip_separately() -> None:
    counter = WindowCounter(limit=1, window_ms=FIVE_MIN_MS)
    assert counter.admit("10.0.0.1", START_MS).status == 200
    assert counter.admit("10.0.0.2", START_MS).status == 200
    assert counter.admit("10.0.0.1", START_MS).status == 429


# -- IpWeightLimiter: properties -------------------------------------------------------------------

requests_st = st.lists(
    st.tuples(st.integers(0, 20_000), st.sampled_from([1, 2, 5, 10, 20, 40])), max_size=150
)
limiter_st = st.builds(
    IpWeightLimiter,
    limit=st.integers(1, 200),
    ban_after=st.integers(0, 12),
    background_per_min=st.integers(0, 250),
    forced_until_ms=st.integers(0, 3 * MINUTE_MS).map(lambda ms: START_MS + ms if ms else 0),
)
start_st = st.integers(START_MS, START_MS + MINUTE_MS - 1)


@settings(max_examples=200, deadline=None)
@given(limiter=limiter_st, start=start_st, requests=requests_st)
def test_weight_admitted_in_a_minute_never_exceeds_limit_minus_background(
    limiter: IpWeightLimiter, start: int, requests: list[tuple[int, int]]
) -> None:
    admitted: Counter[int] = Counter()
    last_admitted_ms: dict[int, int] = {}
    for now, weight, verdict in run(limiter, start, requests):
        if verdict.status == 200:
            minute = now - now % MINUTE_MS
            admitted[minute] += weight
            last_admitted_ms[minute] = now
            assert verdict.used_weight <= limiter.limit
    for minute, weight in admitted.items():
        background = background_weight(limiter.background_per_min, last_admitted_ms[minute])
        assert weight <= limiter.limit - background


@settings(max_examples=200, deadline=None)
@given(limiter=limiter_st, start=start_st, requests=requests_st)
def test_429_retry_after_never_lands_before_the_next_minute(
    limiter: IpWeightLimiter, start: int, requests: list[tuple[int, int]]
) -> None:
    for now, _, verdict in run(limiter, start, requests):
        if verdict.status == 429:
            ready_ms = now + verdict.retry_after_s * 1000
            assert ready_ms >= next_minute(now)
            assert ready_ms >= limiter.forced_until_ms
            # Whole seconds, rounded up: never a full second more than needed.
            assert ready_ms - 1000 < max(next_minute(now), limiter.forced_until_ms)


@settings(max_examples=200, deadline=None)
@given(limiter=limiter_st, start=start_st, requests=requests_st)
def test_banned_ip_gets_418_for_every_request_until_the_ban_ends(
    limiter: IpWeightLimiter, start: int, requests: list[tuple[int, int]]
) -> None:
    until = 0
    for now, _, verdict in run(limiter, start, requests):
        if now < until:
            assert verdict.status == 418
            assert verdict.banned_until_ms == until
            assert verdict.retry_after_s == math.ceil((until - now) / 1000)
        elif verdict.status == 418:
            until = verdict.banned_until_ms
            assert until > now


@settings(max_examples=200, deadline=None)
@given(limiter=limiter_st, start=start_st, requests=requests_st)
def test_ban_comes_only_after_ban_after_429s_in_the_same_minute(
    limiter: IpWeightLimiter, start: int, requests: list[tuple[int, int]]
) -> None:
    refused: Counter[int] = Counter()
    until = 0
    for now, _, verdict in run(limiter, start, requests):
        minute = now - now % MINUTE_MS
        if verdict.status == 429:
            refused[minute] += 1
        elif verdict.status == 418 and now >= until:
            assert refused[minute] == limiter.ban_after
            until = verdict.banned_until_ms


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 50),
    weight=st.integers(1, 60),
    ban_after=st.integers(0, 5),
    bans=st.integers(1, 16),
    pause_ms=st.integers(0, 10 * MINUTE_MS),
)
def test_ban_durations_double_per_repeat_ban_and_never_exceed_three_days(
    limit: int, weight: int, ban_after: int, bans: int, pause_ms: int
) -> None:
    limiter = IpWeightLimiter(limit=limit, ban_after=ban_after)
    now, durations = START_MS, []
    for _ in range(bans):
        verdict = limiter.admit(IP, weight, now)
        while verdict.status != 418:
            verdict = limiter.admit(IP, weight, now)
        durations.append(verdict.banned_until_ms - now)
        assert verdict.retry_after_s * 1000 == durations[-1]
        now = verdict.banned_until_ms + pause_ms
    assert durations[0] == FIRST_BAN_MS == 120_000
    assert all(b == min(2 * a, MAX_BAN_MS) for a, b in itertools.pairwise(durations))
    assert max(durations) <= MAX_BAN_MS == 3 * 86_400_000


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 200),
    background=st.integers(0, 250),
    spent=st.lists(st.integers(1, 40), max_size=30),
    later_ms=st.integers(MINUTE_MS, 10 * MINUTE_MS),
    weight=st.integers(1, 40),
)
def test_new_minute_resets_the_used_weight(
    limit: int, background: int, spent: list[int], later_ms: int, weight: int
) -> None:
    limiter = IpWeightLimiter(limit=limit, ban_after=1000, background_per_min=background)
    for w in spent:
        limiter.admit(IP, w, START_MS)
    now = START_MS + later_ms
    verdict = limiter.admit(IP, weight, now)
    share = background_weight(background, now)
    admitted = weight + share <= limit
    assert verdict.status == (200 if admitted else 429)
    assert verdict.used_weight == (weight if admitted else 0) + share


# -- through the simulator: weight, 429, 418 -------------------------------------------------------


async def test_weight_header_counts_every_admitted_request(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50)
    async with connect(sim) as client:
        responses = await get_oi(client, 50)
    assert [r.status_code for r in responses] == [200] * 50
    assert [used(r) for r in responses] == list(range(1, 51))


async def test_request_over_the_limit_gets_429_with_retry_after_to_the_next_minute(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50)
    async with connect(sim) as client:
        await sleep_until_ms(sim, START_MS + 12_500)
        await get_oi(client, 50)
        refused = await client.get(OI, params=BTC)
    assert refused.status_code == 429
    assert refused.json() == {
        "code": -1003,
        "msg": "Too many requests; current limit is 50 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
    }
    assert refused.headers["Retry-After"] == "48"  # 47.5 s to the next minute, whole seconds


async def test_persisting_after_429s_earns_a_two_minute_ban(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50, ban_after=10)
    async with connect(sim) as client:
        await sleep_until_ms(sim, START_MS + 7_000)
        await get_oi(client, 50)
        refused = await get_oi(client, 10)
        banned = await client.get(OI, params=BTC)
    assert [r.status_code for r in refused] == [429] * 10
    assert banned.status_code == 418
    assert banned.json()["code"] == -1003
    assert banned.headers["Retry-After"] == "120"
    assert banned_until(banned) == START_MS + 7_000 + 120_000


async def test_banned_ip_gets_418_until_the_ban_ends(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50, ban_after=10)
    async with connect(sim) as client:
        await get_oi(client, 61)
        await trio.sleep(45)
        during = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + 120_000 - 1)
        last_moment = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + 120_000)
        after = await client.get(OI, params=BTC)
    assert (during.status_code, during.headers["Retry-After"]) == (418, "75")
    assert (last_moment.status_code, last_moment.headers["Retry-After"]) == (418, "1")
    assert after.status_code == 200


async def test_second_ban_lasts_240_seconds(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50, ban_after=10)
    async with connect(sim) as client:
        first = (await get_oi(client, 61))[-1]
        await sleep_until_ms(sim, banned_until(first))
        second = (await get_oi(client, 61))[-1]
    assert second.status_code == 418
    assert second.headers["Retry-After"] == "240"
    assert banned_until(second) == banned_until(first) + 240_000


async def test_new_minute_admits_again_and_restarts_the_header(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50)
    async with connect(sim) as client:
        await sleep_until_ms(sim, START_MS + 30_000)
        await get_oi(client, 50)
        refused = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + MINUTE_MS)
        admitted = await get_oi(client, 3)
    assert refused.status_code == 429
    assert [r.status_code for r in admitted] == [200] * 3
    assert [used(r) for r in admitted] == [1, 2, 3]


# -- through the simulator: endpoint weights -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        pytest.param("/fapi/v1/exchangeInfo", {}, 1, id="exchangeInfo"),
        pytest.param("/fapi/v1/ticker/24hr", BTC, 1, id="ticker24hr-symbol"),
        pytest.param("/fapi/v1/ticker/24hr", {}, 40, id="ticker24hr-all"),
        pytest.param("/fapi/v1/premiumIndex", BTC, 1, id="premiumIndex-symbol"),
        pytest.param("/fapi/v1/premiumIndex", {}, 10, id="premiumIndex-all"),
        pytest.param("/fapi/v1/openInterest", BTC, 1, id="openInterest"),
    ],
)
async def test_endpoint_costs_its_binance_weight(
    sim_client: tuple[BinanceSim, httpx.AsyncClient],
    autojump_clock: trio.abc.Clock,
    path: str,
    params: dict[str, str],
    weight: int,
) -> None:
    _, client = sim_client
    first = await client.get(path, params=params)
    second = await client.get(path, params=params)
    assert first.status_code == second.status_code == 200
    assert (used(first), used(second)) == (weight, 2 * weight)


async def test_invalid_symbol_is_refused_with_400_and_still_costs_its_weight(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    response = await client.get(OI, params={"symbol": "NOSUCHUSDT"})
    assert response.status_code == 400
    assert response.json() == {"code": -1121, "msg": "Invalid symbol."}
    assert used(response) == 1


async def test_open_interest_hist_costs_no_weight(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    responses = [await client.get(HIST, params=HIST_PARAMS) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert [used(r) for r in responses] == [0] * 5
    assert used(await client.get(OI, params=BTC)) == 1


async def test_open_interest_hist_refuses_the_1001st_request_in_five_minutes(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        await sleep_until_ms(sim, START_MS + 100_000)
        served = [await client.get(HIST, params=HIST_PARAMS) for _ in range(1000)]
        refused = await client.get(HIST, params=HIST_PARAMS)
        await sleep_until_ms(sim, START_MS + FIVE_MIN_MS)
        next_window = await client.get(HIST, params=HIST_PARAMS)
    assert all(r.status_code == 200 for r in served)
    assert refused.status_code == 429
    assert refused.json()["code"] == -1003
    assert refused.headers["Retry-After"] == "200"
    assert next_window.status_code == 200


# -- /_sim/stats -----------------------------------------------------------------------------------


def minute_seen(minute_ms: int, responses: list[httpx.Response]) -> dict[str, Any]:
    """The /_sim/stats entry a client can derive from its own responses in one minute."""
    last = max(used(r) for r in responses)
    statuses = Counter(r.status_code for r in responses)
    return {
        "minuteMs": minute_ms,
        "weight": last,
        "maxUsedWeight": last,
        "requests": len(responses),
        "byStatus": {str(k): v for k, v in sorted(statuses.items())},
    }


async def test_stats_match_what_a_well_behaved_client_saw(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    sim, client = sim_client
    plan: list[list[tuple[str, dict[str, str]]]] = [
        [(OI, BTC)] * 5 + [("/fapi/v1/ticker/24hr", {}), (OI, {"symbol": "NOSUCHUSDT"})],
        [("/fapi/v1/premiumIndex", {})] * 10,
        [("/fapi/v1/exchangeInfo", {}), (OI, {"symbol": "ETHUSDT"})],
    ]
    expected = []
    for i, requests in enumerate(plan):
        minute_ms = START_MS + i * MINUTE_MS
        await sleep_until_ms(sim, minute_ms + 5_000)
        responses = [await client.get(path, params=params) for path, params in requests]
        expected.append(minute_seen(minute_ms, responses))
    stats = (await client.get("/_sim/stats")).json()
    assert stats["minutes"] == expected
    assert stats["byStatus"] == {"200": 18, "400": 1}
    assert "429" not in stats["byStatus"]


async def test_stats_count_the_refusals_the_client_saw(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=50, ban_after=10)
    async with in_process(sim) as client:
        responses = await get_oi(client, 65)
        stats = (await client.get("/_sim/stats")).json()
    seen = Counter(str(r.status_code) for r in responses)
    assert seen == {"200": 50, "429": 10, "418": 5}
    assert stats["byStatus"] == dict(seen)
    (minute,) = stats["minutes"]
    assert minute["weight"] == 50
    assert minute["maxUsedWeight"] == 50
    assert minute["byStatus"] == dict(sorted(seen.items()))
