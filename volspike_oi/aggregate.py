"""One asset across every venue: live totals, per-venue coin history and aggregate alerts; pure.

`AssetBook` keeps each (venue, symbol)'s newest reading and sums an asset's coin and USD over the
venues that are fresh (a stale venue is named, never counted at an old value). `AssetHistory`
samples each venue's coin of an asset for the baseline, and `evaluate_asset` applies the
per-symbol alert rules of `alerts.py` to the asset's total coin over the venues present both in
the baseline window and now. Coin only: contracts of different venues never add up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import attrs

from volspike_oi.alerts import (
    AlertGate,
    AlertRules,
    Direction,
    Fired,
    Move,
    Verdict,
    baseline,
    measure,
    next_level,
)
from volspike_oi.history import UNKNOWN_PRICE, OiHistory, Sample, capacity_for

AggregateVerdictKind = Verdict | Literal["single_venue"]
"""A per-symbol verdict, or: fewer venues summed than an aggregate alert needs."""
AGGREGATE_VENUE = "all"
"""The venue an aggregate alert is stored and sent under."""
SAMPLE_EVERY_S = 10.0
"""An (asset, venue)'s coin enters its history at most this often: the baseline is a median of
30 minutes, which 180 samples describe as well as 1800 would, at a tenth of the memory."""
DEFAULT_HISTORY_HOURS = 1.0
"""The baseline window ends 60 min back; `capacity_for` adds 10 % spare. At 10 s a history is
~400 samples, ~10 KB (24 bytes a sample): ~2000 (asset, venue) pairs fit in ~20 MB."""


# -- the live totals --------------------------------------------------------------------------


@attrs.frozen
class Reading:
    """The newest reading of one (venue, symbol) that had a coin quantity."""

    venue: str
    symbol: str
    asset: str
    coin: float
    """OI in units of `asset`, as the venue's client converted it."""
    usd: float | None
    """coin × that venue's mark price; None without one (never 0)."""
    at: float
    """When it was received (epoch seconds)."""


@attrs.frozen
class VenuePart:
    """One venue's share of an asset's total: the sum of its symbols of that asset."""

    venue: str
    coin: float
    usd: float | None
    """None when any of its symbols lacks a price: a part-valued venue would skew the shares."""
    share: float | None
    """Of the total USD (0..1); None without USD, or when the total USD is 0."""
    age_s: float
    """Age of its oldest counted reading: a sum is as old as its oldest part."""
    symbols: tuple[str, ...]
    """The venue's symbols of the asset (Deribit: BTC-PERPETUAL and BTC_USDC-PERPETUAL)."""


@attrs.frozen
class AssetTotal:
    """An asset summed over its fresh venues."""

    asset: str
    coin: float
    """Σ coin of the venues in `venues` (0 when every venue is stale: check `venues`)."""
    usd: float
    """Σ USD of the venues in `venues` that have one."""
    venues: tuple[VenuePart, ...]
    """The venues counted, by USD descending (venues without USD last, by coin)."""
    stale: tuple[str, ...]
    """Venues with a reading of the asset older than their limit: left out of both sums."""
    missing: tuple[str, ...]
    """Venues named in the staleness limits with no reading of the asset at all."""

    def current(self) -> dict[str, tuple[float, float | None]]:
        """venue → (coin, usd) of the venues counted: the `current` of `evaluate_asset`."""
        return {part.venue: (part.coin, part.usd) for part in self.venues}


