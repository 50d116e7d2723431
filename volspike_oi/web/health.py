"""`GET /health`: every actor's state and last success, the store and the request budget.

Pure over the `WebHandle`'s snapshots: no actor reports to `/health`, each one's last success
is read from what it publishes.
"""

from __future__ import annotations

import attrs

from volspike_oi.health_rules import HealthStatus, ReasonCode, reasons, status_of
from volspike_oi.snapshots import ActorState
from volspike_oi.views import iso
from volspike_oi.web.handle import WebHandle
from volspike_oi.wire import ABSENT, Absent, Count, IsoTime, described


@attrs.frozen
class ActorHealthView:
    state: ActorState
    critical: bool = attrs.field(metadata=described("The service is down while it is."))
    restarts: Count = attrs.field(metadata=described("Restarts since start."))
    last_error: str | None = attrs.field(metadata=described(json="lastError"))
    last_success_at: IsoTime | None = attrs.field(
        metadata=described(
            "When the actor last did its job (a poll, a write, a classification …); null before "
            "the first time or for actors without a single kind of success.",
            json="lastSuccessAt",
        )
    )


@attrs.frozen
class StoreHealth:
    buffered: Count = attrs.field(metadata=described("Samples waiting for the database."))
    dropped: Count = attrs.field(
        metadata=described("Samples dropped while the database was down too long.")
    )
    last_write_at: IsoTime | None = attrs.field(
        metadata=described("Last successful write.", json="lastWriteAt")
    )
    down_since: IsoTime | None = attrs.field(
        metadata=described("When the database went down; null while it is up.", json="downSince")
    )


@attrs.frozen
class BudgetHealth:
    hold_seconds: float = attrs.field(
        metadata=described("Seconds Binance requests are held after a 429/418.", json="holdSeconds")
    )
    server_weight: Count = attrs.field(
        metadata=described("Weight Binance last reported for this minute.", json="serverWeight")
    )
    weight_limit: Count = attrs.field(
        metadata=described("Binance's weight limit per minute.", json="weightLimit")
    )


@attrs.frozen
class HealthReason:
    code: ReasonCode = attrs.field(
        metadata=described(
            "What is wrong: critical_actor_down makes the status down, every other code degraded."
        )
    )
    detail: str = attrs.field(metadata=described("The same, for a person to read."))
    since: IsoTime | Absent = attrs.field(
        default=ABSENT, metadata=described("Since when it holds, when known.")
    )
    until: IsoTime | Absent = attrs.field(
        default=ABSENT,
        metadata=described("When it is expected to end (a Binance ban's end), when known."),
    )


@attrs.frozen
class Health:
    """`GET /health`: "down" (503) when a critical actor is not running; "degraded" (200) when
    anything else is wrong (a Binance ban or firewall, no OI poll for 2 intervals, the database
    down, stale mark prices …); each is listed in `reasons`."""

    status: HealthStatus
    down: list[str] = attrs.field(metadata=described("Critical actors that are not running."))
    reasons: list[HealthReason] = attrs.field(
        metadata=described("Why the status is not ok; empty when it is.")
    )
    actors: dict[str, ActorHealthView] = attrs.field(metadata=described("Actor name → its health."))
    last_poll_at: IsoTime | None = attrs.field(
        metadata=described("Latest open interest poll.", json="lastPollAt")
    )
    store: StoreHealth | None
    budget: BudgetHealth
    status_line: str = attrs.field(metadata=described("The last status log line."))


def last_successes(handle: WebHandle) -> dict[str, float | None]:
    """Each actor's last success, read from what it publishes."""
    universe = handle.status.universe
    histories = handle.alerts.histories.values()
    book = handle.book
    mark = max(book.last_stream_frame_at, book.last_rest_refresh_at)
    last_poll = max(handle.poller.last_poll_at.values(), default=None)
    return {
        "exchange_info": universe.classified_at if universe else None,
        "classifier": universe.classified_at if universe else None,
        "oi_poller": last_poll,
        "mark_prices": mark if mark > 0 else None,
        "alert_evaluator": max((h.latest_time() for h in histories if len(h)), default=None),
        "store_writer": handle.writer.last_write_at if handle.writer else None,
        "web_feed": last_poll,
    }


def health_view(handle: WebHandle) -> tuple[Health, int]:
    """The body and its status: 503 when a critical actor is not running."""
    successes = last_successes(handle)
    actors = {
        name: ActorHealthView(
            state=h.state,
            critical=h.critical,
            restarts=h.restarts,
            last_error=h.last_error or None,
            last_success_at=iso(at) if (at := successes.get(name)) else None,
        )
        for name, h in handle.health.items()
    }
    down = [
        n for n, h in handle.health.items() if h.critical and h.state not in ("running", "disabled")
    ]
    now = handle.clock.now()
    writer = handle.writer
    last_polls = handle.poller.last_poll_at
    found = reasons(
        now=now,
        health=handle.health,
        budget=handle.budget,
        poller=handle.poller,
        book=handle.book,
        universe=handle.status.universe,
        writer=writer,
        last_minute=handle.status.last_minute,
        venues=handle.venues,
    )
    status = status_of(found)
    body = Health(
        status=status,
        down=down,
        reasons=[
            HealthReason(
                code=r.code,
                detail=r.detail,
                since=ABSENT if r.since is None else iso(r.since),
                until=ABSENT if r.until is None else iso(r.until),
            )
            for r in found
        ],
        actors=actors,
        last_poll_at=iso(max(last_polls.values())) if last_polls else None,
        store=None
        if writer is None
        else StoreHealth(
            buffered=writer.buffered,
            dropped=writer.dropped,
            last_write_at=iso(writer.last_write_at) if writer.last_write_at else None,
            down_since=iso(writer.down_since) if writer.down_since else None,
        ),
        budget=BudgetHealth(
            hold_seconds=max(0.0, handle.budget.hold_until - now),
            server_weight=handle.budget.last_server_used,
            weight_limit=handle.budget.ip_limit_per_min,
        ),
        status_line=handle.status.line,
    )
    return body, 503 if status == "down" else 200
