"""Status actor: once a minute, one log line and the same figures in `ServiceStatus`.

Universe size (tracked / liquid), polling interval (design, planned, achieved), OI polls/min,
weight used against the limit, errors by kind, alerts/min and mark price coverage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from volspike_oi import health_rules
from volspike_oi import metrics as m
from volspike_oi.budget import WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import UniverseUpdate
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import (
    ActorHealth,
    PollerStatus,
    ServiceStatus,
    VenueStatus,
    WriterStatus,
)

log = logging.getLogger(__name__)


def status_figures(
    previous: dict[str, int],
    current: dict[str, int],
    minutes: float,
    poller: PollerStatus,
    budget: WeightBudget,
    book: MarkPriceBook,
    universe: UniverseUpdate | None,
    now: float,
    writer: WriterStatus | None = None,
) -> dict[str, Any]:
    def rate(name: str) -> float:
        return (current.get(name, 0) - previous.get(name, 0)) / minutes

    plan = poller.plan
    return {
        "tracked": len(universe.tracked) if universe else 0,
        "liquid": len(universe.liquid) if universe else 0,
        "interval_s": plan.liquid_interval_s if plan else None,
        "design_interval_s": plan.design_interval_s if plan else None,
        "achieved_interval_s": poller.achieved_interval_s(),
        "interval_fits": plan.fits if plan else None,
        "other_interval_s": plan.other_interval_s if plan else None,
        "oi_polls_per_min": rate(m.OI_POLLS),
        "weight_per_min": rate(m.WEIGHT_SPENT),
        "server_weight": budget.last_server_used,
        "weight_limit": budget.ip_limit_per_min,
        "oi_rate_per_min": budget.oi_rate_per_min(now),
        "errors_per_min": {
            "429": rate(m.HTTP_429),
            "418": rate(m.HTTP_418),
            "5xx": rate(m.HTTP_5XX),
            "timeout": rate(m.TIMEOUTS),
            "transport": rate(m.TRANSPORT_ERRORS),
            "malformed": rate(m.MALFORMED),
        },
        "alerts_per_min": rate(m.ALERTS),
        "fresh_marks": book.fresh_count(now),
        "mark_source": "stream" if now - book.last_stream_frame_at <= 5 else "rest-fallback",
        "hold_s": max(0.0, budget.hold_until - now),
        "store": None
        if writer is None
        else {
            "buffered": writer.buffered,
            "dropped": writer.dropped,
            "down_s": None if writer.down_since is None else now - writer.down_since,
        },
    }


def venues_segment(venues: Mapping[str, VenueStatus], now: float) -> str:
    """`bybit streaming 412 sym 0.1s`: each venue's state, instruments and measured cadence."""
    parts = []
    for name, v in venues.items():
        cadence = v.cadence_s()
        parts.append(
            f"{name} {v.state_at(now)} {v.symbols} sym"
            + ("" if cadence is None else f" {cadence:.1f}s")
            + (f" err {v.errors}" if v.errors else "")
        )
    return ", ".join(parts)


def format_line(
    f: dict[str, Any],
    hold_reason: str = "",
    hold_detail: str = "",
    reasons: Sequence[str] = (),
    venues: str = "",
) -> str:
    """The status line; `hold_reason`/`hold_detail` (the budget's) name a hold under way, be it
    a ban, the firewall or the rate limit, until the probe after it is answered. `reasons`: the
    `health_rules` codes `/health` reports (the same list, ending the line)."""

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}s"

    errors = " ".join(f"{k}:{v:.0f}" for k, v in f["errors_per_min"].items())
    fits = "" if f["interval_fits"] in (True, None) else " budget-bound"
    hold = f" | HOLD {f['hold_s']:.0f}s" if f["hold_s"] > 0 else ""
    if hold_reason:
        why = f"{hold_reason}, {hold_detail}" if hold_detail else hold_reason
        hold = f" | HOLD {f['hold_s']:.0f}s ({why})" if hold else f" | PROBING ({why})"
    store = f["store"]
    if store is not None:
        down = "" if store["down_s"] is None else f", DATABASE DOWN {store['down_s']:.0f}s"
        hold += f" | store buffered {store['buffered']} dropped {store['dropped']}{down}"
    return (
        f"status: universe {f['tracked']}/{f['liquid']} liquid | interval {secs(f['interval_s'])} "
        f"(design {secs(f['design_interval_s'])}, achieved {secs(f['achieved_interval_s'])}{fits}) | "
        f"OI polls {f['oi_polls_per_min']:.0f}/min | weight {f['weight_per_min']:.0f}/min, "
        f"server {f['server_weight']}/{f['weight_limit']} | errors/min {errors} | "
        f"alerts {f['alerts_per_min']:.1f}/min | marks {f['fresh_marks']} fresh ({f['mark_source']}){hold}"
        + (f" | venues {venues}" if venues else "")
        + (f" | DEGRADED: {', '.join(reasons)}" if reasons else "")
    )


async def run(
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    status: ServiceStatus,
    poller: PollerStatus,
    budget: WeightBudget,
    book: MarkPriceBook,
    metrics: Metrics,
    clock: WallClock,
    *,
    every_s: float,
    writer: WriterStatus | None = None,
    health: Mapping[str, ActorHealth] | None = None,
    venues: Mapping[str, VenueStatus] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`health`: the supervisor's actor states, for the actor reasons on the line; `venues`:
    the other venues' feeds (state, symbols, measured cadence on the line)."""

    async def follow_universe() -> None:
        async for update in universe_in:
            status.universe = update

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow_universe)
        task_status.started()
        previous = metrics.snapshot()
        while True:
            await trio.sleep(every_s)
            current = metrics.snapshot()
            figures = status_figures(
                previous,
                current,
                every_s / 60,
                poller,
                budget,
                book,
                status.universe,
                clock.now(),
                writer,
            )
            previous = current
            status.last_minute = figures
            found = health_rules.reasons(
                now=clock.now(),
                health=health or {},
                budget=budget,
                poller=poller,
                book=book,
                universe=status.universe,
                writer=writer,
                last_minute=figures,
                venues=venues,
            )
            status.line = format_line(
                figures,
                budget.hold_reason,
                budget.hold_detail,
                [r.code for r in found],
                venues_segment(venues or {}, clock.now()),
            )
            log.info("%s", status.line)
