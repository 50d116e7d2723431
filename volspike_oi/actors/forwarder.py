"""Forwarder: the whole OI snapshot and every alert to the existing VolSpike backend (PROD, DEV).

The backend replaces its OI cache with each POST (seed 003: chunks of 100 left 43 of 342 symbols
on the dashboard), so every `interval_s` each target gets ONE request with the latest fresh
reading of every symbol (realtime for liquid ones, else the 5-minute snapshot: exactly what
`GET /api/market/open-interest` serves), `totalSymbols` = its length, as seed 000's script
posted. Readings without a positive mark price are never sent (the backend drops them); they are
counted. Alerts stay one per request (seed 001 §5.3), oldest first, before the snapshot.

5xx, 408/429, timeouts and transport errors retry with jittered exponential backoff, posting the
then-latest snapshot (a snapshot is idempotent state, not a queue); any other 4xx will never
succeed, so that request is logged and dropped. A dead DEV never delays PROD. On shutdown one
bounded, shielded flush posts the latest snapshot and the alerts still waiting. The API key goes
in a header and never into a log line.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import attrs
import httpx
import trio

from volspike_oi import metrics as m
from volspike_oi.clock import WallClock
from volspike_oi.messages import OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import ForwarderStatus, TargetStatus, WebState
from volspike_oi.views import alert_view, iso
from volspike_oi.wire import to_json

log = logging.getLogger(__name__)

T = TypeVar("T")

OI_PATH = "/api/market/open-interest/ingest"
ALERT_PATH = "/api/open-interest-alerts/ingest"
DEFAULT_INTERVAL_S = 5.0
"""FORWARD_INTERVAL_SEC's default: about one liquid poll interval."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
HTTP_TIMEOUT_S = 10.0
"""httpx's connect/read/write/pool timeouts for the backend client (the service builds it)."""
POST_TIMEOUT_S = 15.0
"""Our own deadline on one request; also bounds transports that ignore httpx's timeouts."""
SHUTDOWN_FLUSH_S = 3.0
"""The last flush on shutdown, all targets at once; it runs beside the store writer's (≤ 10 s),
well inside systemd's TimeoutStopSec."""
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
    alerts: deque[OiAlert] = attrs.Factory(deque)
    refusals: int = 0


def snapshot_body(readings: Iterable[OiSample]) -> dict[str, Any] | None:
    """One whole snapshot in the ingest shape (seed 000's, with seed 001 §4.4's `source` per
    item), by symbol; None when there is nothing to send. The shape has no per-item time, so the
    body carries the newest reading's time."""
    items = sorted(readings, key=lambda s: s.symbol)
    if not items:
        return None
    return {
        "data": [
            {
                "symbol": s.symbol,
                "openInterest": float(s.contracts),
                "openInterestUsd": float(s.usd) if s.usd is not None else None,
                "markPrice": float(s.mark_price) if s.mark_price is not None else None,
                "source": s.source,
            }
            for s in items
        ],
        "timestamp": iso(max(s.received_at for s in items)),
        "totalSymbols": len(items),
    }


