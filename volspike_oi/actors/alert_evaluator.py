"""Alert evaluator: keeps every symbol's ring-buffer history and judges each new sample.

On each `OiSample`: append to the symbol's `OiHistory` (contracts and mark price), take the
baseline (median of the window 60–30 min before the sample), measure the move on contracts and
let the `AlertGate` apply cooldown, escalation and plateau rules. Only realtime (liquid) samples
alert (FR-OI-ALERT-1); snapshots of the other perps only fill their history. Every verdict but
"no move" is counted, so /metrics shows what each rule held back. At its first start the gate is
restored from the stored alerts, so a restart does not re-alert moves already alerted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs
import trio

from volspike_oi import metrics as m
from volspike_oi.alerts import (
    AlertGate,
    AlertRules,
    Fired,
    Verdict,
    baseline,
    context,
    measure,
    next_level,
)
from volspike_oi.clock import WallClock
from volspike_oi.config import AlertSettings
from volspike_oi.fanout import FanOut
from volspike_oi.history import UNKNOWN_PRICE, OiHistory, capacity_for
from volspike_oi.messages import ALERT_SOURCE, HistoryBackfill, OiAlert, OiSample
from volspike_oi.metrics import Metrics
from volspike_oi.snapshots import AlertState
from volspike_oi.store.protocol import StoreReader

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


@attrs.frozen
class Judgement:
    verdict: Verdict
    alert: OiAlert | None = None
    """Set exactly when the verdict is "fired"."""


def judge(sample: OiSample, state: AlertState, rules: AlertRules, capacity: int) -> Judgement:
    """Record `sample` and judge it (pure apart from `state`: its history and gate)."""
    history = state.histories.get(sample.symbol)
    if history is None:
        history = state.histories[sample.symbol] = OiHistory(capacity)
    t = sample.received_at
    contracts = float(sample.contracts)
    mark = float(sample.mark_price) if sample.mark_price is not None else None
    if len(history) and t < history.latest_time():
        return Judgement("no_move")  # a late answer of an older poll: keep the time order
    history.append(t, contracts, UNKNOWN_PRICE if mark is None else mark)
    window_from, window_to = t - rules.baseline_from_s, t - rules.baseline_to_s
    base = baseline(history.window(window_from, window_to), rules)
    liquid = sample.source == "realtime"
    if base.value is None:
        if not liquid:
            return Judgement("no_move")
        state.insufficient_baseline += 1
        return Judgement("insufficient_baseline")
    move = measure(contracts, base.value, mark, rules)
    if not liquid:
        # Only the liquid universe alerts; counted when the move would otherwise have fired.
        return Judgement("not_liquid" if move.direction is not None else "no_move")
    verdict = state.gate.decide(sample.symbol, move, t, rules)
    if verdict != "fired":
        return Judgement(verdict)
    assert move.direction is not None
    more = context(base.value, contracts, history.mark_prices(window_from, window_to), mark, rules)
    alert = OiAlert(
        symbol=sample.symbol,
        direction=move.direction,
        baseline=base.value,
        current=contracts,
        pct_change=move.pct_change,
        abs_change=move.abs_change,
        timestamp=t,
        baseline_samples=base.samples,
        usd_change=move.abs_change * mark if mark is not None else None,
        baseline_usd=more.baseline_usd,
        current_usd=more.current_usd,
        mark_price_change_pct=more.mark_price_change_pct,
        window_minutes=more.window_minutes,
    )
    return Judgement("fired", alert)


def absorb(backfill: HistoryBackfill, state: AlertState, capacity: int) -> int:
    """Older samples (warm restart, openInterestHist) into the symbol's ring buffer."""
    history = state.histories.get(backfill.symbol)
    if history is None:
        history = state.histories[backfill.symbol] = OiHistory(capacity)
    return history.merge_older(backfill.samples)


def restore_gate(gate: AlertGate, alerts: list[OiAlert], rules: AlertRules) -> None:
    """Each (symbol, direction)'s last stored alert back into the gate."""
    for a in alerts:
        level = next_level(a.direction, a.current, a.baseline, rules)
        gate.restore(a.symbol, a.direction, Fired(a.timestamp, level))


async def _restore(
    store: StoreReader | None,
    clock: WallClock,
    state: AlertState,
    rules: AlertRules,
    *,
    since_s: float,
) -> None:
    if state.gate_restored:
        return  # a restart of this actor: the gate in `state` is current
    state.gate_restored = True
    if store is None:
        return
    try:
        alerts = await store.last_alerts(clock.now() - since_s, ALERT_SOURCE)
    except Exception as exc:  # the database may be down at start; alerting still runs
        log.warning("alert gate starts empty: cannot read stored alerts (%s)", exc)
        return
    restore_gate(state.gate, alerts, rules)
    log.info("alert gate restored from %d stored alerts", len(alerts))


async def run(
    samples_in: trio.MemoryReceiveChannel[OiSample | HistoryBackfill],
    outs: FanOut[OiAlert] | Sequence[trio.MemorySendChannel[OiAlert]],
    state: AlertState,
    metrics: Metrics,
    clock: WallClock,
    *,
    rules: AlertRules,
    history_hours: float,
    min_interval_s: float,
    store: StoreReader | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    capacity = capacity_for(history_hours, min_interval_s)
    task_status.started()
    # A direction can stay held as long as the history reaches back, so that far back.
    await _restore(store, clock, state, rules, since_s=history_hours * 3600)
    async for item in samples_in:
        if isinstance(item, HistoryBackfill):
            added = absorb(item, state, capacity)
            log.debug("%s: %d older samples from %s", item.symbol, added, item.source)
            continue
        judgement = judge(item, state, rules, capacity)
        alert = judgement.alert
        if alert is None:
            if judgement.verdict != "no_move":
                metrics.inc(m.alerts_suppressed(judgement.verdict))
            continue
        metrics.inc(m.ALERTS)
        log.info(
            "OI %s %s: %+.2f %% (%+.0f contracts, %s) vs baseline %.0f of %d samples",
            "spike" if alert.direction == "UP" else "dump",
            alert.symbol,
            100 * alert.pct_change,
            alert.abs_change,
            "no mark price" if alert.usd_change is None else f"{alert.usd_change:+,.0f} USD",
            alert.baseline,
            alert.baseline_samples,
        )
        if isinstance(outs, FanOut):
            await outs.send(alert)
        else:
            for out in outs:
                await out.send(alert)
