"""Alert evaluator: keeps every symbol's ring-buffer history and judges each new sample.

On each `OiSample`: append to the symbol's `OiHistory`, take the baseline (median of the
window 60–30 min before the sample), measure the move on contracts and let the `AlertGate`
apply cooldown and plateau rules. Alerts go to every subscriber (store, web feed, forwarder).
"""

from __future__ import annotations

import logging

import trio

from volspike_oi import metrics as m
from volspike_oi.alerts import AlertGate, AlertRules, baseline, measure
from volspike_oi.config import AlertSettings
from volspike_oi.history import OiHistory, capacity_for
from volspike_oi.messages import HistoryBackfill, OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AlertState

log = logging.getLogger(__name__)


def alert_rules(settings: AlertSettings) -> AlertRules:
    """The rules as the settings give them (thresholds as fractions, windows in minutes)."""
    return AlertRules(
        spike_pct=settings.oi_spike_threshold_pct,
        dump_pct=settings.oi_dump_threshold_pct,
        min_delta_contracts=settings.oi_min_delta_contracts,
        min_delta_usd=settings.oi_min_delta_usd,
        baseline_from_s=settings.oi_baseline_from_min * 60,
        baseline_to_s=settings.oi_baseline_to_min * 60,
        cooldown_s=settings.oi_alert_cooldown_sec,
    )


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
