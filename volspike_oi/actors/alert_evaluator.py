"""Alert evaluator: keeps every symbol's ring-buffer history and judges each new sample.

On each `OiSample`: append to the symbol's `OiHistory`, take the baseline (median of the
window 60–30 min before the sample), measure the move on contracts and let the `AlertGate`
apply cooldown and plateau rules. Alerts go to every subscriber and to the recent-alerts list.
"""

from __future__ import annotations

import logging
from collections import deque

import attrs
import trio

from volspike_oi import metrics as m
from volspike_oi.alerts import AlertGate, AlertRules, baseline, measure
from volspike_oi.history import OiHistory, capacity_for
from volspike_oi.messages import HistoryBackfill, OiAlert, OiSample
from volspike_oi.metrics import Metrics

log = logging.getLogger(__name__)


@attrs.define
class AlertState:
    """Published snapshot: histories (read by the web API) and the most recent alerts."""

    histories: dict[str, OiHistory] = attrs.Factory(dict)
    recent: deque[OiAlert] = attrs.Factory(lambda: deque(maxlen=1000))
    insufficient_baseline: int = 0
    """Samples judged without enough baseline samples (reported, never as 0 %)."""


def judge(
    sample: OiSample, state: AlertState, gate: AlertGate, rules: AlertRules, capacity: int
) -> OiAlert | None:
    """Record `sample` and return the alert it raises, if any (pure apart from `state`/`gate`)."""
    history = state.histories.get(sample.symbol)
    if history is None:
        history = state.histories[sample.symbol] = OiHistory(capacity)
    t = sample.received_at
    contracts = float(sample.contracts)
    if len(history) and t < history.latest_time():
        return None  # a late answer of an older poll: keep the history in time order
    history.append(t, contracts)
    base = baseline(history.window(t - rules.baseline_from_s, t - rules.baseline_to_s), rules)
    if base.value is None:
        state.insufficient_baseline += 1
        return None
    mark = float(sample.mark_price) if sample.mark_price is not None else None
    move = measure(contracts, base.value, mark, rules)
    if not gate.decide(sample.symbol, move, t, rules):
        return None
    assert move.direction is not None
    return OiAlert(
        symbol=sample.symbol,
        direction=move.direction,
        baseline=base.value,
        current=contracts,
        pct_change=move.pct_change,
        abs_change=move.abs_change,
        timestamp=t,
        baseline_samples=base.samples,
        usd_change=move.abs_change * mark if mark is not None else None,
    )


def absorb(backfill: HistoryBackfill, state: AlertState, capacity: int) -> int:
    """Older samples (warm restart, openInterestHist) into the symbol's ring buffer."""
    history = state.histories.get(backfill.symbol)
    if history is None:
        history = state.histories[backfill.symbol] = OiHistory(capacity)
    return history.merge_older(list(backfill.samples))


async def run(
    samples_in: trio.MemoryReceiveChannel[OiSample | HistoryBackfill],
    outs: list[trio.MemorySendChannel[OiAlert]],
    state: AlertState,
    metrics: Metrics,
    *,
    rules: AlertRules,
    history_hours: float,
    min_interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    gate = AlertGate()
    capacity = capacity_for(history_hours, min_interval_s)
    task_status.started()
    async for item in samples_in:
        if isinstance(item, HistoryBackfill):
            added = absorb(item, state, capacity)
            log.debug("%s: %d older samples from %s", item.symbol, added, item.source)
            continue
        alert = judge(item, state, gate, rules, capacity)
        if alert is None:
            continue
        metrics.inc(m.ALERTS)
        state.recent.append(alert)
        log.info(
            "OI %s %s: %+.2f %% (%+.0f contracts) vs baseline %.0f of %d samples",
            "spike" if alert.direction == "UP" else "dump",
            alert.symbol,
            100 * alert.pct_change,
            alert.abs_change,
            alert.baseline,
            alert.baseline_samples,
        )
        for out in outs:
            await out.send(alert)