def forwardable(sample: OiSample) -> bool:
    """The backend drops `markPrice <= 0` (seed 003) and a USD value of 0 would show as $0."""
    return (
        sample.mark_price is not None
        and sample.mark_price > 0
        and sample.usd is not None
        and sample.usd > 0
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
    interval_s: float = DEFAULT_INTERVAL_S,
    rng: random.Random | None = None,
    max_buffered_alerts: int = DEFAULT_MAX_BUFFERED_ALERTS,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    rng = rng or random.Random()
    headers = {"X-API-Key": api_key} if api_key else {}
    secrets = [api_key] if api_key else []
    # Statuses outlive a restart (the service reads them); alerts and readings start empty again.
    state = [_Target(status.targets.setdefault(url, TargetStatus(url))) for url in targets if url]
    # The web feed's own rule (realtime wins while fresh, nothing older than the frontend's
    # TTL), so the backend holds what GET /api/market/open-interest serves.
    latest = WebState()

    def record(sample: OiSample) -> None:
        if forwardable(sample):
            latest.record(sample)
        else:
            status.skipped_without_price += 1

    def queue_alert(alert: OiAlert) -> None:
        for target in state:
            if len(target.alerts) >= max_buffered_alerts:
                target.alerts.popleft()
                _dropped(target, max_buffered_alerts)
            target.alerts.append(alert)
            target.status.buffered = len(target.alerts)

    async def take_samples() -> None:
        async for sample in samples_in:
            record(sample)

    async def take_alerts() -> None:
        async for alert in alerts_in:
            queue_alert(alert)

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
                log.warning("backend %s unavailable (%s); retrying with backoff", st.url, exc)
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
            if st.snapshot_symbols == 0:  # what to watch at a switch-over: the whole set arrives
                log.info("backend %s took its first OI snapshot: %d symbols", st.url, items)
            st.samples_sent += items
            st.snapshot_symbols = items
        if st.failing_since is not None:
            log.info(
                "backend %s reachable again after %.0f s", st.url, clock.now() - st.failing_since
            )
            st.failing_since = None
        return True

    async def flush(target: _Target) -> bool:
        """The waiting alerts, oldest first, then the snapshot as it is now; False when a
        retryable failure stops it."""
        while target.alerts:
            alert = target.alerts[0]
            if not await send(target, ALERT_PATH, to_json(alert_view(alert)), 1):
                return False
            if target.alerts and target.alerts[0] is alert:  # unless the bound dropped it
                target.alerts.popleft()
            target.status.buffered = len(target.alerts)
        body = snapshot_body(latest.freshest(clock.now()).values())
        if body is None:
            return True
        if not await send(target, OI_PATH, body, body["totalSymbols"]):
            # What a retry would post: the readings of the snapshot that did not go out.
            target.status.buffered = len(target.alerts) + body["totalSymbols"]
            return False
        target.status.buffered = len(target.alerts)
        return True

    async def flusher(target: _Target) -> None:
        next_at = trio.current_time() + interval_s
        retry_s = RETRY_FIRST_S
        while True:
            await trio.sleep_until(next_at)
            if await flush(target):
                retry_s = RETRY_FIRST_S
                next_at = max(next_at + interval_s, trio.current_time())
            else:
                # Equal jitter: never ~0, so PROD and DEV retries do not move in lockstep.
                next_at = trio.current_time() + retry_s / 2 + rng.uniform(0, retry_s / 2)
                retry_s = min(RETRY_MAX_S, retry_s * 2)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(take_samples)
            nursery.start_soon(take_alerts)
            for target in state:
                nursery.start_soon(flusher, target)
            log.info(
                "forwarding the OI snapshot every %g s and alerts to %s",
                interval_s,
                ", ".join(t.status.url for t in state),
            )
            task_status.started()
    finally:
        # Shutdown (or a crash): take what the channels still hold, then give the latest
        # snapshot and the waiting alerts one bounded chance, every target at once.
        for sample in _drain(samples_in):
            record(sample)
        for alert in _drain(alerts_in):
            queue_alert(alert)

        async def last_flush(target: _Target) -> None:
            try:
                await flush(target)
            except Exception as exc:  # one target's failure must not cost the others theirs
                log.error("final forward flush to %s failed: %s", target.status.url, exc)

        with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_FLUSH_S) as scope:
            async with trio.open_nursery() as final:
                for target in state:
                    final.start_soon(last_flush, target)
        if scope.cancelled_caught:
            log.error(
                "final forward flush timed out after %g s: %s",
                SHUTDOWN_FLUSH_S,
                ", ".join(f"{t.status.url} {t.status.buffered} items waiting" for t in state),
            )


def _drain(channel: trio.MemoryReceiveChannel[T]) -> list[T]:
    out: list[T] = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return out


def _dropped(target: _Target, bound: int) -> None:
    st = target.status
    st.dropped += 1
    if st.dropped == 1 or st.dropped % 10_000 == 0:
        log.warning(
            "forward buffer for %s full (%d alerts): %d alerts dropped so far, oldest first",
            st.url,
            bound,
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
