"""What the simulator saw: weight per minute, responses by status, openInterest request times.

Tests and benchmarks judge a client by these numbers (served unweighted at `/_sim/stats`).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import attrs

from volspike_oi.sim.limits import MINUTE_MS

REQUEST_LOG_SIZE = 300_000
"""Enough for more than two hours at the full 2400 requests a minute."""


@attrs.define
class MinuteStats:
    weight: int = 0
    """Weight admitted in this minute (all IPs)."""
    max_used: int = 0
    """Highest X-MBX-USED-WEIGHT-1M reported in this minute, background weight included."""
    requests: int = 0
    by_status: Counter[int] = attrs.Factory(Counter)


@attrs.define
class SimStats:
    minutes: dict[int, MinuteStats] = attrs.Factory(dict)
    by_status: Counter[int] = attrs.Factory(Counter)
    by_endpoint: Counter[str] = attrs.Factory(Counter)
    oi_request_ms: dict[str, list[int]] = attrs.Factory(dict)
    """Epoch ms of every served (200) openInterest request, per symbol."""
    ws_connections_opened: int = 0
    ws_frames_sent: int = 0
    request_log: deque[tuple[int, str, int]] = attrs.Factory(lambda: deque(maxlen=REQUEST_LOG_SIZE))
    """(epoch ms, endpoint, status) of recent REST requests: proves what a client sent when."""

    def record(self, now_ms: int, endpoint: str, status: int, weight: int, used: int) -> None:
        self.request_log.append((now_ms, endpoint, status))
        minute = self.minutes.setdefault(now_ms - now_ms % MINUTE_MS, MinuteStats())
        minute.requests += 1
        minute.by_status[status] += 1
        minute.weight += weight
        minute.max_used = max(minute.max_used, used)
        self.by_status[status] += 1
        self.by_endpoint[endpoint] += 1

    def record_oi(self, symbol: str, now_ms: int) -> None:
        self.oi_request_ms.setdefault(symbol, []).append(now_ms)

    def to_json(self, *, weight_limit: int, now_ms: int, oi_times: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nowMs": now_ms,
            "weightLimit": weight_limit,
            "minutes": [
                {
                    "minuteMs": ms,
                    "weight": m.weight,
                    "maxUsedWeight": m.max_used,
                    "requests": m.requests,
                    "byStatus": {str(k): v for k, v in sorted(m.by_status.items())},
                }
                for ms, m in sorted(self.minutes.items())
            ],
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "byEndpoint": dict(sorted(self.by_endpoint.items())),
            "wsConnectionsOpened": self.ws_connections_opened,
            "wsFramesSent": self.ws_frames_sent,
        }
        if oi_times:
            out["openInterestRequestMs"] = self.oi_request_ms
        else:
            out["openInterestRequests"] = {s: len(v) for s, v in self.oi_request_ms.items()}
        return out
