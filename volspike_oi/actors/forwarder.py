"""Forwarder: realtime OI batches and alerts to the existing VolSpike backend (PROD, DEV).

Receiving only appends to bounded per-target buffers, so the pipeline never waits on a backend.
Each target has its own flusher: every `FLUSH_EVERY_S` it posts waiting alerts (one per request,
seed 001 §5.3) and then realtime samples (≤ `BATCH_ITEMS` per request, seed 001 §4.4), oldest
first. 5xx, 408/429, timeouts and transport errors retry the same request with jittered
exponential backoff; any other 4xx will never succeed, so that request is logged and dropped.
A dead DEV never delays PROD. The API key goes in a header and never into a log line.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import ForwarderStatus, TargetStatus
from volspike_oi.views import alert_view, iso
from volspike_oi.wire import to_json

log = logging.getLogger(__name__)

OI_PATH = "/api/market/open-interest/ingest"
ALERT_PATH = "/api/open-interest-alerts/ingest"
FLUSH_EVERY_S = 5.0
"""Seed 001 §4.4 posts "on each loop (or every K loops)": one poll interval of samples."""
BATCH_ITEMS = 100
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
HTTP_TIMEOUT_S = 10.0
"""httpx's connect/read/write/pool timeouts for the backend client (the service builds it)."""
POST_TIMEOUT_S = 15.0
"""Our own deadline on one request; also bounds transports that ignore httpx's timeouts."""
DEFAULT_MAX_BUFFERED_SAMPLES = 20_000
"""~10 min at the full rate. Beyond it the oldest go first: a live dashboard wants the latest."""
DEFAULT_MAX_BUFFERED_ALERTS = 1_000
RETRYABLE_4XX = frozenset({408, 429})
BODY_LOG_CHARS = 500
REJECTION_LOG_EVERY = 100
"""A backend refusing everything (a wrong key: 401) logs its first refusal and then every 100th."""


class _Retry(Exception):
    """The request may succeed later: 5xx, 408/429, timeout or transport error."""


class _Refused(Exception):
    """A 4xx: the same request will never succeed."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


@attrs.define
class _Target:
    status: TargetStatus
    samples: deque[OiSample] = attrs.Factory(deque)
    alerts: deque[OiAlert] = attrs.Factory(deque)
    evicted: int = 0
    """Samples dropped from the head of `samples` by the bound, ever."""
    refusals: int = 0

    def count(self) -> None:
        self.status.buffered = len(self.samples) + len(self.alerts)


def realtime_batch(samples: Sequence[OiSample]) -> dict[str, Any]:
    """Seed 001 §4.4's body. The shape has no per-item time, so the batch carries the newest
    sample's time; `totalSymbols` counts the items of this request."""
    return {
        "data": [
            {
                "symbol": s.symbol,
                "openInterest": float(s.contracts),
                "openInterestUsd": float(s.usd) if s.usd is not None else None,
                "markPrice": float(s.mark_price) if s.mark_price is not None else None,
                "source": "realtime",
            }
            for s in samples
        ],
        "timestamp": iso(max(s.received_at for s in samples)),
        "totalSymbols": len(samples),
    }


def next_batch(buffer: deque[OiSample], limit: int = BATCH_ITEMS) -> list[OiSample]:
    """The oldest samples, at most `limit`, ending before a symbol would repeat: a batch is one
    reading per symbol, as the backend stores a batch under one timestamp."""
    batch: list[OiSample] = []
    seen: set[str] = set()
    for sample in buffer:
        if len(batch) >= limit or sample.symbol in seen:
            break
        seen.add(sample.symbol)
        batch.append(sample)
    return batch


def _forwardable(sample: OiSample) -> bool:
    return (
        sample.mark_price is not None
        and sample.mark_price > 0
        and sample.usd is not None
        and sample.usd >= 0
    )


