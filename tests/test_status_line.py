"""The status line names a hold under way: the ban, the firewall or the rate limit, with what
the exchange said, until the probe after it is answered."""

from __future__ import annotations

from typing import Any

from volspike_oi.actors.status import format_line

FIGURES: dict[str, Any] = {
    "tracked": 600,
    "liquid": 600,
    "interval_s": 18.2,
    "design_interval_s": 18.2,
    "achieved_interval_s": 18.3,
    "interval_fits": True,
    "other_interval_s": 300.0,
    "oi_polls_per_min": 1980.0,
    "weight_per_min": 2030.0,
    "server_weight": 1500,
    "weight_limit": 2400,
    "oi_rate_per_min": 2000.0,
    "errors_per_min": {"429": 0.0, "418": 0.0},
    "alerts_per_min": 0.0,
    "fresh_marks": 600,
    "mark_source": "stream",
    "hold_s": 0.0,
    "store": None,
}


def test_a_firewall_hold_is_named_in_the_status_line() -> None:
    line = format_line({**FIGURES, "hold_s": 12.0}, "binance_firewall", "HTTP 403: request blocked")
    assert line.endswith("| HOLD 12s (binance_firewall, HTTP 403: request blocked)")


def test_a_hold_past_its_end_reads_probing_until_the_probe_is_answered() -> None:
    assert format_line(FIGURES, "binance_ban").endswith("| PROBING (binance_ban)")


def test_no_hold_no_mention() -> None:
    assert "HOLD" not in format_line(FIGURES)
    assert "PROBING" not in format_line(FIGURES)