class AssetBook:
    """The newest reading of every (venue, symbol), indexed by asset.

    A venue may list an asset under several symbols; their coin adds within the venue. A venue
    is counted only when every one of its symbols of the asset is within its staleness limit:
    a symbol counted at an old value is an old value, and one left out would read as OI falling.
    A symbol a venue delists leaves through `forget`.
    """

    __slots__ = ("_by_asset", "_dirty", "_last_take", "_readings")

    def __init__(self) -> None:
        self._readings: dict[tuple[str, str], Reading] = {}
        self._by_asset: dict[str, set[tuple[str, str]]] = {}
        self._dirty: set[str] = set()
        self._last_take: float | None = None

    def record(
        self,
        venue: str,
        symbol: str,
        asset: str,
        coin: float | None,
        usd: float | None,
        at: float,
    ) -> bool:
        """Keep the reading if it is the newest of its (venue, symbol) and has a finite coin
        quantity; returns whether it was kept. Without coin (an inverse contract without a
        price) the previous reading stays and ages: no coin, no fresh value."""
        if coin is None or not math.isfinite(coin):
            return False
        key = (venue, symbol)
        known = self._readings.get(key)
        if known is not None and at < known.at:
            return False  # a late answer must not replace a newer value
        if usd is not None and not math.isfinite(usd):
            usd = None
        if known is not None and known.asset != asset:
            self._unindex(known)
            self._dirty.add(known.asset)
        self._readings[key] = Reading(venue, symbol, asset, coin, usd, at)
        self._by_asset.setdefault(asset, set()).add(key)
        self._dirty.add(asset)
        return True

    def forget(self, venue: str, symbol: str) -> None:
        """Drop a (venue, symbol) the venue no longer lists."""
        known = self._readings.pop((venue, symbol), None)
        if known is not None:
            self._unindex(known)
            self._dirty.add(known.asset)

    def _unindex(self, reading: Reading) -> None:
        keys = self._by_asset[reading.asset]
        keys.discard((reading.venue, reading.symbol))
        if not keys:
            del self._by_asset[reading.asset]

    def assets(self) -> tuple[str, ...]:
        """Every asset with at least one reading, sorted."""
        return tuple(sorted(self._by_asset))

    def readings(self, asset: str) -> tuple[Reading, ...]:
        """The newest reading of each of the asset's (venue, symbol)s, by venue and symbol."""
        keys = sorted(self._by_asset.get(asset, ()))
        return tuple(self._readings[k] for k in keys)

    def total(
        self, asset: str, now: float, stale_after_s: Mapping[str, float]
    ) -> AssetTotal | None:
        """The asset summed over its fresh venues; None for an asset never read.

        `stale_after_s` gives each venue's limit: a venue is stale when now − (its oldest reading
        of the asset) exceeds it. A venue without a limit is stale: nothing vouches for it."""
        readings = self.readings(asset)
        if not readings:
            return None
        by_venue: dict[str, list[Reading]] = {}
        for r in readings:
            by_venue.setdefault(r.venue, []).append(r)
        counted: list[tuple[str, float, float | None, float, tuple[str, ...]]] = []
        stale: list[str] = []
        for venue, rows in by_venue.items():
            age_s = now - min(r.at for r in rows)
            if age_s > stale_after_s.get(venue, -math.inf):
                stale.append(venue)
                continue
            coin = math.fsum(r.coin for r in rows)
            prices = [r.usd for r in rows]
            usd = math.fsum(u for u in prices if u is not None) if None not in prices else None
            counted.append((venue, coin, usd, age_s, tuple(r.symbol for r in rows)))
        total_usd = math.fsum(usd for _, _, usd, _, _ in counted if usd is not None)
        parts = [
            VenuePart(
                venue,
                coin,
                usd,
                usd / total_usd if usd is not None and total_usd > 0 else None,
                age_s,
                symbols,
            )
            for venue, coin, usd, age_s, symbols in counted
        ]
        parts.sort(key=lambda p: (p.usd is None, -(p.usd or 0.0), -p.coin, p.venue))
        return AssetTotal(
            asset=asset,
            coin=math.fsum(p.coin for p in parts),
            usd=total_usd,
            venues=tuple(parts),
            stale=tuple(sorted(stale)),
            missing=tuple(sorted(v for v in stale_after_s if v not in by_venue)),
        )

    def take_changed(self, now: float, stale_after_s: Mapping[str, float]) -> tuple[str, ...]:
        """The assets whose total may have changed since the previous call (all, the first
        time), sorted: a reading kept or forgotten since, or a venue that went stale since (an
        asset forgotten entirely is named too: its `total` is now None). For the one actor that
        pushes changed totals; a venue turns fresh again only by a reading."""
        since = self._last_take
        self._last_take = now
        if since is None:
            self._dirty.clear()
            return self.assets()
        changed = self._dirty
        self._dirty = set()
        for r in self._readings.values():
            # Stale once now − at > limit: the reading crossed its limit in (since, now].
            if since <= r.at + stale_after_s.get(r.venue, -math.inf) < now:
                changed.add(r.asset)
        return tuple(sorted(changed))


# -- each venue's coin history ----------------------------------------------------------------


