"""Supervision: start an actor, restart it with backoff when it crashes, record its health.

A crash is logged once with its traceback and counted; the supervisor reports itself started
after the actor's first start, passing on what the actor handed to `task_status.started` (None
if it crashed first), so one failing actor never blocks the others or ends the process.
Cancellation (shutdown) is never caught.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from volspike_oi import metrics as m
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import ActorHealth

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_AFTER_S = 60.0
"""An actor that ran this long before crashing starts again from the shortest backoff."""


def describe(exc: BaseException) -> str:
    """`Type: message` of each leaf error, so health shows the cause and not "ExceptionGroup"."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


async def supervise(
    name: str,
    actor: Callable[..., Awaitable[None]],
    health: ActorHealth,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `actor` (an `async def run(*, task_status)`, arguments bound) under restart policy."""
    reported = False
    delay = FIRST_BACKOFF_S
    while True:
        began = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                handed = await nursery.start(actor)
                health.state, health.started_at = "running", trio.current_time()
                if not reported:
                    task_status.started(handed)
                    reported = True
            health.state = "stopped"
            return
        except Exception as exc:  # an ExceptionGroup of Exceptions too; Cancelled is not one
            health.state = "restarting"
            health.restarts += 1
            health.last_error = describe(exc)
            metrics.inc(m.actor_restarts(name))
            log.error("actor %s crashed; restarting in %.0f s", name, delay, exc_info=exc)
        if not reported:
            task_status.started(None)
            reported = True
        if trio.current_time() - began >= HEALTHY_AFTER_S:
            delay = FIRST_BACKOFF_S
        await trio.sleep(delay)
        delay = min(MAX_BACKOFF_S, delay * 2)