async def run(
    http: httpx.AsyncClient,
    targets: list[str],
    api_key: str | None,
    samples_in: trio.MemoryReceiveChannel[OiSample],
    alerts_in: trio.MemoryReceiveChannel[OiAlert],
    clock: WallClock,
    metrics: Metrics,
    status: ForwarderStatus,
    *,
    rng: random.Random | None = None,
    max_buffered_samples: int = DEFAULT_MAX_BUFFERED_SAMPLES,
    max_buffered_alerts: int = DEFAULT_MAX_BUFFERED_ALERTS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    rng = rng or random.Random()
    headers = {"X-API-Key": api_key} if api_key else {}
    secrets = [api_key] if api_key else []
    # Statuses outlive a restart (the service reads them); buffers start empty again.
    state = [_Target(status.targets.setdefault(url, TargetStatus(url))) for url in targets if url]

    async def take_samples() -> None:
        async for sample in samples_in:
            if sample.source != "realtime":
                continue
            if not _forwardable(sample):
                status.skipped_without_price += 1
                continue
            for target in state:
                if len(target.samples) >= max_buffered_samples:
                    target.samples.popleft()
                    target.evicted += 1
                    _dropped(target, "samples", max_buffered_samples)
                target.samples.append(sample)
                target.count()

    async def take_alerts() -> None:
        async for alert in alerts_in:
            for target in state:
                if len(target.alerts) >= max_buffered_alerts:
                    target.alerts.popleft()
                    _dropped(target, "alerts", max_buffered_alerts)
                target.alerts.append(alert)
                target.count()

    async def post(target: _Target, path: str, body: dict[str, Any]) -> None:
        try:
            with trio.fail_after(POST_TIMEOUT_S):
                response = await http.post(
                    target.status.url.rstrip("/") + path, json=body, headers=headers
                )
        except (trio.TooSlowError, httpx.TransportError) as exc:
            raise _Retry(_describe(exc, secrets)) from None
        if response.is_success:
            return
        code = response.status_code
        if code >= 500 or code in RETRYABLE_4XX:
            raise _Retry(f"HTTP {code}")
        raise _Refused(code, _redact(response.text[:BODY_LOG_CHARS], secrets))

    async def send(target: _Target, path: str, body: dict[str, Any], items: int) -> bool:
        """Post once. True when the items are done with: accepted, or refused for good."""
        st = target.status
        try:
            await post(target, path, body)
        except _Retry as exc:
            st.failed += 1
            st.last_error = str(exc)
            metrics.inc(m.FORWARD_FAILURES)
            if st.failing_since is None:
                st.failing_since = clock.now()
                log.warning(
                    "backend %s unavailable (%s); buffering and retrying with backoff",
                    st.url,
                    exc,
                )
            return False
        except _Refused as exc:
            st.failed += 1
            st.rejected += items
            st.last_error = f"HTTP {exc.status}: {exc.body}"
            metrics.inc(m.FORWARD_FAILURES)
            target.refusals += 1
            if target.refusals == 1 or target.refusals % REJECTION_LOG_EVERY == 0:
                log.error(
                    "backend %s refused %s with HTTP %d; dropped %d items (%d refusals so far): %s",
                    st.url,
                    path,
                    exc.status,
                    items,
                    target.refusals,
                    exc.body,
                )
            return True
        st.posted += 1
        st.last_success_at = clock.now()
        metrics.inc(m.FORWARD_POSTS)
        if path == ALERT_PATH:
            st.alerts_sent += items
        else:
            st.samples_sent += items
        if st.failing_since is not None:
            log.info(
                "backend %s reachable again after %.0f s", st.url, clock.now() - st.failing_since
            )
            st.failing_since = None
        return True

    async def drain(target: _Target) -> bool:
        """Post everything waiting, oldest first; False when a retryable failure stops it."""
        while target.alerts:
            alert = target.alerts[0]
            if not await send(target, ALERT_PATH, to_json(alert_view(alert)), 1):
                return False
            if target.alerts and target.alerts[0] is alert:  # unless the bound dropped it
                target.alerts.popleft()
            target.count()
        while target.samples:
            batch = next_batch(target.samples)
            evicted_before = target.evicted
            if not await send(target, OI_PATH, realtime_batch(batch), len(batch)):
                return False
            # While the request was out the bound may have dropped some of the batch already.
            for _ in range(len(batch) - min(len(batch), target.evicted - evicted_before)):
                target.samples.popleft()
            target.count()
        return True

    async def flusher(target: _Target) -> None:
        next_at = trio.current_time() + FLUSH_EVERY_S
        retry_s = RETRY_FIRST_S
        while True:
            await trio.sleep_until(next_at)
            if await drain(target):
                retry_s = RETRY_FIRST_S
                next_at = max(next_at + FLUSH_EVERY_S, trio.current_time())
            else:
                # Equal jitter: never ~0, so PROD and DEV retries do not move in lockstep.
                next_at = trio.current_time() + retry_s / 2 + rng.uniform(0, retry_s / 2)
                retry_s = min(RETRY_MAX_S, retry_s * 2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take_samples)
        nursery.start_soon(take_alerts)
        for target in state:
            nursery.start_soon(flusher, target)
        log.info("forwarding realtime OI and alerts to %s", ", ".join(t.status.url for t in state))
        task_status.started()


def _dropped(target: _Target, what: str, bound: int) -> None:
    st = target.status
    st.dropped += 1
    if st.dropped == 1 or st.dropped % 10_000 == 0:
        log.warning(
            "forward buffer for %s full (%d %s): %d items dropped so far, oldest first",
            st.url,
            bound,
            what,
            st.dropped,
        )


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<hidden>")
    return text


def _describe(exc: BaseException, secrets: Sequence[str]) -> str:
    if isinstance(exc, trio.TooSlowError):
        return f"no answer within {POST_TIMEOUT_S:g} s"
    return _redact(f"{type(exc).__name__}: {exc}", secrets)
