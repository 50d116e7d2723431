"""`GET /metrics`: every counter plus the gauges an operator graphs, in Prometheus text format."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from volspike_oi.web.hub import Hub

if TYPE_CHECKING:  # service.py imports this module: no runtime import back
    from volspike_oi.service import Service

PREFIX = "volspike_oi_"


def _line(name: str, value: float, kind: str, help_text: str) -> list[str]:
    base = name.split("{", 1)[0]
    return [
        f"# HELP {PREFIX}{base} {help_text}",
        f"# TYPE {PREFIX}{base} {kind}",
        f"{PREFIX}{name} {value:g}",
    ]


def render(service: Service, hub: Hub) -> str:
    lines: list[str] = []
    seen_types: set[str] = set()
    for name, count in sorted(service.metrics.snapshot().items()):
        base = name.split("{", 1)[0]
        if base not in seen_types:
            lines += [f"# TYPE {PREFIX}{base} counter"]
            seen_types.add(base)
        lines.append(f"{PREFIX}{name} {count}")
    now = service.clock.now()
    universe = service.status.universe
    plan = service.poller.plan
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
            service.poller.achieved_interval_s() or 0,
            "Median gap between polls of a liquid symbol.",
        ),
        (
            "oi_rate_per_minute",
            service.budget.oi_rate_per_min(now),
            "OI polls a minute the budget allows now.",
        ),
        ("binance_used_weight", service.budget.last_server_used, "Last X-MBX-USED-WEIGHT-1M seen."),
        (
            "binance_weight_limit",
            service.budget.ip_limit_per_min,
            "Binance weight limit per minute per IP.",
        ),
        (
            "binance_hold_seconds",
            max(0.0, service.budget.hold_until - now),
            "Seconds left of a 429/418 hold.",
        ),
        ("fresh_mark_prices", service.book.fresh_count(now), "Symbols with a fresh mark price."),
        ("store_buffered_samples", service.writer.buffered, "Samples waiting for the database."),
        (
            "store_dropped_samples",
            service.writer.dropped,
            "Samples dropped because the store buffer was full.",
        ),
        ("ws_clients", len(hub.subscribers), "Connected WebSocket clients."),
        (
            "ws_clients_cut_off_total",
            hub.dropped_total,
            "WebSocket clients cut off for falling behind.",
        ),
    ]
    for name, value, help_text in gauges:
        lines += _line(name, float(value), "gauge", help_text)
    for name, health in sorted(service.health.items()):
        up = 1.0 if health.state in ("running", "disabled") else 0.0
        lines.append(f'{PREFIX}actor_up{{actor="{_label(name)}"}} {up:g}')
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return re.sub(r'["\\\n]', "_", value)
