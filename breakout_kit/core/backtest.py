"""Backtest a breakout rule: replay bars through the breakout detector and trade its signals by pinned fill rules.

Signals come from :func:`breakout_kit.core.breakout.scan_arrays`, which a property test proves identical to feeding the
bars one by one through :class:`~breakout_kit.core.breakout.BreakoutDetector`; the trade simulation then loops over
signals only and finds each exit with a vectorized search, so a million bars take well under a second.

Pinned fill rules
-----------------
* Long only: trades open on **up** signals; down signals are ignored (a rule with ``direction="down"`` is rejected).
* One position at a time: a signal whose entry bar is not after the previous trade's exit bar is skipped.
* Entry ``"next_open"`` (default): buy at the open of the bar after the signal bar; exits are checked from that
  same bar on. A signal on the last bar opens nothing.
  Entry ``"signal"``: buy at the signal price on the signal bar (its close for trigger close, ``max(open, upper)``
  for trigger high); exits are checked from the next bar on (the order of prices inside the signal bar is unknown).
  A signal on the last bar opens nothing.
* Levels: ``take profit = entry * (1 + take_profit_pct/100)``, ``stop = entry * (1 - stop_loss_pct/100)``.
* On each bar, in this order: open at or below the stop -> exit at the open (gap through the stop); open at or above
  the take profit -> exit at the open (gap through the target); low touches the stop -> exit at the stop; high
  touches the take profit -> exit at the take profit. So when one bar touches both, the stop wins (conservative).
* ``max_holding_bars=N``: still open at the close of bar ``entry_bar + N`` -> exit at that close ("max_holding").
* ``flat_at_session_end=True``: a position still open at the close of the last bar of its entry's session (the last
  bar on the entry bar's calendar day in ``session_tz``, default New York) exits at that close ("session_end"), so no
  trade is held overnight. Checked before ``max_holding_bars`` when both apply to the same bar.
* End of data: a position still open exits at the last bar's close ("end_of_data").
* Sizing: ``quantity`` shares per trade, or ``cash`` per trade (``floor(cash / entry price)`` shares; a trade that
  would buy 0 shares is skipped); default 100 shares. No margin or balance checks.
* Hours: ``session="regular"`` trades only the bars of NYSE's regular session (09:30-16:00, 13:00 on early closes),
  so ``flat_at_session_end`` exits on the last regular bar (15:59 for 1-minute bars); ``"extended"`` (default)
  trades the bars as given (:mod:`breakout_kit.core.sessions`).
* Costs (:mod:`breakout_kit.core.costs`): ``commission`` per share with ``min_commission`` per order (both default
  0), or IB's schedules ``"ib_fixed"`` / ``"ib_tiered"``, paid on entry and on exit; ``regulatory_fees=True`` adds
  the SEC and FINRA fees on the sale. ``tick`` rounds take-profit and stop levels to the price grid;
  ``slippage_ticks`` moves every market fill (entries, stops, session/time exits) that many ticks against the trade.
* ``bars_held = exit bar index - entry bar index`` (0 = exited on the entry bar, possible with next_open).
* Equity is marked to market at every bar's close: ``initial_capital`` + realised P&L + open P&L (less the entry fee).
* Stats: ``max_drawdown_pct`` is positive (peak-to-trough of equity, in % of the peak); ``exposure_pct`` is the share of
  bars during which a position was open (for next_open the entry bar counts; for signal entry it starts next bar);
  ``profit_factor`` is gross profit / gross loss (inf without losing trades, NaN without trades); Sharpe, Sortino,
  CAGR, expectancy, SQN and drawdown duration are defined in :mod:`breakout_kit.core.stats` (annualised with 252
  sessions a year and the data's bars per session, sessions being calendar days in ``session_tz``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breakout_kit.core import trading_hours
from breakout_kit.core.breakout import BreakoutRule, channel_arrays, frame_arrays, scan_arrays
from breakout_kit.core.checks import check_pct as _check_pct
from breakout_kit.core.checks import check_positive as _check_positive
from breakout_kit.core.costs import cost_model, trade_pnl
from breakout_kit.core.sessions import select_session
from breakout_kit.core.stats import equity_curve, performance_stats, session_days, session_ends

__all__ = ["BacktestResult", "backtest", "backtest_many"]

ENTRIES = ("next_open", "signal")
TRADE_COLUMNS = ["entry_time", "entry_price", "exit_time", "exit_price", "quantity", "pnl", "return_pct",
                 "exit_reason", "bars_held"]


@dataclass
class BacktestResult:
    """Outcome of :func:`backtest`: ``trades`` (DataFrame), ``equity`` (Series at each bar's close), ``stats``."""

    trades: pd.DataFrame
    equity: pd.Series
    stats: pd.Series
    rule: BreakoutRule
    bars: pd.DataFrame = field(repr=False)

    def plot(self, max_candles: int = 5000, title: str | None = None):
        """A plotly Figure: price (candles, or a close line past ``max_candles`` bars), channel, entries/exits, and
        equity on a second row. With candles, pauses between sessions (nights, weekends) are cut out of the axis."""
        from breakout_kit.notebook import plots  # the one breakout figure (lazy: core itself has no UI)

        bars = self.bars
        x = bars.index
        upper, lower = channel_arrays(bars["high"].to_numpy(), bars["low"].to_numpy(), self.rule.lookback)
        t = self.trades
        markers = []
        if len(t):
            markers = [plots.Markers("entry", t["entry_time"], t["entry_price"], "triangle-up", plots.MARKER_UP, 10),
                       plots.Markers("exit", t["exit_time"], t["exit_price"], "x",
                                     np.where(t["pnl"] > 0, plots.MARKER_UP, plots.MARKER_DOWN), 9,
                                     text=t["exit_reason"])]
        candles = len(bars) <= max_candles
        return plots.breakout_figure(
            x, bars["open"], bars["high"], bars["low"], bars["close"], upper=upper, lower=lower, markers=markers,
            lower_panel=plots.LowerPanel("equity", self.equity.index, self.equity.to_numpy(), kind="line"),
            title=title or f"backtest {self.rule}", height=600, line_only=not candles,
            breaks=plots.session_breaks(plots.index_wall_seconds(x)) if candles else None)


def _session_last_bar(days: np.ndarray) -> np.ndarray:
    """For every bar, the index of the last bar on the same session day (``days`` from :func:`session_days`)."""
    ends = np.flatnonzero(np.r_[days[1:] != days[:-1], True])   # last bar of each day
    return ends[np.searchsorted(ends, np.arange(len(days)))]


def bar_arrays(bars_df: pd.DataFrame, session_tz: str, session: str, calendar: str) -> tuple:
    """A bar frame checked and cut to ``session``: (times, open, high, low, close, volume, session day ids)."""
    if not isinstance(bars_df, pd.DataFrame):
        raise TypeError(f"bars must be a pandas DataFrame, got {type(bars_df).__name__}")
    if len(bars_df) == 0:
        raise ValueError("bars frame is empty: nothing to backtest")
    calendar = trading_hours.check_kind(calendar)
    times, o, h, lo, c, v = frame_arrays(select_session(bars_df, session, calendar))
    days = (session_days(times, session_tz) if calendar in ("stock", "index")
            else trading_hours.session_day_ids(times, calendar))
    return times, o, h, lo, c, v, days


def session_count(days: np.ndarray) -> int:
    """How many session days the bars span (``days`` sorted, from :func:`session_days`)."""
    return int(np.count_nonzero(days[1:] != days[:-1])) + 1 if days.size else 0


def _first_touch(high, low, start: int, end: int, tp: float, sl: float) -> int:
    """First bar index in ``[start, end]`` whose high reaches ``tp`` or low reaches ``sl``; -1 if none.

    Searches growing chunks so short trades cost a few small numpy calls and long ones stay O(n)."""
    size = 32
    s = start
    while s <= end:
        e = min(end + 1, s + size)
        touched = (high[s:e] >= tp) | (low[s:e] <= sl)
        k = int(touched.argmax())
        if touched[k]:
            return s + k
        s = e
        size *= 4
    return -1


def backtest(bars_df: pd.DataFrame, rule: BreakoutRule | None = None, *, take_profit_pct: float,
             stop_loss_pct: float, entry: str = "next_open", quantity: float | None = None,
             cash: float | None = None, commission: float | str = 0.0, min_commission: float = 0.0,
             max_holding_bars: int | None = None, flat_at_session_end: bool = False,
             session_tz: str = "America/New_York", initial_capital: float = 100_000.0,
             session: str = "extended", regulatory_fees: bool = False, tick: float | None = None,
             slippage_ticks: float = 0.0, multiplier: float = 1.0, calendar: str = "stock") -> BacktestResult:
    """Trade ``rule``'s up breakouts in ``bars_df`` with a percentage take profit and stop (fill rules: module doc).

    ``bars_df`` has open/high/low/close/volume and a DatetimeIndex or a ``time``/``date`` column. Size with
    ``quantity`` (shares per trade) or ``cash`` (money per trade), not both; default 100 shares. ``commission`` is
    per share (with ``min_commission`` per order) or ``"ib_fixed"`` / ``"ib_tiered"``; ``regulatory_fees``, ``tick``
    and ``slippage_ticks`` as in :mod:`breakout_kit.core.costs`; ``multiplier`` (a future's: ES 50) makes a trade's
    P&L points x multiplier x quantity (contracts) less commission. ``session="regular"`` keeps regular hours only.
    ``calendar`` is the instrument's kind (``"stock"``, ``"index"``, ``"future"``: CME Globex, ``"forex"``:
    IDEALPRO; :mod:`breakout_kit.core.trading_hours`): its regular hours for ``session="regular"``, and its
    sessions for ``flat_at_session_end`` (a future's session runs 18:00 to 17:00 New York, so an evening entry is
    flattened the next afternoon, not at midnight; stocks and indexes: calendar days in ``session_tz``).
    ``flat_at_session_end`` closes every trade by the end of its day (in ``session_tz``). Raises ``ValueError`` on
    bad parameters or bars.
    """
    rule = BreakoutRule() if rule is None else rule
    if not isinstance(rule, BreakoutRule):
        raise TypeError(f"rule must be a BreakoutRule, got {type(rule).__name__}")
    if rule.direction == "down":
        raise ValueError("backtest is long-only: a rule with direction='down' would never enter")
    tp_pct = _check_pct("take_profit_pct", take_profit_pct)
    sl_pct = _check_pct("stop_loss_pct", stop_loss_pct)
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    if quantity is not None and cash is not None:
        raise ValueError("give quantity or cash per trade, not both")
    qty_fixed = _check_positive("quantity", quantity) if quantity is not None else None
    cash_per_trade = _check_positive("cash", cash) if cash is not None else None
    if qty_fixed is None and cash_per_trade is None:
        qty_fixed = 100.0
    costs = cost_model(commission, min_commission, regulatory_fees, tick, slippage_ticks, multiplier)
    slip = costs.slip
    mult = costs.multiplier
    capital = _check_positive("initial_capital", initial_capital)
    if max_holding_bars is not None:
        if isinstance(max_holding_bars, bool) or not isinstance(max_holding_bars, (int, np.integer)) \
                or max_holding_bars < 1:
            raise ValueError(f"max_holding_bars must be an int >= 1 or None, got {max_holding_bars!r}")
        max_holding_bars = int(max_holding_bars)
    if not isinstance(flat_at_session_end, bool):
        raise TypeError(f"flat_at_session_end must be True or False, got {flat_at_session_end!r}")
    times, o, h, lo, c, v, days = bar_arrays(bars_df, session_tz, session, calendar)
    n = len(times)
    session_last = _session_last_bar(days) if flat_at_session_end else None

    sig_idx, is_up, _level, sig_price = scan_arrays(o, h, lo, c, v, rule)
    sig_idx, sig_price = sig_idx[is_up], sig_price[is_up]
    if entry == "next_open":
        keep = sig_idx + 1 < n
        e_idx = sig_idx[keep] + 1
        e_price = o[e_idx]
        first_check = 0
    else:
        keep = sig_idx + 1 < n
        e_idx = sig_idx[keep]
        e_price = sig_price[keep]
        first_check = 1

    rec_ei, rec_xi, rec_ep, rec_xp, rec_q, rec_reason = [], [], [], [], [], []
    last_exit = -1
    j, m = 0, e_idx.size
    while j < m:
        ei = int(e_idx[j])
        if ei <= last_exit:  # still in a position (or exiting on this bar): skip to the first later signal
            j = int(np.searchsorted(e_idx, last_exit, side="right"))
            continue
        ep = float(e_price[j]) + slip
        j += 1
        q = qty_fixed if qty_fixed is not None else float(math.floor(cash_per_trade / (ep * mult)))  # type: ignore[operator]
        if q <= 0:
            continue
        tp = float(costs.level(ep * (100.0 + tp_pct) / 100.0))
        sl = float(costs.level(ep * (100.0 - sl_pct) / 100.0))
        last_bar = n - 1 if max_holding_bars is None else min(n - 1, ei + max_holding_bars)
        day_end = int(session_last[ei]) if session_last is not None else n
        if first_check and ei >= day_end:
            continue  # a signal-price entry on the day's last bar could only be flattened at the same close
        k = _first_touch(h, lo, ei + first_check, min(last_bar, day_end), tp, sl)
        if k < 0:
            if day_end <= last_bar and day_end < n - 1:
                xi, reason = day_end, "session_end"
            else:
                timed_out = max_holding_bars is not None and ei + max_holding_bars <= n - 1
                xi, reason = last_bar, ("max_holding" if timed_out else "end_of_data")
            xp = float(c[xi]) - slip
        else:
            xi = k
            if o[k] <= sl:
                xp, reason = float(o[k]) - slip, "stop_loss"
            elif o[k] >= tp:
                xp, reason = float(o[k]), "take_profit"
            elif lo[k] <= sl:
                xp, reason = sl - slip, "stop_loss"
            else:
                xp, reason = tp, "take_profit"
        rec_ei.append(ei)
        rec_xi.append(xi)
        rec_ep.append(ep)
        rec_xp.append(xp)
        rec_q.append(q)
        rec_reason.append(reason)
        last_exit = xi

    ei_a = np.asarray(rec_ei, dtype=np.int64)
    xi_a = np.asarray(rec_xi, dtype=np.int64)
    ep_a = np.asarray(rec_ep, dtype=float)
    xp_a = np.asarray(rec_xp, dtype=float)
    q_a = np.asarray(rec_q, dtype=float)
    fee_in, pnl = trade_pnl(costs, ep_a, xp_a, q_a)
    trades = pd.DataFrame({
        "entry_time": times[ei_a], "entry_price": ep_a, "exit_time": times[xi_a], "exit_price": xp_a,
        "quantity": q_a, "pnl": pnl,
        "return_pct": pnl / (ep_a * q_a * mult) * 100.0 if len(q_a) else np.empty(0),
        "exit_reason": np.asarray(rec_reason, dtype=object), "bars_held": xi_a - ei_a,
    }, columns=TRADE_COLUMNS)

    eq = equity_curve(n, c, ei_a, xi_a, ep_a, q_a * mult, fee_in, pnl, capital)
    equity = pd.Series(eq, index=times, name="equity")
    held = int((xi_a - ei_a + (1 - first_check)).sum()) if len(ei_a) else 0
    stats = pd.Series(performance_stats(
        close=c, times_ns=times.as_unit("ns").asi8, ei=ei_a, xi=xi_a, ep=ep_a, xp=xp_a, q=q_a * mult, fee_in=fee_in,
        pnl=pnl, capital=capital, held_bars=held, signals=int(sig_idx.size), sessions=session_count(days),
        day_ends=session_ends(days)),
        dtype=object, name="stats")
    bars = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v}, index=times)
    return BacktestResult(trades=trades, equity=equity, stats=stats, rule=rule, bars=bars)


def backtest_many(frames: Mapping[str, pd.DataFrame], rule: BreakoutRule | None = None, *, progress: bool = True,
                  **kwargs) -> pd.DataFrame:
    """Run :func:`backtest` per symbol (``{symbol: bars_df}``) with a tqdm progress bar; one stats row per symbol.

    ``kwargs`` go to :func:`backtest`. A failure names its symbol (``ValueError("AAPL: ...")``).
    """
    from tqdm.auto import tqdm

    if not isinstance(frames, Mapping):
        raise TypeError(f"frames must be a mapping of symbol -> DataFrame, got {type(frames).__name__}")
    rows = {}
    for symbol, df in tqdm(frames.items(), total=len(frames), desc="backtest", disable=not progress):
        try:
            rows[symbol] = backtest(df, rule, **kwargs).stats
        except ValueError as e:
            raise ValueError(f"{symbol}: {e}") from e
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "symbol"
    return out
