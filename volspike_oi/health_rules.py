"""Why the service is not fully well: the reasons `/health`, the status line and the debug page
all show, computed from published snapshots only (pure: no I/O, no actor imported).

A critical actor that is not running makes the service "down" (HTTP 503); every other reason
makes it "degraded" (still 200: it serves what it has, and a load balancer should not pull it
out of rotation because Binance banned our IP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import attrs

from volspike_oi.budget import BINANCE_BAN, BINANCE_FIREWALL, RATE_LIMITED, WeightBudget
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import UniverseUpdate
from volspike_oi.snapshots import ActorHealth, PollerStatus, VenueStatus, WriterStatus

HealthStatus = Literal["ok", "degraded", "down"]

ReasonCode = Literal[
    "critical_actor_down",
    "actor_down",
    "binance_ban",
    "binance_firewall",
    "rate_limited",
    "exchange_unreachable",
    "no_poll_for",
    "store_unavailable",
    "mark_prices_stale",
    "venue_unavailable",
]
"""Every reason code, the one that makes the service down first; the budget's hold reasons
(`budget.HOLD_REASONS`) are used as they are."""
REASON_CODES: tuple[ReasonCode, ...] = get_args(ReasonCode)
CRITICAL_ACTOR_DOWN: ReasonCode = "critical_actor_down"
ACTOR_DOWN: ReasonCode = "actor_down"
EXCHANGE_UNREACHABLE: ReasonCode = "exchange_unreachable"
NO_POLL_FOR: ReasonCode = "no_poll_for"
STORE_UNAVAILABLE: ReasonCode = "store_unavailable"
MARK_PRICES_STALE: ReasonCode = "mark_prices_stale"
VENUE_UNAVAILABLE: ReasonCode = "venue_unavailable"
_HOLDS: dict[str, ReasonCode] = {
    BINANCE_BAN: "binance_ban",
    BINANCE_FIREWALL: "binance_firewall",
    RATE_LIMITED: "rate_limited",
}

NO_POLL_INTERVALS = 2.0
"""No successful OI poll for this many planned liquid intervals is a reason."""


@attrs.frozen
class Reason:
    code: ReasonCode
    detail: str
    since: float | None = None
    """Epoch seconds the condition has held since, when known."""
    until: float | None = None
    """Epoch seconds it is expected to end (a ban's end), when known."""


def _not_running(h: ActorHealth) -> bool:
    return h.state not in ("running", "disabled")


def _enabled(health: Mapping[str, ActorHealth], name: str) -> bool:
    h = health.get(name)
    return h is not None and h.state != "disabled"


def reasons(
    *,
    now: float,
    health: Mapping[str, ActorHealth],
    budget: WeightBudget,
    poller: PollerStatus,
    book: MarkPriceBook,
    universe: UniverseUpdate | None,
    writer: WriterStatus | None,
    last_minute: Mapping[str, Any] | None = None,
    venues: Mapping[str, VenueStatus] | None = None,
) -> list[Reason]:
    """Every reason that holds `now`, in `REASON_CODES` order. `last_minute`: the status line's
    figures (for exchange_unreachable: a minute of only timeouts/transport errors)."""
    out: list[Reason] = []
    for name, h in health.items():
        if h.critical and _not_running(h):
            out.append(Reason(CRITICAL_ACTOR_DOWN, f"{name} is {h.state}: {h.last_error or '-'}"))
    for name, h in health.items():
        if not h.critical and _not_running(h):
            out.append(Reason(ACTOR_DOWN, f"{name} is {h.state}: {h.last_error or '-'}"))
    if budget.hold_reason:
        held = budget.hold_until > now
        detail = budget.hold_detail or budget.hold_reason
        out.append(
            Reason(
                _HOLDS.get(budget.hold_reason, "rate_limited"),
                detail if held else f"probing after the hold ({detail})",
                until=budget.hold_until if held else None,
            )
        )
    errors = (last_minute or {}).get("errors_per_min") or {}
    failed = errors.get("timeout", 0) + errors.get("transport", 0)
    if not budget.hold_reason and failed > 0 and (last_minute or {}).get("oi_polls_per_min") == 0:
        out.append(
            Reason(
                EXCHANGE_UNREACHABLE,
                f"no OI poll answered in the last minute: {failed:.0f} timeouts/transport errors",
            )
        )
    plan = poller.plan
    if plan is not None and health.get("oi_poller", ActorHealth("", True)).state != "disabled":
        last = max(poller.last_poll_at.values(), default=None)
        # Before the first poll, count from the classification the plan was made for.
        since = last if last is not None else (universe.classified_at if universe else None)
        limit = NO_POLL_INTERVALS * plan.liquid_interval_s
        if since is not None and now - since > limit:
            out.append(
                Reason(
                    NO_POLL_FOR,
                    f"no successful OI poll for {now - since:.0f} s "
                    f"(over {NO_POLL_INTERVALS:g} × the {plan.liquid_interval_s:g} s interval)",
                    since=since,
                )
            )
    if writer is not None and writer.down_since is not None:
        out.append(
            Reason(
                STORE_UNAVAILABLE,
                f"database down: {writer.buffered} samples buffered, {writer.dropped} dropped"
                + (f" ({writer.last_error})" if writer.last_error else ""),
                since=writer.down_since,
            )
        )
    if _enabled(health, "mark_prices"):
        stale = _mark_prices_stale(now, book, universe)
        if stale is not None:
            out.append(stale)
    for status in (venues or {}).values():
        unavailable = _venue_unavailable(now, status)
        if unavailable is not None:
            out.append(unavailable)
    return out


def _venue_unavailable(now: float, v: VenueStatus) -> Reason | None:
    """A venue beside Binance whose newest reading is older than its staleness limit (once it
    had a chance: a venue still starting without an error is not yet a reason)."""
    if v.healthy(now) or (v.state == "starting" and not v.errors):
        return None
    age = v.age_s(now)
    held = v.rate_limited_until is not None and v.rate_limited_until > now
    what = "no reading yet" if age is None else f"no reading for {age:.0f} s"
    return Reason(
        VENUE_UNAVAILABLE,
        f"{v.venue}: {what} (limit {v.stale_after_s:g} s)"
        + (f"; rate limited until {v.rate_limited_until:.0f}" if held else "")
        + (f"; {v.last_error}" if v.last_error else ""),
        since=v.last_update_at,
        until=v.rate_limited_until if held else None,
    )


def _mark_prices_stale(
    now: float, book: MarkPriceBook, universe: UniverseUpdate | None
) -> Reason | None:
    last = max(book.last_stream_frame_at, book.last_rest_refresh_at)
    if last == float("-inf"):
        # Nothing received yet: only judged once the universe has been classified a while.
        if universe is None or now - universe.classified_at <= book.max_age_s:
            return None
        return Reason(MARK_PRICES_STALE, "no mark price received yet (stream nor REST)")
    if now - last > book.max_age_s:
        return Reason(
            MARK_PRICES_STALE,
            f"no mark price stream frame nor REST refresh for {now - last:.0f} s",
            since=last,
        )
    liquid = universe.liquid_symbols if universe else frozenset()
    if liquid and not any(book.fresh(s, now) is not None for s in liquid):
        return Reason(
            MARK_PRICES_STALE, f"no fresh mark price for any of the {len(liquid)} liquid symbols"
        )
    return None


def status_of(found: list[Reason]) -> HealthStatus:
    if any(r.code == CRITICAL_ACTOR_DOWN for r in found):
        return "down"
    return "degraded" if found else "ok"
