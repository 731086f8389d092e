"""Research benchmark probes: ``sweep`` against vectorbt, and ``sweep`` on a Dask ``LocalCluster`` (1 vs 2 workers).

* ``sweep_vs_vectorbt``: the same grid on the same synthetic bars. Ours: ``sweep(..., workers=1)`` (one core, as
  vectorbt's compiled loop uses one). Theirs: for each symbol and lookback, the up-breakout entries from our ``scan``
  shifted one bar (entry at the next open), then one ``Portfolio.from_signals`` call over every take-profit / stop
  pair (one column each) with our fill rules as far as vectorbt has them, and the same four stats read back. The
  trade lists of one combination are compared trade by trade (``details.trades``).
* ``dask_scaling``: sweep throughput (rows per second) on a ``LocalCluster`` of 2 single-threaded worker processes
  against 2x the throughput with 1 worker; both clusters are started and warmed up first, then the timed runs
  alternate between them.

vectorbt is optional (``pip install -e ".[bench]"``): without it ``sweep_vs_vectorbt`` raises ``Unavailable``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import os
import time
import warnings

import numpy as np
import pandas as pd

from breakout_kit.bench.cpu import Measurement
from breakout_kit.bench.data import synthetic_frame
from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule, scan

GRID = {"lookback": [10, 20, 40], "take_profit_pct": [0.5, 1.0, 2.0], "stop_loss_pct": [0.25, 0.5, 1.0]}
#: the combination whose trade lists are compared trade by trade
SAMPLE = {"lookback": 20, "take_profit_pct": 1.0, "stop_loss_pct": 0.5}
INITIAL_CAPITAL = 100_000.0
SHARES = 100.0


class Unavailable(Exception):
    """An optional figure cannot be measured here (a missing optional package); the message says how to get it."""


def _universe(symbols: int, bars: int) -> dict[str, pd.DataFrame]:
    return {f"SYN{k}": synthetic_frame(bars, seed=100 + k) for k in range(symbols)}


def _load() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


# ---- vectorbt ---------------------------------------------------------------------------------------------------
def _vectorbt():
    if importlib.util.find_spec("vectorbt") is None:
        raise Unavailable('vectorbt is not installed (pip install -e ".[bench]")')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # its own deprecation noise on import, not ours
        import vectorbt

    return vectorbt


def _entries(frame: pd.DataFrame, lookback: int) -> np.ndarray:
    """Entry bars for our fill rule ``entry="next_open"``: the bar after each up-breakout signal."""
    signals = scan(frame, BreakoutRule(lookback=lookback))
    idx = frame.index.get_indexer(pd.DatetimeIndex(signals.loc[signals["direction"] == "up", "time"]))
    entries = np.zeros(len(frame), dtype=bool)
    entries[idx[idx + 1 < len(frame)] + 1] = True
    return entries


def _vbt_portfolio(vbt, frame: pd.DataFrame, lookback: int, pairs: list[tuple[float, float]]):
    """One ``from_signals`` call: one column per (take profit, stop) pair, our fill rules as far as vectorbt goes."""
    entries = _entries(frame, lookback)
    tp = np.array([[p[0] / 100.0 for p in pairs]])      # shape (1, columns): one value per column
    sl = np.array([[p[1] / 100.0 for p in pairs]])
    cols = pd.MultiIndex.from_tuples(pairs, names=["take_profit_pct", "stop_loss_pct"])
    return vbt.Portfolio.from_signals(
        close=frame["close"], entries=pd.DataFrame(np.repeat(entries[:, None], len(pairs), 1), index=frame.index,
                                                   columns=cols),
        exits=False, open=frame["open"], high=frame["high"], low=frame["low"],
        price=frame["open"],                     # fill at the entry bar's open (the signal's next open)
        size=SHARES, size_type="amount", fees=0.0, init_cash=INITIAL_CAPITAL, direction="longonly",
        accumulate=False,                        # one position at a time
        sl_stop=sl, tp_stop=tp, stop_entry_price="fillprice", stop_exit_price="stoplimit", freq="1min")


def _vbt_sweep(vbt, data: dict[str, pd.DataFrame], grid: dict) -> pd.DataFrame:
    """The grid the vectorbt way: per symbol and lookback one portfolio over every TP/SL pair; stats read back."""
    pairs = list(itertools.product(grid["take_profit_pct"], grid["stop_loss_pct"]))
    rows = []
    for symbol, frame in data.items():
        for lookback in grid["lookback"]:
            pf = _vbt_portfolio(vbt, frame, lookback, pairs)
            stats = pd.DataFrame({"trades": pf.trades.count(), "total_return_pct": pf.total_return() * 100.0,
                                  "win_rate_pct": pf.trades.win_rate() * 100.0,
                                  "max_drawdown_pct": -pf.max_drawdown() * 100.0})
            stats.insert(0, "lookback", lookback)
            stats.insert(0, "symbol", symbol)
            rows.append(stats.reset_index())
    return pd.concat(rows, ignore_index=True)


def _compare_trades(vbt, frame: pd.DataFrame) -> dict:
    """Trade lists of the SAMPLE combination on one symbol: ours (``backtest``) vs vectorbt's, trade by trade."""
    ours = backtest(frame, BreakoutRule(lookback=SAMPLE["lookback"]), take_profit_pct=SAMPLE["take_profit_pct"],
                    stop_loss_pct=SAMPLE["stop_loss_pct"], quantity=SHARES).trades
    pf = _vbt_portfolio(vbt, frame, SAMPLE["lookback"], [(SAMPLE["take_profit_pct"], SAMPLE["stop_loss_pct"])])
    rec = pf.trades.records
    times = frame.index
    theirs = pd.DataFrame({"entry_time": times[rec["entry_idx"]], "entry_price": rec["entry_price"],
                           "exit_time": times[rec["exit_idx"]], "exit_price": rec["exit_price"],
                           "open": rec["status"] == 0})
    merged = ours.merge(theirs, on="entry_time", how="outer", suffixes=("", "_vbt"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    same_exit = (both["exit_time"] == both["exit_time_vbt"]) & np.isclose(both["exit_price"], both["exit_price_vbt"])
    same_entry_price = np.isclose(both["entry_price"], both["entry_price_vbt"])
    differ = both[~same_exit]
    # the first difference of each kind, as (our exit reason, bars held by us, bars held by vectorbt)
    later = differ[differ["exit_time_vbt"] > differ["exit_time"]]
    idx = times.get_indexer
    return {
        "combination": SAMPLE, "ours": len(ours), "vectorbt": len(theirs),
        "same_entry": len(both), "identical": int(same_exit.sum()),
        "entry_price_differs": int((~same_entry_price).sum()),
        "exit_differs": len(differ),
        "exit_differs_ours_on_entry_bar": int((differ["bars_held"] == 0).sum()),
        "exit_differs_vectorbt_later": len(later),
        "only_ours": int((merged["_merge"] == "left_only").sum()),
        "only_vectorbt": int((merged["_merge"] == "right_only").sum()),
        "only_vectorbt_entry_on_our_exit_bar": int(merged.loc[merged["_merge"] == "right_only", "entry_time"]
                                                   .isin(ours["exit_time"]).sum()),
        "vectorbt_open_at_end": int(theirs["open"].sum()),
        "examples": [{"entry": str(r.entry_time), "ours_exit": str(r.exit_time), "ours_reason": r.exit_reason,
                      "vectorbt_exit": str(r.exit_time_vbt),
                      "bars_held_ours": int(r.bars_held),
                      "bars_held_vectorbt": int(idx([r.exit_time_vbt])[0] - idx([r.entry_time])[0])}
                     for r in differ.head(3).itertuples()],
    }


def sweep_vs_vectorbt(quick: bool) -> dict[str, Measurement]:
    """Same grid, same bars: ``sweep`` on one worker vs vectorbt's ``Portfolio.from_signals``; trade lists of one
    combination compared (details)."""
    from breakout_kit.research.sweep import sweep

    vbt = _vectorbt()
    data = _universe(2 if quick else 4, 50_000 if quick else 100_000)
    combos = int(np.prod([len(v) for v in GRID.values()]))
    rows = combos * len(data)
    # warm-up, untimed: vectorbt compiles its numba loops on first use (cached on disk afterwards)
    warm = {"W": next(iter(data.values())).iloc[:5_000]}
    t = time.perf_counter()
    _vbt_sweep(vbt, warm, GRID)
    compile_s = time.perf_counter() - t
    sweep(warm, GRID, workers=1, progress=False)
    t_ours = t_vbt = float("inf")
    ours = theirs = None
    for _ in range(1 if quick else 2):           # alternate so machine noise hits both alike; best of each
        t = time.perf_counter()
        ours = sweep(data, GRID, workers=1, progress=False)
        t_ours = min(t_ours, time.perf_counter() - t)
        t = time.perf_counter()
        theirs = _vbt_sweep(vbt, data, GRID)
        t_vbt = min(t_vbt, time.perf_counter() - t)
    if len(ours) != rows or len(theirs) != rows:
        raise AssertionError(f"expected {rows} rows, got {len(ours)} (sweep) and {len(theirs)} (vectorbt)")
    if ours["trades"].sum() == 0:
        raise AssertionError("the sweep opened no trades: the timing would prove nothing")
    key = ["symbol", "lookback", "take_profit_pct", "stop_loss_pct"]
    both = ours.merge(theirs, on=key, suffixes=("", "_vbt"))
    trades = _compare_trades(vbt, next(iter(data.values())))
    details = {"symbols": len(data), "bars_per_symbol": len(next(iter(data.values()))), "combinations": combos,
               "grid": GRID, "sweep_s": t_ours, "vectorbt_s": t_vbt, "vectorbt_compile_s": compile_s,
               "vectorbt_version": vbt.__version__,
               "trades_sweep": int(ours["trades"].sum()), "trades_vectorbt": int(theirs["trades"].sum()),
               "rows_with_equal_trade_count": int((both["trades"] == both["trades_vbt"]).sum()),
               "trades": trades, "load_average": _load()}
    return {"sweep_vs_vectorbt_ratio": Measurement(t_vbt / t_ours, rows / t_ours, rows / t_vbt, unit="rows/s",
                                                   baseline_label="vectorbt from_signals", details=details)}


# ---- Dask scaling -------------------------------------------------------------------------------------------------
def _cluster_rates(data: dict, repeats: int) -> dict[int, tuple[float, float]]:
    """``{workers: (rows per second, best seconds)}`` of ``sweep`` on two LocalClusters, of 1 and of 2
    single-threaded worker processes, both started and warmed up (imports, scattering) first; then the timed runs
    alternate between them, so a change in the machine's load hits both alike."""
    from dask.distributed import Client, LocalCluster

    from breakout_kit.research.sweep import sweep

    warm = {s: f.iloc[:5_000] for s, f in data.items()}
    best = {1: float("inf"), 2: float("inf")}
    rows = 0
    with contextlib.ExitStack() as stack:
        clients = {}
        for n in best:
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, host="127.0.0.1",
                                                       silence_logs=logging.ERROR))
            clients[n] = stack.enter_context(Client(cluster))
            clients[n].wait_for_workers(n)
            sweep(warm, GRID, client=clients[n], progress=False)
        for _ in range(repeats):
            for n, client in clients.items():
                t = time.perf_counter()
                rows = len(sweep(data, GRID, client=client, progress=False))
                best[n] = min(best[n], time.perf_counter() - t)
    return {n: (rows / seconds, seconds) for n, seconds in best.items()}


def dask_scaling(quick: bool) -> dict[str, Measurement]:
    """Sweep throughput on a LocalCluster: 2 single-threaded workers / (2 x 1 worker)."""
    # 8 symbols: sweep splits each symbol's grid into ceil(4 x workers / symbols) tasks, so with 1 and with 2
    # workers the work units are the same (one task per symbol) and only the number of workers differs
    data = _universe(8, 100_000 if quick else 250_000)
    load_before = _load()
    rates = _cluster_rates(data, 2 if quick else 3)
    (one, one_s), (two, two_s) = rates[1], rates[2]
    details = {"symbols": len(data), "bars_per_symbol": len(next(iter(data.values()))), "grid": GRID,
               "one_worker_s": one_s, "two_workers_s": two_s, "cpus": os.cpu_count(),
               "load_average_before": load_before, "load_average_after": _load()}
    return {"dask_scaling_efficiency": Measurement(two / (2 * one), two, 2 * one, unit="rows/s",
                                                   baseline_label="2 x one worker", details=details)}
