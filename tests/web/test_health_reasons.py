"""`/health` tells the truth (issue 9 point 8): "ok" | "degraded" | "down" with the reasons, from
hand-set snapshots in memory. Only a critical actor not running is "down" (503); a Binance ban,
the firewall, no OI poll for 2 intervals or the database down is "degraded" (200)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import trio

from tests.web.conftest import make_service, web_handle
from volspike_oi.actors.status import format_line, status_figures
from volspike_oi.clock import WallClock
from volspike_oi.health_rules import reasons
from volspike_oi.messages import Ingested, LiquidMember, UniverseUpdate
from volspike_oi.polling import plan_polls
from volspike_oi.service import Service
from volspike_oi.snapshots import ActorHealth, WriterStatus
from volspike_oi.universe import Thresholds
from volspike_oi.views import iso
from volspike_oi.web.app import create_app
from volspike_oi.web.handle import WebHandle

NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC).timestamp()
BAN_END = NOW + 3 * 86400  # a 3-day ban


def running_service() -> Service:
    """Every actor running, the universe classified a minute ago, polls and marks fresh."""
    service = make_service(WallClock.starting_now(NOW))
    for name, critical in (("oi_poller", True), ("exchange_info", True), ("mark_prices", False)):
        service.health[name] = ActorHealth(name, critical, state="running")
    members = (LiquidMember("BTCUSDT", 1e9, NOW - 60), LiquidMember("ETHUSDT", 5e8, NOW - 60))
    service.status.universe = UniverseUpdate(
        tracked=frozenset({"BTCUSDT", "ETHUSDT"}),
        liquid=members,
        entered=frozenset(),
        exited=frozenset(),
        thresholds=Thresholds(1e8, 5e7),
        classified_at=NOW - 60,
    )
    service.poller.plan = plan_polls(2, 0, 2000, 10.0, 60.0)
    service.poller.last_poll_at = {"BTCUSDT": NOW - 1, "ETHUSDT": NOW - 2}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        service.book.update(symbol, Decimal(100), NOW - 1)
    service.book.last_stream_frame_at = NOW - 1
    return service


async def get_health(service: Service, **changes: Any) -> tuple[int, dict[str, Any]]:
    ingest, _ = trio.open_memory_channel[Ingested](1)
    handle: WebHandle = attrs.evolve(web_handle(service, ingest), **changes)
    r = await create_app(handle).test_client().get("/health")
    return r.status_code, await r.get_json()


def codes(body: dict[str, Any]) -> list[str]:
    return [r["code"] for r in body["reasons"]]


async def test_all_well_is_ok_with_no_reasons() -> None:
    status, body = await get_health(running_service())
    assert (status, body["status"], body["reasons"], body["down"]) == (200, "ok", [], [])


async def test_a_live_binance_ban_is_degraded_with_its_end_time() -> None:
    service = running_service()
    service.budget.refused(418, None, NOW - 600, banned_until_s=BAN_END)
    service.poller.last_poll_at = {"BTCUSDT": NOW - 600}
    status, body = await get_health(service)
    assert (status, body["status"]) == (200, "degraded")
    ban = body["reasons"][0]
    assert ban["code"] == "binance_ban"
    assert dt.datetime.fromisoformat(ban["until"]).timestamp() >= BAN_END
    assert "banned until" in ban["detail"]
    assert "no_poll_for" in codes(body)  # and nothing polled for 10 minutes


async def test_the_firewall_is_degraded_with_binance_firewall() -> None:
    service = running_service()
    service.budget.blocked(403, NOW - 1, "CloudFront")
    status, body = await get_health(service)
    assert (status, body["status"], codes(body)) == (200, "degraded", ["binance_firewall"])
    assert body["reasons"][0]["detail"] == "HTTP 403: CloudFront"


async def test_no_successful_poll_for_two_intervals_is_no_poll_for() -> None:
    service = running_service()
    interval = service.poller.plan.liquid_interval_s  # type: ignore[union-attr]
    service.poller.last_poll_at = {"BTCUSDT": NOW - 1.5 * interval}
    assert codes((await get_health(service))[1]) == []
    service.poller.last_poll_at = {"BTCUSDT": NOW - 2.5 * interval}
    status, body = await get_health(service)
    assert (status, body["status"], codes(body)) == (200, "degraded", ["no_poll_for"])
    assert body["reasons"][0]["since"] == iso(NOW - 2.5 * interval)


async def test_the_database_down_is_store_unavailable() -> None:
    writer = WriterStatus(buffered=40, dropped=3, down_since=NOW - 90, last_error="refused")
    status, body = await get_health(running_service(), writer=writer)
    assert (status, body["status"], codes(body)) == (200, "degraded", ["store_unavailable"])
    assert body["reasons"][0]["since"] == iso(NOW - 90)
    assert body["store"]["downSince"] == iso(NOW - 90)


async def test_stale_mark_prices_are_mark_prices_stale() -> None:
    service = running_service()
    service.book.last_stream_frame_at = NOW - 600
    status, body = await get_health(service)
    assert (status, body["status"], codes(body)) == (200, "degraded", ["mark_prices_stale"])


async def test_a_critical_actor_down_is_503_down() -> None:
    service = running_service()
    service.health["oi_poller"].state = "restarting"
    service.health["oi_poller"].last_error = "ReadTimeout: slow"
    status, body = await get_health(service)
    assert (status, body["status"], body["down"]) == (503, "down", ["oi_poller"])
    assert codes(body) == ["critical_actor_down"]
    assert "ReadTimeout" in body["reasons"][0]["detail"]


async def test_the_status_line_ends_with_the_same_reason_codes() -> None:
    service = running_service()
    service.budget.refused(418, None, NOW - 600, banned_until_s=BAN_END)
    figures = status_figures(
        {}, {}, 1.0, service.poller, service.budget, service.book, service.status.universe, NOW
    )
    found = reasons(
        now=NOW,
        health=service.health,
        budget=service.budget,
        poller=service.poller,
        book=service.book,
        universe=service.status.universe,
        writer=None,
        last_minute=figures,
    )
    line = format_line(
        figures, service.budget.hold_reason, service.budget.hold_detail, [r.code for r in found]
    )
    assert line.endswith(" | DEGRADED: binance_ban")
