"""Parameter sweeps, pure: grid expansion and a vectorized engine that equals :func:`backtest` row for row.

A :class:`SweepPlan` is the validated grid: the combinations grouped by rule, so that signals are computed once per
(symbol, rule) and the candidate entries once per (symbol, rule, entry), then reused for every take-profit / stop /
holding combination. :func:`run_plan` runs a plan on one symbol's bars and returns one row per combination.

The engine follows :mod:`breakout_kit.core.backtest`'s fill rules exactly, but instead of walking trade by trade it
finds the exit of *every* candidate entry at once (numpy: a count over running extremes of the first 32 bars, then
jumps over sparse max/min tables for the trades still open), then chains the trades that one-position-at-a-time
actually takes with a pointer walk over entries; equity and stats come from
:mod:`breakout_kit.core.stats`, the functions :func:`backtest` uses, so the numbers are the same floats.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breakout_kit.core import trading_hours
from breakout_kit.core.backtest import (
    ENTRIES,
    _check_pct,
    _check_positive,
    _session_last_bar,
    bar_arrays,
    session_count,
)
from breakout_kit.core.breakout import BreakoutRule, scan_arrays
from breakout_kit.core.costs import CostModel, cost_model, trade_pnl
from breakout_kit.core.sessions import check_session
from breakout_kit.core.stats import STAT_NAMES, performance_stats, session_ends

__all__ = ["FIXED_KEYS", "GRID_KEYS", "RULE_KEYS", "TRADE_KEYS", "SweepPlan", "plan_sweep", "run_plan",
           "simulate"]

RULE_KEYS = ("lookback", "trigger", "direction", "min_rel_volume")
TRADE_KEYS = ("take_profit_pct", "stop_loss_pct", "entry", "max_holding_bars", "flat_at_session_end")
GRID_KEYS = RULE_KEYS + TRADE_KEYS
#: backtest options that hold for the whole sweep (not grid axes)
FIXED_KEYS = ("quantity", "cash", "commission", "min_commission", "session_tz", "initial_capital", "session",
              "regulatory_fees", "tick", "slippage_ticks", "multiplier", "calendar")
DEFAULTS = {"lookback": 20, "trigger": "close", "direction": "up", "min_rel_volume": 0.0, "entry": "next_open",
            "max_holding_bars": None, "flat_at_session_end": False, "quantity": None, "cash": None,
            "commission": 0.0, "min_commission": 0.0, "session_tz": "America/New_York",
            "initial_capital": 100_000.0, "session": "extended", "regulatory_fees": False, "tick": None,
            "slippage_ticks": 0.0, "multiplier": 1.0, "calendar": "stock"}
REASONS = np.array(["stop_loss", "take_profit", "session_end", "max_holding", "end_of_data"], dtype=object)
_STOP, _TARGET, _SESSION, _MAX_HOLD, _END = range(5)
NO_COSTS = CostModel()
_FIRST_WINDOW = 32      # bars checked for every candidate at once; the few still open jump on sparse tables


@dataclass(frozen=True)
class TradeParams:
    """One take-profit / stop / entry / holding combination (validated)."""

    take_profit_pct: float
    stop_loss_pct: float
    entry: str
    max_holding_bars: int | None
    flat_at_session_end: bool


@dataclass
class SweepPlan:
    """A validated grid: ``params`` (one row per combination, in grid order) and the same grouped by rule."""

    params: pd.DataFrame
    groups: list[tuple[BreakoutRule, list[tuple[int, TradeParams]]]]
    fixed: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of combinations."""
        return len(self.params)

    def split(self, parts: int) -> list[SweepPlan]:
        """At most ``parts`` plans, balanced by size. Rule groups stay whole when there are enough of them (their
        signals are shared); with fewer groups than parts, groups are cut too (each piece rescans: O(bars))."""
        pieces = self.groups
        if len(pieces) < parts:
            cut = math.ceil(parts / len(pieces))
            pieces = [(rule, chunk) for rule, members in self.groups
                      for chunk in (members[i::cut] for i in range(min(cut, len(members))))]
        parts = max(1, min(parts, len(pieces)))
        buckets: list[list] = [[] for _ in range(parts)]
        loads = [0] * parts
        for group in sorted(pieces, key=lambda g: -len(g[1])):
            k = loads.index(min(loads))
            buckets[k].append(group)
            loads[k] += len(group[1])
        return [SweepPlan(self.params, sorted(b, key=lambda g: g[1][0][0]), self.fixed) for b in buckets if b]


