"""Sans-I/O breakout core: bars in, signals out.

Semantics (the contract in ``architecture.md``; the streaming detector and :func:`scan` implement exactly this):

* Channel at bar ``i`` (defined only when ``i >= lookback``): ``upper = max(high[i-lookback .. i-1])`` and
  ``lower = min(low[i-lookback .. i-1])`` -- previous bars only. The first ``lookback`` bars never signal.
* Up price condition: ``close > upper`` (trigger ``"close"``) or ``high > upper`` (trigger ``"high"``); down mirrors
  it with ``close < lower`` / ``low < lower``. Equality is not a breakout.
* Volume condition, only when ``min_rel_volume > 0``: ``volume[i] * lookback >= min_rel_volume * sum(volume of the
  previous lookback bars)`` (the spec's ``volume >= k * mean`` with the division moved to the other side so both
  paths compute bit-identical floats). Missing volume -- NaN or negative (IB sends -1 when it has none) -- counts
  as 0 in the window sum and fails the condition on its own bar. Zero volume is a real value: a window of zero
  volume makes any non-negative volume pass.
* Arming, per direction: armed at start (and during warm-up). An armed direction fires on the first bar where its
  price and volume conditions hold, then disarms; it re-arms on the first later bar where its price condition is
  false. When both directions fire on one bar (possible with trigger ``"high"``) the up signal comes first.
* Signal price: ``close`` for trigger close; ``max(open, upper)`` for an up trigger high (a gap above the channel
  fills at the open) and ``min(open, lower)`` for a down trigger high.
* Input checks: bar times must strictly increase (unsorted or duplicate times raise ``ValueError``); prices must not
  be NaN and ``high >= low``. Times are compared as given: pass timezone-aware times (naive ones are not rejected).

The running volume sum is kept as a difference of cumulative totals (``C[i-1] - C[i-lookback-1]``), the same
floating-point operations ``scan`` performs with ``numpy.cumsum``, so both paths agree bit for bit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from breakout_kit.core.bars import Bar

__all__ = ["Bar", "BreakoutDetector", "BreakoutRule", "Signal", "bars_from_df", "frame_arrays", "scan"]

TRIGGERS = ("close", "high")
DIRECTIONS = ("up", "down", "both")
MAX_LOOKBACK = 100_000   # the one lookback limit (CLI, panel, watchers, backtests): 100 000 bars
_SIGNAL_COLUMNS = ["time", "direction", "level", "price"]


@dataclass(frozen=True, slots=True)
class BreakoutRule:
    """What counts as a breakout. Invalid values raise ``ValueError`` here, not later."""

    lookback: int = 20
    trigger: str = "close"
    direction: str = "up"
    min_rel_volume: float = 0.0

    def __post_init__(self):
        if isinstance(self.lookback, bool) or not isinstance(self.lookback, (int, np.integer)):
            # ValueError (not TypeError): the contract says invalid rule values raise ValueError.
            raise ValueError(f"lookback must be an int >= 1, got {self.lookback!r}")  # noqa: TRY004
        if not 1 <= self.lookback <= MAX_LOOKBACK:   # a huge one used to pass here and overflow in the detector
            raise ValueError(f"lookback must be >= 1 and <= {MAX_LOOKBACK:_}, got {self.lookback}")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, got {self.trigger!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        try:
            mrv = float(self.min_rel_volume)
        except (TypeError, ValueError):
            raise ValueError(f"min_rel_volume must be a number >= 0, got {self.min_rel_volume!r}") from None
        if not (mrv >= 0.0) or math.isinf(mrv):
            raise ValueError(f"min_rel_volume must be a finite number >= 0, got {self.min_rel_volume!r}")
        object.__setattr__(self, "lookback", int(self.lookback))
        object.__setattr__(self, "min_rel_volume", mrv)


@dataclass(frozen=True, slots=True)
class Signal:
    """A breakout: ``direction`` is "up" or "down", ``level`` the channel edge crossed, ``price`` the trigger price."""

    time: Any
    direction: str
    level: float
    price: float


class BreakoutDetector:
    """Streaming detector: feed bars in time order with :meth:`update`; memory is O(lookback).

    Rolling max/min use monotonic deques of ``(index, value)``; the volume window is a ring of cumulative totals.
    :meth:`update_values` is the same thing for plain floats (no ``Bar`` object), for hot loops.
    """

    __slots__ = (
        "_channel",
        "_close_trigger",
        "_cum",
        "_down_armed",
        "_k",
        "_last_time",
        "_lookback",
        "_maxq",
        "_minq",
        "_n",
        "_total",
        "_up_armed",
        "_want_down",
        "_want_up",
        "rule",
    )

    def __init__(self, rule: BreakoutRule | None = None):
        rule = BreakoutRule() if rule is None else rule
        if not isinstance(rule, BreakoutRule):
            raise TypeError(f"rule must be a BreakoutRule, got {type(rule).__name__}")
        self.rule = rule
        self._lookback = rule.lookback
        self._close_trigger = rule.trigger == "close"
        self._want_up = rule.direction in ("up", "both")
        self._want_down = rule.direction in ("down", "both")
        self._k = rule.min_rel_volume
        self._n = 0
        self._last_time = None
        self._maxq: deque = deque()  # (index, high), highs strictly decreasing front to back
        self._minq: deque = deque()  # (index, low), lows strictly increasing front to back
        self._cum: deque = deque([0.0], maxlen=rule.lookback + 1)  # C[i-lookback-1] .. C[i-1]
        self._total = 0.0
        self._up_armed = True
        self._down_armed = True
        self._channel: tuple[float, float] | None = None

    @property
    def bars_seen(self) -> int:
        """How many bars were accepted so far."""
        return self._n

    @property
    def channel(self) -> tuple[float, float] | None:
        """``(upper, lower)`` that applied to the most recent bar, or ``None`` during warm-up."""
        return self._channel

    def can_signal(self, high: float, low: float, close: float) -> bool:
        """Whether the next bar, with these prices, could signal. ``False`` means :meth:`update_values` would
        return no signal for it whatever its volume (warm-up, or no armed direction's price condition holds), so
        a hot loop may do that update later, off the signal path (the watcher does, after the burst)."""
        if self._n < self._lookback:
            return False
        if self._want_up and self._up_armed and (close if self._close_trigger else high) > self._maxq[0][1]:
            return True
        return self._want_down and self._down_armed and (close if self._close_trigger else low) < self._minq[0][1]

    def update(self, bar: Bar) -> list[Signal]:
        """Process the next bar (strictly later than the previous one); return its signals (usually none)."""
        # float(): some IB client versions report volume as Decimal, which does not add to a float running sum
        return self.update_values(bar.time, bar.open, bar.high, bar.low, bar.close, float(bar.volume))

    def update_values(self, time, open, high, low, close, volume) -> list[Signal]:
        """Like :meth:`update` but takes the bar's fields as plain floats (``time`` as anything ordered)."""
        last = self._last_time
        if last is not None and not time > last:
            what = "duplicate" if time == last else "out-of-order"
            raise ValueError(f"{what} bar time {time!r}: bar times must strictly increase (previous {last!r})")
        # x != x is the cheapest NaN test; `not high >= low` also catches a NaN high or low.
        if not high >= low or open != open or close != close:  # noqa: PLR0124
            raise ValueError(f"bad bar at {time!r}: prices must not be NaN and high >= low "
                             f"(open={open}, high={high}, low={low}, close={close})")
        i = self._n
        lookback = self._lookback
        out: list[Signal] = []
        k = self._k
        if i >= lookback:
            maxq = self._maxq
            minq = self._minq
            upper = maxq[0][1]
            lower = minq[0][1]
            self._channel = (upper, lower)
            if k > 0.0:
                window_sum = self._total - self._cum[0]
                vol_ok = volume >= 0.0 and volume * lookback >= k * window_sum  # NaN fails both
            else:
                vol_ok = True
            if self._want_up:
                hit = (close if self._close_trigger else high) > upper
                if self._up_armed:
                    if hit and vol_ok:
                        self._up_armed = False
                        price = close if self._close_trigger else (open if open > upper else upper)  # noqa: FURB136
                        out.append(Signal(time, "up", upper, price))
                elif not hit:
                    self._up_armed = True
            if self._want_down:
                hit = (close if self._close_trigger else low) < lower
                if self._down_armed:
                    if hit and vol_ok:
                        self._down_armed = False
                        price = close if self._close_trigger else (open if open < lower else lower)  # noqa: FURB136
                        out.append(Signal(time, "down", lower, price))
                elif not hit:
                    self._down_armed = True
            # Slide the windows: drop the bar leaving (index i - lookback), then add bar i.
            expired = i - lookback
            if maxq[0][0] == expired:
                maxq.popleft()
            if minq[0][0] == expired:
                minq.popleft()
        else:
            maxq = self._maxq
            minq = self._minq
        while maxq and maxq[-1][1] <= high:
            maxq.pop()
        maxq.append((i, high))
        while minq and minq[-1][1] >= low:
            minq.pop()
        minq.append((i, low))
        if k > 0.0:
            # not max(volume, 0.0): that keeps a NaN
            self._total = total = self._total + (volume if volume >= 0.0 else 0.0)  # noqa: FURB136
            self._cum.append(total)
        self._n = i + 1
        self._last_time = time
        return out

    def __repr__(self) -> str:
        return f"BreakoutDetector({self.rule!r}, bars_seen={self._n}, channel={self._channel!r})"


# --------------------------------------------------------------------------------------------------- DataFrame side

_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def _times_of(df: pd.DataFrame) -> pd.DatetimeIndex:
    """The bar times of ``df``: its DatetimeIndex, else a ``time`` or ``date`` column (ib_insync's util.df)."""
    if isinstance(df.index, pd.DatetimeIndex):
        return df.index
    for name in ("time", "date"):
        if name in df.columns:
            col = df[name]
            try:
                return pd.DatetimeIndex(pd.to_datetime(col))
            except (ValueError, TypeError):
                # Mixed UTC offsets (e.g. across a DST change) -> normalise to UTC.
                return pd.DatetimeIndex(pd.to_datetime(col, utc=True))
    raise ValueError("bars need a DatetimeIndex or a 'time'/'date' column")


def frame_arrays(df: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                             np.ndarray]:
    """Validate a bar frame and return ``(times, open, high, low, close, volume)`` as float64 arrays.

    Raises ``ValueError`` on missing columns, unsorted/duplicate times, NaN prices or ``high < low``.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    cols = {str(c).lower(): c for c in df.columns}
    missing = [c for c in _PRICE_COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"bars are missing column(s) {missing}; need {list(_PRICE_COLUMNS)}")
    times = _times_of(df)
    arrays = [df[cols[c]].to_numpy(dtype=np.float64, na_value=np.nan) for c in _PRICE_COLUMNS]
    o, h, lo, c, v = arrays
    if len(times) > 1:
        steps = np.diff(times.asi8)
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            j = int(bad[0]) + 1
            what = "duplicate" if steps[bad[0]] == 0 else "out-of-order"
            raise ValueError(f"{what} bar time {times[j]!r} at row {j}: bar times must strictly increase")
    bad = np.flatnonzero(~(h >= lo) | np.isnan(o) | np.isnan(c))
    if bad.size:
        j = int(bad[0])
        raise ValueError(f"bad bar at {times[j]!r} (row {j}): prices must not be NaN and high >= low")
    return times, o, h, lo, c, v


def bars_from_df(df: pd.DataFrame) -> list[Bar]:
    """Turn a bar frame (DatetimeIndex or time/date column; open high low close volume) into ``Bar`` objects."""
    times, o, h, lo, c, v = frame_arrays(df)
    return [Bar(t, *vals) for t, *vals in zip(times, o.tolist(), h.tolist(), lo.tolist(), c.tolist(), v.tolist())]


def _rolling_extreme(x: np.ndarray, w: int, fn) -> np.ndarray:
    """``out[j] = fn(x[j .. j+w-1])`` for ``j`` in ``0 .. len(x)-w``.

    Doubling: after step s, ``cur[j]`` covers ``x[j .. j+2**s-1]``; two overlapping power-of-two windows then cover
    any width. O(n log w) but each step is one SIMD ``np.maximum``/``np.minimum``, which beats O(n)
    ``ufunc.accumulate`` schemes (van Herk/Gil-Werman) several times over in numpy. Exact: max/min never round.
    """
    m = x.size - w + 1
    cur, k = x, 1
    while 2 * k <= w:
        cur = fn(cur[:-k], cur[k:])
        k *= 2
    return fn(cur[:m], cur[w - k:w - k + m])


def channel_arrays(high: np.ndarray, low: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar ``(upper, lower)`` channel arrays; NaN where undefined (the first ``lookback`` bars)."""
    n = high.size
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    if n > lookback:
        upper[lookback:] = _rolling_extreme(high[:-1], lookback, np.maximum)
        lower[lookback:] = _rolling_extreme(low[:-1], lookback, np.minimum)
    return upper, lower


def _first_in_runs(hit: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Indices where an armed direction fires: in each run of consecutive ``hit`` bars, the first with ``ok``."""
    cand = np.flatnonzero(hit & ok)
    if cand.size == 0:
        return cand
    starts = np.flatnonzero(hit[1:] & ~hit[:-1]) + 1  # run starts (a run at index 0 has none: handled below)
    run_start = np.concatenate(([0], starts))[np.searchsorted(starts, cand, side="right")]
    prev = np.concatenate(([-1], cand[:-1]))
    return cand[prev < run_start]  # no earlier candidate inside the same run


def scan_arrays(o, h, lo, c, v, rule: BreakoutRule):
    """Vectorized core of :func:`scan` on float arrays: ``(index, is_up, level, price)`` arrays in signal order."""
    n = h.size
    L = rule.lookback
    empty = np.empty(0, dtype=np.int64)
    if n <= L:
        return empty, np.empty(0, dtype=bool), np.empty(0), np.empty(0)
    want_up = rule.direction in ("up", "both")
    want_down = rule.direction in ("down", "both")
    # channel for bars L .. n-1
    upper = _rolling_extreme(h[:-1], L, np.maximum) if want_up else empty
    lower = _rolling_extreme(lo[:-1], L, np.minimum) if want_down else empty
    if rule.min_rel_volume > 0.0:
        vv = np.where(v >= 0.0, v, 0.0)  # NaN and negative (missing) count as 0
        cum = np.concatenate(([0.0], np.cumsum(vv)))
        window_sum = cum[L:n] - cum[0:n - L]
        vcur = v[L:]
        with np.errstate(invalid="ignore"):
            vol_ok = (vcur >= 0.0) & (vcur * L >= rule.min_rel_volume * window_sum)
    else:
        vol_ok = np.ones(n - L, dtype=bool)
    close_trigger = rule.trigger == "close"
    parts = []
    if want_up:
        hit = (c[L:] if close_trigger else h[L:]) > upper
        idx = _first_in_runs(hit, vol_ok)
        price = c[L:][idx] if close_trigger else np.maximum(o[L:][idx], upper[idx])
        parts.append((idx, np.zeros(idx.size), upper[idx], price))
    if want_down:
        hit = (c[L:] if close_trigger else lo[L:]) < lower
        idx = _first_in_runs(hit, vol_ok)
        price = c[L:][idx] if close_trigger else np.minimum(o[L:][idx], lower[idx])
        parts.append((idx, np.ones(idx.size), lower[idx], price))
    idx = np.concatenate([p[0] for p in parts])
    rank = np.concatenate([p[1] for p in parts])  # up (0) before down (1) on the same bar
    level = np.concatenate([p[2] for p in parts])
    price = np.concatenate([p[3] for p in parts])
    order = np.lexsort((rank, idx))
    return idx[order] + L, rank[order] == 0, level[order], price[order]


def scan(df: pd.DataFrame, rule: BreakoutRule | None = None) -> pd.DataFrame:
    """All signals in a bar frame, vectorized; identical to feeding the bars through :class:`BreakoutDetector`.

    ``df`` has columns open/high/low/close/volume and a DatetimeIndex or a ``time``/``date`` column.
    Returns a DataFrame with columns ``time, direction, level, price`` (one row per signal, in time order).
    """
    rule = BreakoutRule() if rule is None else rule
    times, o, h, lo, c, v = frame_arrays(df)
    idx, is_up, level, price = scan_arrays(o, h, lo, c, v, rule)
    return pd.DataFrame({
        "time": times[idx],
        "direction": np.where(is_up, "up", "down"),
        "level": level,
        "price": price,
    }, columns=_SIGNAL_COLUMNS)