class AssetHistory:
    """Per (asset, venue) a ring buffer (`history.OiHistory`) of the venue's coin of the asset,
    sampled at most every `sample_every_s`, with the price it implies (USD / coin) where known.

    Feed it the venues an `AssetTotal` counts (`offer_total`): a stale venue then leaves a gap
    in its history, never a repeated old value, and the baseline window sees only fresh data.
    """

    __slots__ = ("_capacity", "_histories", "sample_every_s")

    def __init__(
        self,
        *,
        hours: float = DEFAULT_HISTORY_HOURS,
        sample_every_s: float = SAMPLE_EVERY_S,
    ) -> None:
        if sample_every_s <= 0:
            raise ValueError("sample_every_s must be > 0")
        self.sample_every_s = sample_every_s
        self._capacity = capacity_for(hours, sample_every_s)
        self._histories: dict[str, dict[str, OiHistory]] = {}

    def offer(self, asset: str, venue: str, t: float, coin: float, usd: float | None) -> bool:
        """Append (t, coin) unless the (asset, venue)'s newest sample is under `sample_every_s`
        old (or newer than t); returns whether it was appended."""
        if not math.isfinite(coin):
            return False
        venues = self._histories.setdefault(asset, {})
        history = venues.get(venue)
        if history is None:
            history = venues[venue] = OiHistory(self._capacity)
        elif t - history.latest_time() < self.sample_every_s:
            return False
        price = usd / coin if usd is not None and coin > 0 else UNKNOWN_PRICE
        history.append(t, coin, price if math.isfinite(price) else UNKNOWN_PRICE)
        return True

    def offer_total(self, total: AssetTotal, now: float) -> int:
        """Offer each counted venue's coin as known at `now`; returns how many were appended."""
        return sum(
            self.offer(total.asset, part.venue, now, part.coin, part.usd) for part in total.venues
        )

    def backfill(self, asset: str, venue: str, samples: Iterable[Sample]) -> int:
        """Older (t, coin[, price]) samples from a venue's history endpoint, put in front."""
        venues = self._histories.setdefault(asset, {})
        history = venues.get(venue)
        if history is None:
            history = venues[venue] = OiHistory(self._capacity)
        return history.merge_older(samples)

    def get(self, asset: str, venue: str) -> OiHistory | None:
        return self._histories.get(asset, {}).get(venue)

    def venues(self, asset: str) -> tuple[str, ...]:
        return tuple(sorted(self._histories.get(asset, {})))

    def windows(
        self, asset: str, t_from: float, t_to: float
    ) -> dict[str, list[tuple[float, float]]]:
        """venue → its (t, coin) samples with t_from ≤ t ≤ t_to, oldest first."""
        return {
            venue: history.window(t_from, t_to)
            for venue, history in sorted(self._histories.get(asset, {}).items())
        }

    def baseline_windows(
        self, asset: str, now: float, rules: AlertRules
    ) -> dict[str, list[tuple[float, float]]]:
        """The `history` of `evaluate_asset`: each venue's samples of the window before now."""
        return self.windows(asset, now - rules.baseline_from_s, now - rules.baseline_to_s)


# -- aggregate alerts -------------------------------------------------------------------------

LeftOutReason = Literal["no_baseline", "not_fresh"]
"""`no_baseline`: the venue's window cannot be trusted (too few samples, too short a span, a zero
median), so a venue coming online is not a jump; `not_fresh`: a baseline but no reading now."""


@attrs.frozen
class LeftOut:
    venue: str
    reason: LeftOutReason
    detail: str
    """Why, in words (the baseline's own reason for `no_baseline`)."""


@attrs.frozen
class VenueChange:
    """One venue's own move within an aggregate move, in coin."""

    venue: str
    base: float
    """Median coin of its baseline window."""
    now: float
    pct_change: float
    """(now − base) / base of this venue alone."""
    share_of_change: float | None
    """(now − base) of this venue / the total's (now − base): negative for a venue moving
    against the total, over 1 when others moved against it; None when the total did not move."""


@attrs.frozen
class AggregateVerdict:
    """What `evaluate_asset` made of an asset's total: a `fired` one becomes an alert with
    venue `AGGREGATE_VENUE` and the asset as its symbol."""

    asset: str
    at: float
    verdict: AggregateVerdictKind
    move: Move | None
    """The move of the total coin (current, abs_change in coin); None without any venue used."""
    baseline: float | None
    """Σ of the used venues' baseline medians (coin)."""
    baseline_samples: int
    """Σ of the used venues' window samples."""
    price: float | None
    """USD per coin now over the used venues with a price (Σ usd / Σ coin)."""
    venues: tuple[str, ...]
    """The venues used: present in the baseline window and now, sorted."""
    changes: tuple[VenueChange, ...]
    """Each used venue's own move, largest contribution in the total's direction first."""
    left_out: tuple[LeftOut, ...]

    @property
    def fired(self) -> bool:
        return self.verdict == "fired"

    @property
    def drivers(self) -> tuple[VenueChange, ...]:
        """The used venues that moved with the total (a positive share of its change)."""
        return tuple(c for c in self.changes if (c.share_of_change or 0.0) > 0)

    @property
    def usd_change(self) -> float | None:
        if self.move is None or self.price is None:
            return None
        return self.move.abs_change * self.price


