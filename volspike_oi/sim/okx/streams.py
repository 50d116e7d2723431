"""OKX's public WebSocket as a framework-free session: subscribe/unsubscribe with OKX's acks
and error events, the text ping/pong, and the pushes due at a moment.

Cadence as OKX documents it: `open-interest` every `oi_push_interval_s` (3 s) when the value
changed, `mark-price` at most every 200 ms when it changed and every 10 s when it did not; both
push the current value right after a subscription. One message per instrument per push. The
market steps once a simulated second, so a swap's mark is pushed at most once a second.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from volspike_oi.sim.okx.exchange import OkxSimSettings, dumps, mark_price_row, open_interest_row
from volspike_oi.sim.okx.market import Market

CHANNELS = ("open-interest", "mark-price")
MAX_ARGS_BYTES = 64 * 1024
SUBSCRIBE_OPS_PER_HOUR = 480
HOUR_MS = 3_600_000


@attrs.define
class _Sub:
    last_value: str | None = None
    last_push_ms: int = -(10**15)


@attrs.define
class OkxSession:
    """One connection's subscriptions. `command` answers what the client sent; `frames` gives the
    pushes due at `now_ms` and remembers them."""

    market: Market
    settings: OkxSimSettings
    conn_id: str
    opened_ms: int
    subs: dict[tuple[str, str], _Sub] = attrs.Factory(dict)
    _ops: list[int] = attrs.Factory(list)

    def _error(self, code: str, msg: str) -> str:
        return dumps({"event": "error", "code": code, "msg": msg, "connId": self.conn_id}).decode()

    def command(self, text: str, now_ms: int) -> tuple[list[str], bool]:
        """(replies, keep the connection open)."""
        if text == "ping":
            return ["pong"], True
        try:
            doc: Any = json.loads(text)
        except ValueError:
            return [self._error("60012", f"Invalid request: {text[:200]}")], True
        op = doc.get("op") if isinstance(doc, dict) else None
        args = doc.get("args") if isinstance(doc, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            return [self._error("60012", f"Invalid request: {text[:200]}")], True
        self._ops = [t for t in self._ops if t > now_ms - HOUR_MS]
        if len(self._ops) >= SUBSCRIBE_OPS_PER_HOUR:
            return [self._error("60014", "Requests too frequent.")], False
        self._ops.append(now_ms)
        if len(json.dumps(args, separators=(",", ":"))) > MAX_ARGS_BYTES:
            return [self._error("60012", "Invalid request: args exceed 64 KB")], True
        replies = []
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            if channel not in CHANNELS or not isinstance(inst_id, str):
                replies.append(self._error("60018", f"Wrong URL or channel:{channel}"))
                continue
            if not self.market.has(inst_id):
                replies.append(
                    self._error(
                        "60018",
                        f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please "
                        "use the correct URL, channel and parameters referring to API document.",
                    )
                )
                continue
            key = (channel, inst_id)
            if op == "subscribe":
                self.subs.setdefault(key, _Sub())
            else:
                self.subs.pop(key, None)
            ack = {"event": op, "arg": {"channel": channel, "instId": inst_id}}
            replies.append(dumps({**ack, "connId": self.conn_id}).decode())
        return replies, True

    def idle_too_long(self, now_ms: int) -> bool:
        """OKX closes a connection that subscribed to nothing for 30 s."""
        return not self.subs and now_ms - self.opened_ms >= self.settings.idle_close_s * 1000

    def frames(self, now_ms: int) -> list[str]:
        out = []
        oi_every_ms = self.settings.oi_push_interval_s * 1000
        mark_every_ms = self.settings.mark_push_interval_s * 1000
        idle_ms = self.settings.mark_idle_push_s * 1000
        for (channel, inst_id), sub in self.subs.items():
            since = now_ms - sub.last_push_ms
            state = self.market.state(inst_id, now_ms)
            if state.spec.state != "live":
                continue
            if channel == "open-interest":
                if since < oi_every_ms:
                    continue
                value = str(state.oi_contracts)
                if value == sub.last_value:
                    continue
                row = open_interest_row(state, now_ms)
            else:
                if since < mark_every_ms:
                    continue
                value = str(state.mark_px)
                if value == sub.last_value and since < idle_ms:
                    continue
                row = mark_price_row(state, now_ms)
            sub.last_value, sub.last_push_ms = value, now_ms
            push = {"arg": {"channel": channel, "instId": inst_id}, "data": [row]}
            out.append(dumps(push).decode())
        return out
