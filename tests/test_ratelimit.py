"""A venue's GCRA bucket on trio's clock: the rate, the burst, and holds."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from volspike_oi.ratelimit import RateLimiter


async def test_acquire_spaces_requests_at_the_planned_rate(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(rate=20, period_s=2, margin=0.0)
    start = trio.current_time()
    for _ in range(21):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(2.0)


async def test_a_burst_goes_at_once_then_the_rate_applies(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(rate=20, period_s=1, burst=100, margin=0.0)
    start = trio.current_time()
    for _ in range(100):
        await limiter.acquire()
    assert trio.current_time() == start
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(0.05)


async def test_a_hold_delays_everything_until_its_end(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(rate=600, period_s=5)
    limiter.hold(trio.current_time() + 600)
    assert limiter.held(trio.current_time())
    start = trio.current_time()
    await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(600)
    assert limiter.refusals == 1


@given(
    st.floats(1, 1000),
    st.floats(0.1, 60),
    st.integers(1, 50),
    st.floats(0, 0.5),
    st.integers(1, 300),
)
def test_no_window_of_one_period_holds_more_than_burst_plus_the_rate(
    rate: float, period: float, burst: int, margin: float, n: int
) -> None:
    limiter = RateLimiter(rate=rate, period_s=period, burst=burst, margin=margin)
    now, starts = 0.0, []
    for _ in range(n):
        now += limiter.delay(now)
        limiter.take(now)
        starts.append(now)
    allowed = burst + rate * (1 - margin) + 1e-6
    for i, t in enumerate(starts):
        in_window = sum(1 for u in starts[i:] if u < t + period)
        assert in_window <= allowed