def aggregate_rules(rules: AlertRules) -> AlertRules:
    """The per-symbol rules for a total: the contract minimum is off (contracts of different
    venues do not add up; the coin change is gated by the USD minimum instead)."""
    return attrs.evolve(rules, min_delta_contracts=0.0)


def gate_move(move: Move) -> Move:
    """`move` in units of its baseline (baseline 1, current 1 + pct), as the gate sees it.

    The gate remembers the level an escalation must reach; in coin that level belongs to one set
    of venues, and a venue that gains its baseline adds its coin to both sums: the next total
    would pass the level with no move at all. In baseline units the level survives that."""
    return attrs.evolve(move, current=1.0 + move.pct_change, abs_change=move.pct_change)


def restored_fired(direction: Direction, pct_change: float, at: float, rules: AlertRules) -> Fired:
    """An aggregate alert stored before a restart, for `AlertGate.restore` (baseline units)."""
    return Fired(at, next_level(direction, 1.0 + pct_change, 1.0, rules))


def evaluate_asset(
    asset: str,
    now: float,
    current: Mapping[str, tuple[float, float | None]],
    history: Mapping[str, Sequence[tuple[float, float]]],
    rules: AlertRules,
    gate: AlertGate,
    min_venues: int = 1,
) -> AggregateVerdict:
    """Judge the asset's total coin now against its baseline, through `gate` keyed by asset.

    `current`: venue → (coin, usd or None) of the fresh venues (`AssetTotal.current()`);
    `history`: venue → (t, coin) samples, of which those in the window `rules.baseline_from_s`
    to `rules.baseline_to_s` before now count. Only venues with both a trustworthy baseline
    and a reading now are summed. Use a gate of its own: it is keyed by asset.
    """
    rules = aggregate_rules(rules)
    t_from, t_to = now - rules.baseline_from_s, now - rules.baseline_to_s
    used: list[tuple[str, float, float, float | None]] = []  # venue, base, now, usd
    samples = 0
    left_out: list[LeftOut] = []
    for venue in sorted(set(current) | set(history)):
        window = [(t, coin) for t, coin in history.get(venue, ()) if t_from <= t <= t_to]
        base = baseline(window, rules)
        if base.value is None:
            left_out.append(LeftOut(venue, "no_baseline", base.reason))
            continue
        now_reading = current.get(venue)
        if now_reading is None or not math.isfinite(now_reading[0]):
            left_out.append(LeftOut(venue, "not_fresh", "no fresh reading now"))
            continue
        used.append((venue, base.value, now_reading[0], now_reading[1]))
        samples += base.samples
    if not used:
        return AggregateVerdict(
            asset, now, "insufficient_baseline", None, None, 0, None, (), (), tuple(left_out)
        )
    if len(used) < min_venues:
        # Judged before the gate: a move on one venue alone must not arm the asset's cooldown
        # and hide the move across venues that follows once a second venue has its baseline.
        return AggregateVerdict(
            asset,
            now,
            "single_venue",
            None,
            None,
            0,
            None,
            tuple(v for v, _, _, _ in used),
            (),
            tuple(left_out),
        )
    # A sum of per-venue medians, not the median of summed totals: venues sample at their own
    # times, so there is no instant at which every venue's value is known to add up; each
    # venue's median is robust on its own samples, and the sum of medians covers exactly the
    # venues summed now.
    total_base = math.fsum(base for _, base, _, _ in used)
    total_now = math.fsum(coin for _, _, coin, _ in used)
    priced = [(coin, usd) for _, _, coin, usd in used if usd is not None]
    priced_coin = math.fsum(coin for coin, _ in priced)
    price = math.fsum(usd for _, usd in priced) / priced_coin if priced_coin > 0 else None
    if price is not None and not (math.isfinite(price) and price > 0):
        price = None
    move = measure(total_now, total_base, price, rules)
    verdict = gate.decide(asset, gate_move(move), now, rules)
    delta = total_now - total_base
    changes = [
        VenueChange(
            venue,
            base,
            coin,
            (coin - base) / base,
            (coin - base) / delta if delta != 0 else None,
        )
        for venue, base, coin, _ in used
    ]
    changes.sort(key=lambda c: (-(c.share_of_change or 0.0), c.venue))
    return AggregateVerdict(
        asset=asset,
        at=now,
        verdict=verdict,
        move=move,
        baseline=total_base,
        baseline_samples=samples,
        price=price,
        venues=tuple(venue for venue, _, _, _ in used),
        changes=tuple(changes),
        left_out=tuple(left_out),
    )