def _values(key: str, value) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    out = list(value)
    if not out:
        raise ValueError(f"grid[{key!r}] is empty: give at least one value")
    return out


def _check_holding(value) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"max_holding_bars must be an int >= 1 or None, got {value!r}")
    return int(value)


def plan_sweep(grid: Mapping, fixed: Mapping | None = None) -> SweepPlan:
    """Validate ``grid`` (name -> values) and ``fixed`` (name -> one value) and expand them into a plan.

    Grid names: the rule's ``lookback, trigger, direction, min_rel_volume`` and the backtest's ``take_profit_pct,
    stop_loss_pct, entry, max_holding_bars, flat_at_session_end``; fixed may also hold ``quantity, cash, commission,
    min_commission, session_tz, initial_capital, session, regulatory_fees, tick, slippage_ticks, multiplier,
    calendar`` (as
    :func:`~breakout_kit.core.backtest.backtest` takes them). One ``ValueError`` names every unknown key.
    """
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping of parameter name -> list of values, got {type(grid).__name__}")
    fixed = dict(fixed or {})
    unknown = [k for k in grid if k not in GRID_KEYS] + [k for k in fixed if k not in GRID_KEYS + FIXED_KEYS]
    if unknown:
        raise ValueError(f"unknown sweep parameter(s) {unknown}; grid keys are {list(GRID_KEYS)}, fixed ones may "
                         f"also be {list(FIXED_KEYS)}")
    both = [k for k in grid if k in fixed]
    if both:
        raise ValueError(f"{both} given both in the grid and as fixed values: pick one")
    missing = [k for k in ("take_profit_pct", "stop_loss_pct") if k not in grid and k not in fixed]
    if missing:
        raise ValueError(f"sweep needs {missing} (in the grid or as fixed values)")
    axes = {k: _values(k, grid[k]) if k in grid else [fixed.get(k, DEFAULTS.get(k))] for k in GRID_KEYS}
    options = {k: fixed.get(k, DEFAULTS[k]) for k in FIXED_KEYS}
    if options["quantity"] is not None and options["cash"] is not None:
        raise ValueError("give quantity or cash per trade, not both")
    for k in ("quantity", "cash"):
        if options[k] is not None:
            options[k] = _check_positive(k, options[k])
    options["costs"] = cost_model(options["commission"], options["min_commission"], options["regulatory_fees"],
                                  options["tick"], options["slippage_ticks"], options["multiplier"])
    options["session"] = check_session(options["session"])
    options["calendar"] = trading_hours.check_kind(options["calendar"])
    if options["quantity"] is None and options["cash"] is None:
        options["quantity"] = 100.0                     # backtest's default size
    options["initial_capital"] = _check_positive("initial_capital", options["initial_capital"])
    if not isinstance(options["session_tz"], str):
        raise TypeError(f"session_tz must be a time zone name, got {options['session_tz']!r}")

    rules: dict[tuple, BreakoutRule] = {}
    for values in itertools.product(*(axes[k] for k in RULE_KEYS)):
        rule = BreakoutRule(**dict(zip(RULE_KEYS, values)))
        if rule.direction == "down":
            raise ValueError("backtest is long-only: direction='down' would never enter")
        rules[values] = rule
    trades = []
    for values in itertools.product(*(axes[k] for k in TRADE_KEYS)):
        tp, sl, entry, hold, flat = values
        if entry not in ENTRIES:
            raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
        if not isinstance(flat, (bool, np.bool_)):
            raise TypeError(f"flat_at_session_end must be True or False, got {flat!r}")
        trades.append(TradeParams(_check_pct("take_profit_pct", tp), _check_pct("stop_loss_pct", sl), entry,
                                  _check_holding(hold), bool(flat)))
    rows: list = []
    groups: list = []
    for rule in rules.values():
        members = []
        for tp in trades:
            members.append((len(rows), tp))
            rows.append({"lookback": rule.lookback, "trigger": rule.trigger, "direction": rule.direction,
                         "min_rel_volume": rule.min_rel_volume, "take_profit_pct": tp.take_profit_pct,
                         "stop_loss_pct": tp.stop_loss_pct, "entry": tp.entry,
                         "max_holding_bars": tp.max_holding_bars, "flat_at_session_end": tp.flat_at_session_end})
        groups.append((rule, members))
    params = pd.DataFrame(rows, columns=list(GRID_KEYS))
    params["max_holding_bars"] = pd.Series([r["max_holding_bars"] for r in rows], dtype=object)  # None stays None
    return SweepPlan(params, groups, options)


