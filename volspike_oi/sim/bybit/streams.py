"""One connection of Bybit's public linear WebSocket, framework-free: the requests it answers
(subscribe, unsubscribe, ping) and the `tickers.{symbol}` messages of each 100 ms tick.

As Bybit does: a subscribe is acknowledged, then each new topic gets a `snapshot` with every
field; afterwards a `delta` carries only the fields that changed since this connection's last
message for that symbol, and a symbol that did not change sends nothing. The quart app
(`app.py`) only moves these strings between the socket and the session.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from volspike_oi.sim.bybit.exchange import BybitSim

TOPIC_PREFIX = "tickers."
MAX_ARGS_CHARS = 21_000
"""Bybit: the `args` of one public connection may not exceed 21,000 characters."""
IDLE_CLOSE_MS = 600_000
"""Bybit cuts a connection after 10 minutes with neither a ping nor pushed data."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class TickerSession:
    def __init__(self, sim: BybitSim, now_ms: int) -> None:
        self.sim = sim
        self.conn_id = str(uuid.UUID(int=sim.stats.ws_connections_opened + 1))
        self.topics: dict[str, None] = {}
        """Subscribed topics, in order."""
        self.sent: dict[str, dict[str, str]] = {}
        """Per symbol: the state this connection's last message left the client with."""
        self.last_tick = sim.market.sync(now_ms)
        self.last_activity_ms = now_ms

    def _ack(self, op: str, req_id: Any, success: bool, ret_msg: str) -> str:
        return _dumps(
            {
                "success": success,
                "ret_msg": ret_msg,
                "conn_id": self.conn_id,
                "req_id": req_id if isinstance(req_id, str) else "",
                "op": op,
            }
        )

    def _args_chars(self, topics: list[str]) -> int:
        return len(_dumps(topics))

    def command(self, text: str, now_ms: int) -> list[str]:
        """The messages to send in answer to one client message (nothing while silenced)."""
        self.last_activity_ms = now_ms
        if self.sim.silent(now_ms):
            return []
        try:
            doc = json.loads(text)
        except ValueError:
            return [self._ack("", "", False, "error:request not json")]
        if not isinstance(doc, dict):
            return [self._ack("", "", False, "error:request not json")]
        op, req_id, args = doc.get("op"), doc.get("req_id", ""), doc.get("args", [])
        if op == "ping":
            return [self._ack("ping", req_id, True, "pong")]
        if op not in ("subscribe", "unsubscribe"):
            return [self._ack(str(op or ""), req_id, False, f"error:unsupported op {op!r}")]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return [self._ack(op, req_id, False, "error:args must be a list of topics")]
        if op == "unsubscribe":
            for topic in args:
                self.topics.pop(topic, None)
                self.sent.pop(topic.removeprefix(TOPIC_PREFIX), None)
            return [self._ack(op, req_id, True, "")]
        bad = [
            a
            for a in args
            if not a.startswith(TOPIC_PREFIX)
            or a.removeprefix(TOPIC_PREFIX) not in self.sim.market.contracts
        ]
        if bad:
            return [self._ack(op, req_id, False, f"Invalid symbol :[{bad[0]}]")]
        new = [a for a in dict.fromkeys(args) if a not in self.topics]
        if self._args_chars([*self.topics, *new]) > MAX_ARGS_CHARS:
            return [self._ack(op, req_id, False, f"args size >{MAX_ARGS_CHARS}")]
        out = [self._ack(op, req_id, True, "")]
        tick = self.sim.market.sync(now_ms)
        for topic in new:
            self.topics[topic] = None
            out.append(self._snapshot(topic, now_ms))
        self.last_tick = max(self.last_tick, tick)
        return out

    def _snapshot(self, topic: str, now_ms: int) -> str:
        symbol = topic.removeprefix(TOPIC_PREFIX)
        state = self.sim.market.contracts[symbol]
        data = self.sim.ticker_data(symbol, now_ms) or {}
        self.sent[symbol] = data
        return _dumps(
            {"topic": topic, "type": "snapshot", "data": data, "cs": state.cs, "ts": now_ms}
        )

    def frames(self, now_ms: int) -> list[str]:
        """The tick's deltas: one per subscribed symbol that changed since the last tick."""
        if self.sim.silent(now_ms):
            return []
        tick = self.sim.market.sync(now_ms)
        since, self.last_tick = self.last_tick, tick
        out = []
        contracts = self.sim.market.contracts
        for topic in self.topics:
            symbol = topic.removeprefix(TOPIC_PREFIX)
            state = contracts[symbol]
            if state.changed_tick <= since:
                continue
            data = self.sim.ticker_data(symbol, now_ms) or {}
            last = self.sent.get(symbol, {})
            changed = {k: v for k, v in data.items() if last.get(k) != v}
            if not changed:
                continue
            self.sent[symbol] = data
            delta = {"symbol": symbol, **changed}
            out.append(
                _dumps(
                    {"topic": topic, "type": "delta", "data": delta, "cs": state.cs, "ts": now_ms}
                )
            )
        if out:
            self.last_activity_ms = now_ms
        return out

    def idle(self, now_ms: int) -> bool:
        return now_ms - self.last_activity_ms >= IDLE_CLOSE_MS
