"""OI poller: every tracked perp's `openInterest`, paced by the budget's OI lane.

Liquid symbols are polled at the interval of seed 001 §4.2, every other tracked perp at least
every 5 minutes (`polling.plan_polls`). One scheduler task takes a start time from the budget,
then hands the most overdue symbol (earliest deadline first) to a request task, so polls are
spread evenly and a slow response never delays the next poll. The plan is recomputed when the
universe changes and when the budget's OI rate moves (another process on our IP).
"""

from __future__ import annotations

import logging
import random
from decimal import Decimal

import attrs
import trio

from volspike_oi import metrics as m
from volspike_oi.budget import Lane, Reservation, WeightBudget
from volspike_oi.clock import WallClock
from volspike_oi.fanout import FanOut
from volspike_oi.mark_book import MarkPriceBook
from volspike_oi.messages import OiSample, UniverseUpdate
from volspike_oi.metrics import Metrics
from volspike_oi.polling import PollSchedule, plan_polls
from volspike_oi.snapshots import PollerStatus
from volspike_oi.venues.binance.client import BinanceClient
from volspike_oi.venues.binance.errors import ExchangeError, InvalidSymbol, RateLimited

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 128
"""Requests in flight at once; bounds the tasks a hanging exchange can pile up."""
REPLAN_CHECK_S = 10.0
INVALID_SYMBOL_QUARANTINE_S = 900.0
"""A -1121 symbol is skipped until the tracked set changes or this long has passed."""
FAILURES_BEFORE_PAUSE = 20
"""Consecutive failed polls after which the exchange is treated as down and polling pauses."""
PAUSE_MAX_S = 60.0


@attrs.define
class _Universe:
    liquid: frozenset[str] = frozenset()
    tracked: frozenset[str] = frozenset()


async def run(
    client: BinanceClient,
    budget: WeightBudget,
    clock: WallClock,
    book: MarkPriceBook,
    metrics: Metrics,
    universe_in: trio.MemoryReceiveChannel[UniverseUpdate],
    outs: FanOut[OiSample],
    status: PollerStatus,
    *,
    min_interval_s: float,
    max_interval_s: float,
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    rng = rng or random.Random()
    schedule = PollSchedule()
    universe = _Universe()
    changed = trio.Event()
    in_flight = trio.CapacityLimiter(MAX_IN_FLIGHT)
    failures = 0
    """Consecutive failed polls (5xx, timeouts, transport errors); reset by any success."""

    def replan(reason: str) -> None:
        nonlocal changed
        now = clock.now()
        for symbol, since in list(status.quarantined.items()):
            if now - since > INVALID_SYMBOL_QUARANTINE_S:
                del status.quarantined[symbol]
        liquid = universe.liquid & universe.tracked
        liquid = frozenset(s for s in liquid if s not in status.quarantined)
        others = frozenset(s for s in universe.tracked - liquid if s not in status.quarantined)
        rate = budget.oi_rate_per_min(now)
        plan = plan_polls(len(liquid), len(others), rate, min_interval_s, max_interval_s)
        status.planned_rate_per_min = rate
        intervals = dict.fromkeys(liquid, plan.liquid_interval_s)
        intervals.update(dict.fromkeys(others, plan.other_interval_s))
        schedule.set_intervals(intervals, now)
        if status.plan != plan:
            log.info(
                "poll plan (%s): %d liquid every %.1f s, %d others every %.0f s, %.0f polls/min%s",
                reason,
                len(liquid),
                plan.liquid_interval_s,
                len(others),
                plan.other_interval_s,
                plan.polls_per_min,
                "" if plan.fits else f" — {plan.note}",
            )
        status.plan, status.n_liquid, status.n_other = plan, len(liquid), len(others)
        changed.set()
        changed = trio.Event()

    async def follow_universe() -> None:
        async for update in universe_in:
            if update.tracked != universe.tracked:
                status.quarantined.clear()
            universe.liquid, universe.tracked = update.liquid_symbols, update.tracked
            replan("universe changed")

    async def follow_budget() -> None:
        while True:
            await trio.sleep(REPLAN_CHECK_S)
            if status.plan is None:
                continue
            rate = budget.oi_rate_per_min(clock.now())
            planned = status.planned_rate_per_min
            if abs(rate - planned) / planned > 0.03 and (status.n_liquid or status.n_other):
                replan(f"OI rate now {rate:.0f}/min")

    async def poll(symbol: str, reservation: Reservation, liquid: bool) -> None:
        try:
            await poll_once(symbol, reservation, liquid)
        finally:
            # Released only once the sample is handed on: a stalled critical consumer (the
            # store writer) holds the slots, so polling slows down instead of piling up tasks.
            in_flight.release_on_behalf_of(symbol_token(symbol, reservation))

    async def poll_once(symbol: str, reservation: Reservation, liquid: bool) -> None:
        nonlocal failures
        try:
            reading = await client.open_interest(symbol, reservation)
        except InvalidSymbol:
            log.warning("%s: invalid symbol; skipped until the tracked set changes", symbol)
            status.quarantined[symbol] = clock.now()
            replan(f"{symbol} invalid")
            return
        except ExchangeError as exc:
            metrics.inc(m.OI_POLL_FAILURES)
            failures += 0 if isinstance(exc, RateLimited) else 1
            log.debug("openInterest %s failed: %s", symbol, exc)
            return
        failures = 0
        now = clock.now()
        previous = status.last_poll_at.get(symbol)
        status.last_poll_at[symbol] = now
        if liquid and previous is not None:
            status.liquid_gaps_s.append(now - previous)
        mark = book.fresh(symbol, now)
        if mark is None:
            metrics.inc(m.SAMPLES_WITHOUT_MARK)
        sample = OiSample(
            symbol=symbol,
            contracts=reading.open_interest,
            exchange_time_ms=reading.time_ms,
            received_at=now,
            mark_price=mark,
            usd=(reading.open_interest * mark).quantize(Decimal("0.01"))
            if mark is not None
            else None,
            source="realtime" if liquid else "snapshot",
        )
        metrics.inc(m.OI_POLLS)
        await outs.send(sample)

    task_status.started()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow_universe)
        nursery.start_soon(follow_budget)
        pauses = 0
        while True:
            if failures >= FAILURES_BEFORE_PAUSE:
                # The exchange looks down: back off (jittered, exponential) instead of spending
                # the budget on requests that fail; one probe poll follows each pause.
                ceiling = min(PAUSE_MAX_S, 2.0 ** (pauses + 1))
                pause = ceiling / 2 + rng.uniform(0, ceiling / 2)  # "equal jitter": never ~0
                log.warning("%d OI polls failed in a row; pausing %.1f s", failures, pause)
                pauses += 1
                failures = FAILURES_BEFORE_PAUSE - 1
                await trio.sleep(pause)
            elif failures == 0:
                pauses = 0
            top = schedule.earliest()
            if top is None:
                await changed.wait()
                continue
            with trio.move_on_at(clock.trio_time_at(top[1])):
                await changed.wait()
                continue  # the schedule changed: look again
            reservation = budget.reserve(Lane.OI, 1, clock.now())
            await clock.sleep_until(reservation.start)
            symbol = schedule.pop_and_reschedule(clock.now())
            if symbol is None:
                continue
            token = symbol_token(symbol, reservation)
            await in_flight.acquire_on_behalf_of(token)
            nursery.start_soon(poll, symbol, reservation, symbol in universe.liquid)


def symbol_token(symbol: str, reservation: Reservation) -> tuple[str, float]:
    """A hashable owner for the in-flight limiter (one per request)."""
    return (symbol, reservation.start)
