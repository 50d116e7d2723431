"""`GET /metrics`: every counter plus the gauges an operator graphs, in Prometheus text format."""

from __future__ import annotations

import re

from volspike_oi.web.handle import WebHandle

PREFIX = "volspike_oi_"


def _line(name: str, value: float, kind: str, help_text: str) -> list[str]:
    base = name.split("{", 1)[0]
    return [
        f"# HELP {PREFIX}{base} {help_text}",
        f"# TYPE {PREFIX}{base} {kind}",
        f"{PREFIX}{name} {value:g}",
    ]


def render(handle: WebHandle) -> str:
    lines: list[str] = []
    seen_types: set[str] = set()
    for name, count in sorted(handle.metrics.snapshot().items()):
        base = name.split("{", 1)[0]
        if base not in seen_types:
            lines += [f"# TYPE {PREFIX}{base} counter"]
            seen_types.add(base)
        lines.append(f"{PREFIX}{name} {count}")
    now = handle.clock.now()
    universe = handle.status.universe
    plan = handle.poller.plan
    gauges: list[tuple[str, float, str]] = [
        (
            "universe_tracked",
            len(universe.tracked) if universe else 0,
            "Tracked USDT-M perpetuals.",
        ),
        (
            "universe_liquid",
            len(universe.liquid) if universe else 0,
            "Liquid symbols polled in realtime.",
        ),
        (
            "poll_interval_seconds",
            plan.liquid_interval_s if plan else 0,
            "Planned interval per liquid symbol.",
        ),
        (
            "poll_interval_achieved_seconds",
            handle.poller.achieved_interval_s() or 0,
            "Median gap between polls of a liquid symbol.",
        ),
        (
            "oi_rate_per_minute",
            handle.budget.oi_rate_per_min(now),
            "OI polls a minute the budget allows now.",
        ),
        ("binance_used_weight", handle.budget.last_server_used, "Last X-MBX-USED-WEIGHT-1M seen."),
        (
            "binance_weight_limit",
            handle.budget.ip_limit_per_min,
            "Binance weight limit per minute per IP.",
        ),
        (
            "binance_hold_seconds",
            max(0.0, handle.budget.hold_until - now),
            "Seconds left of a 429/418 hold.",
        ),
        ("fresh_mark_prices", handle.book.fresh_count(now), "Symbols with a fresh mark price."),
        (
            "store_buffered_samples",
            handle.writer.buffered if handle.writer else 0,
            "Samples waiting for the database.",
        ),
        (
            "store_dropped_samples",
            handle.writer.dropped if handle.writer else 0,
            "Samples dropped because the store buffer was full.",
        ),
        ("ws_clients", len(handle.hub.subscribers), "Connected WebSocket clients."),
        (
            "ws_clients_cut_off_total",
            handle.hub.dropped_total,
            "WebSocket clients cut off for falling behind.",
        ),
    ]
    for name, value, help_text in gauges:
        lines += _line(name, float(value), "gauge", help_text)
    for name, health in sorted(handle.health.items()):
        up = 1.0 if health.state in ("running", "disabled") else 0.0
        lines.append(f'{PREFIX}actor_up{{actor="{_label(name)}"}} {up:g}')
    lines += _venue_gauges(handle, now)
    return "\n".join(lines) + "\n"


def _venue_gauges(handle: WebHandle, now: float) -> list[str]:
    """Per venue (beside Binance, whose poller has its own series above): staleness, health,
    measured cadence, instruments. Updates and errors are the venue_*_total counters."""
    if not handle.venues:
        return []
    series = [
        ("venue_staleness_seconds", "Seconds since the venue's newest reading (-1: none yet)."),
        ("venue_healthy", "1 when a reading arrived within the venue's staleness limit."),
        ("venue_cadence_seconds", "Median seconds between two readings of one symbol."),
        ("venue_symbols", "Perpetuals tracked on the venue."),
        ("venue_stream_connected", "1 while the venue's push channel is subscribed."),
    ]
    lines: list[str] = []
    for name, help_text in series:
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} gauge"]
        for venue, v in handle.venues.items():
            age = v.age_s(now)
            value = {
                "venue_staleness_seconds": -1.0 if age is None else age,
                "venue_healthy": float(v.healthy(now)),
                "venue_cadence_seconds": v.cadence_s() or 0.0,
                "venue_symbols": float(v.symbols),
                "venue_stream_connected": float(v.stream_connected),
            }[name]
            lines.append(f'{PREFIX}{name}{{venue="{_label(venue)}"}} {value:g}')
    return lines


def _label(value: str) -> str:
    return re.sub(r'["\\\n]', "_", value)