# --------------------------------------------------------------------------------------------------- the engine

@dataclass
class _Bars:
    """One symbol's arrays, validated once, padded so every window of ``_FIRST_WINDOW`` bars is a view."""

    times: pd.DatetimeIndex
    times_ns: np.ndarray
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    v: np.ndarray
    days: np.ndarray
    sessions: int
    hw: np.ndarray = field(init=False, repr=False)
    lw: np.ndarray = field(init=False, repr=False)
    _last: np.ndarray | None = field(default=None, init=False, repr=False)
    _tables: tuple | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        pad = _FIRST_WINDOW
        # beyond the data no bar touches anything: -inf never reaches a target, +inf never reaches a stop
        hp = np.concatenate((self.h, np.full(pad, -np.inf)))
        lp = np.concatenate((self.lo, np.full(pad, np.inf)))
        self.hw = np.lib.stride_tricks.sliding_window_view(hp, pad)
        self.lw = np.lib.stride_tricks.sliding_window_view(lp, pad)

    @property
    def n(self) -> int:
        return self.c.size

    @property
    def tables(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Sparse tables: ``highs[j][i] = max(h[i : i + 2**j])`` and ``lows[j][i] = min(lo[i : i + 2**j])``."""
        if self._tables is None:
            highs, lows = [self.h], [self.lo]
            step = 1
            while 2 * step <= self.n:
                hi, lo = highs[-1], lows[-1]
                highs.append(np.maximum(hi[:-step], hi[step:]))
                lows.append(np.minimum(lo[:-step], lo[step:]))
                step *= 2
            self._tables = (highs, lows)
        return self._tables

    @property
    def day_ends(self) -> np.ndarray:
        return session_ends(self.days)

    @property
    def session_last(self) -> np.ndarray:
        if self._last is None:
            self._last = _session_last_bar(self.days)
        return self._last


def bars_of(bars_df: pd.DataFrame, session_tz: str = "America/New_York", session: str = "extended",
            calendar: str = "stock") -> _Bars:
    """Validate a bar frame once (as :func:`backtest` does) for :func:`simulate` and :func:`run_plan`."""
    times, o, h, lo, c, v, days = bar_arrays(bars_df, session_tz, session, calendar)
    return _Bars(times, times.as_unit("ns").asi8, o, h, lo, c, v, days, session_count(days))


@dataclass
class _Candidates:
    """Every up signal that could open a trade, for one (rule, entry), with its first window of highs and lows."""

    e_idx: np.ndarray
    e_price: np.ndarray
    first_check: int
    signals: int
    h0: np.ndarray      # running max of the highs over each candidate's first window (rows never decrease)
    l0: np.ndarray      # running min of the lows


def _candidates(b: _Bars, rule: BreakoutRule, entry: str, scanned=None, from_bar: int = 0) -> _Candidates:
    """Candidate entries; ``from_bar`` ignores signals on earlier bars (they only warm the channel up)."""
    sig_idx, is_up, _level, sig_price = scanned if scanned is not None else scan_arrays(b.o, b.h, b.lo, b.c, b.v,
                                                                                         rule)
    is_up = is_up & (sig_idx >= from_bar)
    sig_idx, sig_price = sig_idx[is_up], sig_price[is_up]
    keep = sig_idx + 1 < b.n
    if entry == "next_open":
        e_idx = sig_idx[keep] + 1
        e_price, first_check = b.o[e_idx], 0
    else:
        e_idx, e_price, first_check = sig_idx[keep], sig_price[keep], 1
    start = e_idx + first_check
    w = _FIRST_WINDOW
    return _Candidates(e_idx, e_price, first_check, int(sig_idx.size),
                       np.maximum.accumulate(b.hw[start, :w], axis=1), np.minimum.accumulate(b.lw[start, :w], axis=1))


def _first_touch_all(b: _Bars, cand: _Candidates, end: np.ndarray, tp: np.ndarray, sl: np.ndarray) -> np.ndarray:
    """For every candidate, the first bar in ``[start, end]`` whose high reaches ``tp`` or low reaches ``sl``; -1
    if none. Same comparisons as :func:`breakout_kit.core.backtest._first_touch`, on all candidates at once."""
    start = cand.e_idx + cand.first_check
    span = end - start                                   # last allowed offset (negative: nothing to check)
    # first window, for every candidate at once: on running extremes the first touch is a count
    w = _FIRST_WINDOW
    first = np.minimum(np.count_nonzero(cand.h0 < tp[:, None], axis=1),
                       np.count_nonzero(cand.l0 > sl[:, None], axis=1))
    k = np.where((first < w) & (first <= span), start + first, -1)
    rows = np.flatnonzero((first == w) & (span >= w))    # no touch yet and allowed to go on
    if rows.size:
        k[rows] = _descend(b, start[rows] + w, end[rows], tp[rows], sl[rows])
    return k


def _descend(b: _Bars, pos: np.ndarray, end: np.ndarray, tp: np.ndarray, sl: np.ndarray) -> np.ndarray:
    """First bar in ``[pos, end]`` touching ``tp`` or ``sl`` (-1 if none), by jumping over runs of untouched bars
    with the sparse tables: the longest jump as often as it fits, then each shorter one at most once."""
    highs, lows = b.tables
    pos = pos.copy()

    def jump(j: int) -> np.ndarray:
        size = 1 << j
        at = np.minimum(pos, highs[j].size - 1)
        ok = (pos + size - 1 <= end) & (highs[j][at] < tp) & (lows[j][at] > sl)
        pos[ok] += size
        return ok

    longest = int((end - pos).max()) + 1                    # no jump longer than the widest range left
    top = min(len(highs) - 1, max(longest, 1).bit_length() - 1)
    while jump(top).any():
        pass
    for j in range(top - 1, -1, -1):
        jump(j)
    return np.where(pos <= end, pos, -1)


@dataclass
class Exits:
    """Where every candidate entry would exit if taken (before one-position-at-a-time picks among them)."""

    e_idx: np.ndarray
    xi: np.ndarray
    ep: np.ndarray
    xp: np.ndarray
    reason: np.ndarray
    sl: np.ndarray
    valid: np.ndarray     # False where backtest would not open it (a signal entry on the day's last bar)


def exits(b: _Bars, cand: _Candidates, tp_pct: float, sl_pct: float, max_holding_bars: int | None,
          flat_at_session_end: bool, costs: CostModel = NO_COSTS) -> Exits:
    """The exit of every candidate entry by :func:`backtest`'s fill rules (module doc of ``core.backtest``)."""
    n = b.n
    slip = costs.slip
    e_idx, ep, fc = cand.e_idx, cand.e_price + slip, cand.first_check
    tp = costs.level(ep * (100.0 + tp_pct) / 100.0)
    sl = costs.level(ep * (100.0 - sl_pct) / 100.0)
    last_bar = np.full(e_idx.size, n - 1) if max_holding_bars is None else np.minimum(n - 1,
                                                                                      e_idx + max_holding_bars)
    day_end = b.session_last[e_idx] if flat_at_session_end else np.full(e_idx.size, n)
    end = np.minimum(last_bar, day_end)
    k = _first_touch_all(b, cand, end, tp, sl)
    found = k >= 0
    # no touch: session end, else max holding / end of data
    by_session = (day_end <= last_bar) & (day_end < n - 1)
    xi = np.where(found, k, np.where(by_session, day_end, last_bar))
    timed_out = (e_idx + max_holding_bars <= n - 1) if max_holding_bars is not None else np.zeros(e_idx.size, bool)
    reason = np.where(by_session, _SESSION, np.where(timed_out, _MAX_HOLD, _END))
    ko = b.o[xi]
    stop_gap = found & (ko <= sl)
    target_gap = found & ~stop_gap & (ko >= tp)
    stop_touch = found & ~stop_gap & ~target_gap & (b.lo[xi] <= sl)
    target_touch = found & ~stop_gap & ~target_gap & ~stop_touch
    xp = np.where(found, 0.0, b.c[xi] - slip)
    xp = np.where(stop_gap, ko - slip, xp)
    xp = np.where(target_gap, ko, xp)
    xp = np.where(stop_touch, sl - slip, xp)
    xp = np.where(target_touch, tp, xp)
    reason = np.where(stop_gap | stop_touch, _STOP, np.where(target_gap | target_touch, _TARGET, reason))
    valid = np.ones(e_idx.size, bool)
    if fc and flat_at_session_end:
        valid &= e_idx < day_end   # a signal-price entry on the day's last bar could only be flattened at once
    return Exits(e_idx, xi, ep, xp, reason, np.asarray(sl, dtype=float), valid)


def simulate(b: _Bars, cand: _Candidates, tp_pct: float, sl_pct: float, max_holding_bars: int | None,
             flat_at_session_end: bool, quantity: float | None, cash: float | None, costs: CostModel = NO_COSTS):
    """The trades :func:`backtest` would take: ``(entry bar, exit bar, entry price, exit price, shares, reason)``
    arrays (reason as an index into ``REASONS``)."""
    x = exits(b, cand, tp_pct, sl_pct, max_holding_bars, flat_at_session_end, costs)
    e_idx, xi, ep = x.e_idx, x.xi, x.ep
    q = np.full(e_idx.size, quantity) if quantity is not None else np.floor((cash or 0.0) / (ep * costs.multiplier))
    valid = x.valid & (q > 0)
    # one position at a time: after a trade, the next candidate entering after its exit bar
    nxt = np.searchsorted(e_idx, xi, side="right").tolist()
    ok = valid.tolist()
    taken = []
    j, m = 0, e_idx.size
    while j < m:
        if ok[j]:
            taken.append(j)
            j = nxt[j]
        else:
            j += 1
    t = np.asarray(taken, dtype=np.int64)
    return e_idx[t], xi[t], ep[t], x.xp[t], q[t], x.reason[t]


def _stats(b: _Bars, trades, signals: int, first_check: int, costs: CostModel, capital: float) -> dict:
    ei, xi, ep, xp, q, _reason = trades
    fee, pnl = trade_pnl(costs, ep, xp, q)
    held = int((xi - ei + (1 - first_check)).sum()) if ei.size else 0
    return performance_stats(close=b.c, times_ns=b.times_ns, ei=ei, xi=xi, ep=ep, xp=xp, q=q * costs.multiplier,
                             fee_in=fee, pnl=pnl,
                             capital=capital, held_bars=held, signals=signals, sessions=b.sessions,
                             day_ends=b.day_ends)


def run_plan(bars_df: pd.DataFrame, plan: SweepPlan) -> pd.DataFrame:
    """Every combination of ``plan`` on one symbol's bars: ``combo`` (row of ``plan.params``) and the stats."""
    f = plan.fixed
    b = bars_of(bars_df, f["session_tz"], f["session"], f["calendar"])
    rows, index = [], []
    for rule, members in plan.groups:
        scanned = scan_arrays(b.o, b.h, b.lo, b.c, b.v, rule)
        cands: dict[str, _Candidates] = {}
        for combo, tp in members:
            cand = cands.get(tp.entry)
            if cand is None:
                cand = cands[tp.entry] = _candidates(b, rule, tp.entry, scanned)
            trades = simulate(b, cand, tp.take_profit_pct, tp.stop_loss_pct, tp.max_holding_bars,
                              tp.flat_at_session_end, f["quantity"], f["cash"], f["costs"])
            rows.append(_stats(b, trades, cand.signals, cand.first_check, f["costs"], f["initial_capital"]))
            index.append(combo)
    out = pd.DataFrame(rows, columns=STAT_NAMES, index=pd.Index(index, name="combo"))
    return out.sort_index()
