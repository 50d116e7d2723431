"""Fault injection: what the simulated exchange does wrong on purpose, and how it is controlled.

Rules:
- error_rate: that fraction of REST requests is answered 5xx with a Binance `{"code", "msg"}`
  body and costs no weight; the failing requests follow from the seed alone.
- hang_rate: the request is never answered, so the client's read timeout fires (in simulated
  time, both in-process and over loopback).
- latency_ms: every answer comes that much simulated time later.
- malformed_rate: a 200 whose body is cut short (not valid JSON).
- background weight ("another process on the same IP") is spread evenly over each minute: it
  shows in X-MBX-USED-WEIGHT-1M and shrinks what we may spend; a burst of it can land at one
  second of every minute instead.
- /_sim/ban and /_sim/throttle refuse every request (418 / 429) for the given seconds; with
  `retry_after` false (or the `retry_after` fault off) no Retry-After header is sent, and only the
  -1003 body names the ban's end in epoch ms, as USDⓈ-M may answer.
- /_sim/firewall: for the given seconds the CDN answers every REST request itself, 403 with
  CloudFront's HTML "Request blocked" page or 451 (a restricted location); no weight is counted.
- POST /_sim/faults changes faults at runtime, strictly validated; GET reflects them; a scenario
  "faults" event switches them at its simulated time.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import trio

from tests.conftest import START_MS
from tests.sim.conftest import BTC, OI, WEIGHT, Connect, in_process, sleep_until_ms
from volspike_oi.sim.binance import BinanceSim, parse_scenario

REST_REQUESTS = [
    ("/fapi/v1/ping", {}),
    ("/fapi/v1/exchangeInfo", {}),
    ("/fapi/v1/ticker/24hr", BTC),
    ("/fapi/v1/premiumIndex", {}),
    (OI, BTC),
    ("/futures/data/openInterestHist", {"symbol": "BTCUSDT", "period": "5m"}),
]


async def failing_requests(sim: BinanceSim, n: int) -> list[int]:
    """Indices of the first `n` openInterest requests that were answered 5xx."""
    async with in_process(sim) as client:
        responses = [await client.get(OI, params=BTC) for _ in range(n)]
    return [i for i, r in enumerate(responses) if r.status_code >= 500]


# -- 5xx errors ------------------------------------------------------------------------------------


async def test_error_rate_one_answers_every_request_with_a_5xx_error_body(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(error_rate=1.0)
    async with in_process(sim) as client:
        responses = [await client.get(path, params=params) for path, params in REST_REQUESTS * 5]
    for response in responses:
        assert 500 <= response.status_code <= 599
        body = response.json()
        assert set(body) == {"code", "msg"}
        assert body["code"] in (-1000, -1001)
        assert body["msg"]


async def test_5xx_answers_cost_no_weight(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(error_rate=1.0)
    async with in_process(sim) as client:
        failed = [await client.get(OI, params=BTC) for _ in range(30)]
        await client.post("/_sim/faults", json={"error_rate": 0.0})
        served = await client.get(OI, params=BTC)
        stats = (await client.get("/_sim/stats")).json()
    assert all(r.status_code >= 500 for r in failed)
    assert served.headers[WEIGHT] == "1"
    assert stats["minutes"][0]["weight"] == 1


async def test_error_rate_fails_about_that_fraction_of_requests(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    failed = await failing_requests(make_sim(error_rate=0.3, seed=7), 1000)
    assert 240 <= len(failed) <= 360


async def test_same_seed_fails_the_same_requests(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    first = await failing_requests(make_sim(error_rate=0.3, seed=7), 200)
    second = await failing_requests(make_sim(error_rate=0.3, seed=7), 200)
    assert first  # the comparison below is not vacuous
    assert first == second


# -- hangs, latency, malformed bodies --------------------------------------------------------------


async def test_hanging_request_raises_read_timeout_after_the_client_timeout(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(hang_rate=1.0)
    async with connect(sim) as client:
        started = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(OI, params=BTC)
        waited = trio.current_time() - started
    assert waited == pytest.approx(5.0, abs=1e-6)


async def test_latency_delays_every_answer_by_that_simulated_time(
    make_sim: Callable[..., BinanceSim], connect: Connect, autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(latency_ms=250)
    async with connect(sim) as client:
        started = trio.current_time()
        response = await client.get(OI, params=BTC)
        waited = trio.current_time() - started
    assert response.status_code == 200
    assert waited == pytest.approx(0.25, abs=1e-6)


async def test_malformed_rate_one_cuts_200_bodies_short(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(malformed_rate=1.0)
    async with in_process(sim) as client:
        responses = [await client.get(path, params=params) for path, params in REST_REQUESTS]
    for response in responses:
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()


# -- background weight -----------------------------------------------------------------------------


async def test_background_weight_shows_in_the_header_before_our_first_request(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=2400, background_weight=1200)
    async with in_process(sim) as client:
        await sleep_until_ms(sim, START_MS + 30_000)
        response = await client.get(OI, params=BTC)
    assert response.headers[WEIGHT] == "601"  # half the minute's 1200, plus our 1


async def test_background_weight_leaves_us_only_the_rest_of_the_limit(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=2400, background_weight=1200)
    async with in_process(sim) as client:
        await sleep_until_ms(sim, START_MS + 30_000)
        responses: list[httpx.Response] = []
        while not responses or responses[-1].status_code == 200:
            responses.append(await client.get("/fapi/v1/ticker/24hr"))  # weight 40
    admitted = responses[:-1]
    assert len(admitted) * 40 == 2400 - 600
    assert admitted[-1].headers[WEIGHT] == "2400"
    assert responses[-1].status_code == 429


async def test_background_weight_can_be_changed_at_runtime(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim(weight_limit=2400, background_weight=1200)
    async with in_process(sim) as client:
        changed = await client.post("/_sim/faults", json={"background_weight_per_min": 1000})
        await sleep_until_ms(sim, START_MS + 30_000)
        response = await client.get(OI, params=BTC)
    assert changed.status_code == 200
    assert changed.json()["background_weight_per_min"] == 1000
    assert response.headers[WEIGHT] == "501"


async def test_a_background_burst_lands_at_its_second_of_every_minute(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        await client.post("/_sim/faults", json={"background_burst_weight": 600})
        seen = []
        for at_ms in (49_999, 50_000, 60_000, 110_000):
            await sleep_until_ms(sim, START_MS + at_ms)
            seen.append(int((await client.get(OI, params=BTC)).headers[WEIGHT]))
    assert seen == [1, 602, 1, 602]


# -- forced ban and throttle -----------------------------------------------------------------------


async def test_sim_ban_answers_418_with_shrinking_retry_after_until_it_ends(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        ordered = await client.post("/_sim/ban", json={"seconds": 120})
        seen = []
        for at_ms in (0, 30_000, 119_500):
            await sleep_until_ms(sim, START_MS + at_ms)
            response = await client.get(OI, params=BTC)
            seen.append((response.status_code, response.headers["Retry-After"]))
        await sleep_until_ms(sim, START_MS + 120_000)
        after = await client.get(OI, params=BTC)
    assert ordered.json() == {"until": START_MS + 120_000}
    assert seen == [(418, "120"), (418, "90"), (418, "1")]
    assert after.status_code == 200


async def test_sim_throttle_answers_429_until_it_ends(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        await client.post("/_sim/throttle", json={"seconds": 30})
        refused = []
        for at_ms in (0, 15_000, 29_999):
            await sleep_until_ms(sim, START_MS + at_ms)
            refused.append(await client.get(OI, params=BTC))
        await sleep_until_ms(sim, START_MS + 30_000)
        after = await client.get(OI, params=BTC)
    assert [r.status_code for r in refused] == [429] * 3
    assert all(r.json()["code"] == -1003 for r in refused)
    # Retry-After never sends the client back before the throttle ends.
    for response, at_s in zip(refused, (0, 15, 29.999), strict=True):
        assert int(response.headers["Retry-After"]) >= 30 - at_s
    assert after.status_code == 200


async def test_a_ban_without_retry_after_names_its_end_only_in_the_body(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        ordered = await client.post("/_sim/ban", json={"seconds": 60, "retry_after": False})
        await sleep_until_ms(sim, START_MS + 10_000)
        banned = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + 60_000)
        after = await client.get(OI, params=BTC)
    assert ordered.json() == {"until": START_MS + 60_000}
    assert banned.status_code == 418
    assert "Retry-After" not in banned.headers
    assert banned.json() == {
        "code": -1003,
        "msg": f"Way too many requests; IP banned until {START_MS + 60_000}. "
        "Please use the websocket for live updates to avoid bans.",
    }
    assert after.status_code == 200


@pytest.mark.parametrize("status", [403, 451])
async def test_a_firewall_block_answers_every_rest_request_for_its_seconds_at_no_weight(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock, status: int
) -> None:
    sim = make_sim()
    async with in_process(sim) as client:
        ordered = await client.post("/_sim/firewall", json={"seconds": 30, "status": status})
        blocked = [await client.get(path, params=query) for path, query in REST_REQUESTS]
        await sleep_until_ms(sim, START_MS + 29_999)
        last = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + 30_000)
        after = await client.get(OI, params=BTC)
    assert ordered.json() == {"until": START_MS + 30_000}
    assert {r.status_code for r in [*blocked, last]} == {status}
    assert all(WEIGHT not in r.headers for r in blocked)
    if status == 403:
        assert blocked[0].headers["Content-Type"] == "text/html"
        assert b"Request blocked" in blocked[0].content
        assert b"cloudfront" in blocked[0].content.lower()
    else:
        assert "restricted location" in blocked[0].json()["msg"]
    assert after.status_code == 200
    assert after.headers[WEIGHT] == "1"  # the blocked requests never reached the exchange
    assert sim.stats.by_status[status] == len(REST_REQUESTS) + 1


async def test_a_firewall_status_other_than_403_or_451_is_refused(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    response = await client.post("/_sim/firewall", json={"seconds": 30, "status": 500})
    assert response.status_code == 400
    assert "status" in response.json()["msg"]


# -- /_sim/faults and scenario events --------------------------------------------------------------


async def test_bad_fault_value_is_refused_naming_the_field(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    response = await client.post("/_sim/faults", json={"error_rate": 2})
    faults = (await client.get("/_sim/faults")).json()
    assert response.status_code == 400
    assert response.json()["code"] == -1130
    assert "error_rate" in response.json()["msg"]
    assert faults["error_rate"] == 0.0


async def test_unknown_fault_field_is_refused_naming_it(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    response = await client.post("/_sim/faults", json={"eror_rate": 1.0})
    assert response.status_code == 400
    assert "eror_rate" in response.json()["msg"]


async def test_get_faults_reflects_changes(
    sim_client: tuple[BinanceSim, httpx.AsyncClient], autojump_clock: trio.abc.Clock
) -> None:
    _, client = sim_client
    before = (await client.get("/_sim/faults")).json()
    await client.post("/_sim/faults", json={"latency_ms": 100, "hang_rate": 0.25})
    after = (await client.get("/_sim/faults")).json()
    assert (before["latency_ms"], before["hang_rate"]) == (0.0, 0.0)
    assert after == {**before, "latency_ms": 100, "hang_rate": 0.25}


async def test_scenario_faults_event_switches_faults_at_its_time(
    make_sim: Callable[..., BinanceSim], autojump_clock: trio.abc.Clock
) -> None:
    scenario = parse_scenario(
        {"events": [{"type": "faults", "at_s": 60, "faults": {"error_rate": 1.0}}]}
    )
    sim = make_sim(scenario=scenario)
    async with in_process(sim) as client:
        await sleep_until_ms(sim, START_MS + 59_999)
        before = await client.get(OI, params=BTC)
        await sleep_until_ms(sim, START_MS + 60_000)
        after = await client.get(OI, params=BTC)
        faults = (await client.get("/_sim/faults")).json()
    assert before.status_code == 200
    assert after.status_code >= 500
    assert faults["error_rate"] == 1.0
