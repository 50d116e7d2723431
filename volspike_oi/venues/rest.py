"""A venue's REST request retried with full-jitter backoff.

Timeouts and transport errors are always worth another attempt; what else is (a 5xx, a body cut
short, the venue's "busy" code) only the venue knows, so its `read` says so with `Retry`. Refusals
for rate and requests the venue will never serve are raised by `read` at once: retrying them
would only dig deeper into the venue's limit.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import httpx
import trio

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 4.0


@attrs.frozen
class Retry:
    """An attempt that failed in a way the next one may not: why, for the final error."""

    reason: str


def backoff_s(
    attempt: int, rng: random.Random, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(max_s, base_s·2^attempt)], so clients
    that failed together do not come back together."""
    return rng.uniform(0.0, min(max_s, base_s * 2**attempt))


async def with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    read: Callable[[httpx.Response], T | Retry],
    what: str,
    rng: random.Random,
    *,
    attempts: int = ATTEMPTS,
    on_retry: Callable[[str, float], None] | None = None,
) -> T | Retry:
    """`read` of the first answer it does not retry, or the last `Retry` after `attempts`
    (the caller words its `VenueUnavailable`). `send` waits on the venue's limiter itself;
    `on_retry(reason, delay_s)` hears of each wait before another attempt."""
    failure = Retry("no attempt made")
    for attempt in range(attempts):
        try:
            response = await send()
        except httpx.TimeoutException:
            failure = Retry(f"timeout on {what}")
        except httpx.TransportError as exc:
            failure = Retry(f"{type(exc).__name__} on {what}: {exc}")
        else:
            result = read(response)
            if not isinstance(result, Retry):
                return result
            failure = result
        if attempt + 1 < attempts:
            delay = backoff_s(attempt, rng)
            if on_retry is not None:
                on_retry(failure.reason, delay)
            await trio.sleep(delay)
    return failure
