"""``sweep`` and ``walk_forward``: the pure engine of :mod:`breakout_kit.core.sweep`, run on every core or on Dask.

Work is split into tasks of (symbol, whole rule groups), so each task computes a rule's signals once and reuses them
for all its take-profit / stop / holding combinations. With a Parquet dataset path as ``data`` each task reads only
its own symbol's partition where it runs. Results are assembled in a fixed order, so a local run and a cluster run
give the same table row for row.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from os import PathLike

import pandas as pd

from breakout_kit.core.bars import bar_size as ib_bar_size
from breakout_kit.core.sweep import SweepPlan, plan_sweep, run_plan
from breakout_kit.core.walkforward import WalkForwardResult, combine_walk_forward, walk_forward_symbol
from breakout_kit.research.dataset import dataset_symbols, read_symbol
from breakout_kit.research.executor import Shared, default_workers, run_tasks

__all__ = ["SweepWarning", "sweep", "walk_forward"]


class SweepWarning(UserWarning):
    """Some symbols failed; their names and errors are in the result's ``attrs["errors"]``."""


def _sources(data, bar_size: str, symbols) -> tuple[list[str], dict, str | None]:
    """(symbols, shared frames, dataset root): frames for a mapping, a root for a dataset path."""
    if isinstance(data, Mapping):
        names = list(data) if symbols is None else list(symbols)
        if not names:
            raise ValueError("data has no symbols: give {symbol: bars DataFrame, ...}")
        missing = [s for s in names if s not in data]
        if missing:
            raise ValueError(f"symbols {missing} are not in data")
        return names, {s: data[s] for s in names}, None
    if isinstance(data, (str, PathLike)):
        root = str(data)
        if "://" not in root:  # workers may run in another directory: ship an absolute path
            root = os.path.abspath(root)
        names = dataset_symbols(root, bar_size) if symbols is None else [str(s).upper() for s in symbols]
        if not names:
            raise ValueError(f"no {bar_size} bars in the dataset at {root}")
        return names, {}, root
    raise TypeError(f"data must be a mapping {{symbol: bars DataFrame}} or the path of an ingest dataset, "
                    f"got {type(data).__name__}")


def _sweep_task(bars, plan: SweepPlan, root: str | None, symbol: str, bar_size: str) -> pd.DataFrame:
    if root is not None:
        bars = read_symbol(root, symbol, bar_size)
    return run_plan(bars, plan)


def _errors_to_attrs(out: pd.DataFrame, errors: dict[str, str]) -> pd.DataFrame:
    out.attrs["errors"] = errors
    if errors:
        listed = "; ".join(f"{s}: {e}" for s, e in errors.items())
        warnings.warn(f"{len(errors)} symbol(s) failed and have no rows: {listed}", SweepWarning, stacklevel=3)
    return out


def sweep(data, grid: Mapping, *, client=None, progress: bool = True, workers: int | None = None,
          symbols=None, bar_size: str = "1 min", **fixed) -> pd.DataFrame:
    """Backtest every combination of ``grid`` on every symbol; one row per (symbol, combination).

    ``data``: ``{symbol: bars DataFrame}`` or the path / URL of a dataset written by ``ingest`` (each task then
    reads only its symbol's ``bar_size`` partition). ``grid`` maps parameter names to lists of values: the rule's
    ``lookback, trigger, direction, min_rel_volume`` and the backtest's ``take_profit_pct, stop_loss_pct, entry,
    max_holding_bars, flat_at_session_end``; ``fixed`` gives single values for those or for ``quantity, cash,
    commission, min_commission, session_tz, initial_capital, session, regulatory_fees, tick, slippage_ticks,
    multiplier, calendar`` (as
    ``backtest`` takes them: ``session="regular"``, ``commission="ib_fixed"``, ...). Unknown names raise one
    ``ValueError``.

    Runs on ``workers`` processes (default: every core) or, with ``client`` (a ``dask.distributed.Client``), on
    that cluster. Columns: ``symbol``, the nine parameters, then ``backtest``'s stats; each row equals
    ``backtest(bars, BreakoutRule(...), ...).stats`` for that symbol and combination. A symbol that fails is left
    out with a :class:`SweepWarning`; ``result.attrs["errors"]`` maps it to its error.
    """
    plan = plan_sweep(grid, fixed)
    bar_size = ib_bar_size(bar_size)  # "5m" as load() takes it
    names, frames, root = _sources(data, bar_size, symbols)
    pool = sum(client.nthreads().values()) if client is not None else (workers or default_workers())
    # enough tasks to keep every worker busy; split() keeps rule groups whole when it can (their signals are shared)
    subplans = plan.split(max(1, math.ceil(4 * pool / len(names))))
    tasks, owners = [], []
    for s in names:
        for sub in subplans:
            tasks.append((s, _sweep_task, (Shared(s) if root is None else None, sub, root, s, bar_size)))
            owners.append(s)
    results = run_tasks(tasks, client=client, workers=workers, progress=progress, desc="sweep", shared=frames)
    pieces: dict[str, list[pd.DataFrame]] = {s: [] for s in names}
    errors: dict[str, str] = {}
    for s, (ok, value) in zip(owners, results):
        if ok:
            pieces[s].append(value)
        else:
            errors.setdefault(s, value)
    tables = []
    for s in names:
        if s in errors or not pieces[s]:
            continue
        stats = pd.concat(pieces[s]).sort_index()
        table = plan.params.loc[stats.index].join(stats)
        table.insert(0, "symbol", s)
        tables.append(table)
    if tables:
        out = pd.concat(tables, ignore_index=True)
    else:
        out = pd.DataFrame(columns=["symbol", *plan.params.columns])
    return _errors_to_attrs(out, errors)


def walk_forward(data, grid: Mapping, *, train: int, test: int, objective: str = "sharpe", min_trades: int = 1,
                 anchored: bool = False, client=None, progress: bool = True, workers: int | None = None,
                 symbols=None, bar_size: str = "1 min", **fixed) -> WalkForwardResult:
    """Rolling out-of-sample test: on each fold pick the best combination of ``grid`` over ``train`` sessions (by
    ``objective``, a stats column; drawdowns are minimised, everything else maximised), then trade it on the next
    ``test`` sessions. Folds step by ``test`` sessions, so the test windows tile the data after the first train.
    Only combinations with at least ``min_trades`` in-sample trades and a finite objective are picked; a fold
    with none stays flat. ``anchored=True`` trains every fold from the first session on (a growing window)
    instead of on the last ``train`` sessions.

    Returns a :class:`~breakout_kit.core.walkforward.WalkForwardResult`: ``folds`` (one row per symbol and fold:
    windows, chosen parameters, in-sample objective, out-of-sample stats) and ``stitched`` (one row per symbol:
    stats of all its out-of-sample trades on the joined test windows), ``trades`` and ``equity`` (the out-of-sample
    trades and stitched equity), and ``.plot()``. Same engine and arguments as :func:`sweep`;
    one task per symbol (its folds run in sequence), so the symbols are what spreads over the cores.
    """
    plan = plan_sweep(grid, fixed)
    bar_size = ib_bar_size(bar_size)  # "5m" as load() takes it
    names, frames, root = _sources(data, bar_size, symbols)
    options = {"min_trades": min_trades, "anchored": anchored}
    tasks = [(s, _walk_task, (Shared(s) if root is None else None, plan, train, test, objective, root, s,
                              bar_size, options)) for s in names]
    # validate the fold arguments here, before any work is shipped
    walk_forward_symbol(None, plan, train, test, objective, check_only=True, **options)
    results = run_tasks(tasks, client=client, workers=workers, progress=progress, desc="walk-forward",
                        shared=frames)
    done, errors = {}, {}
    for s, (ok, value) in zip(names, results):
        if ok:
            done[s] = value
        else:
            errors[s] = value
    result = combine_walk_forward(done, plan, objective)
    _errors_to_attrs(result.folds, errors)
    result.errors = errors
    return result


def _walk_task(bars, plan, train, test, objective, root, symbol, bar_size, options):
    if root is not None:
        bars = read_symbol(root, symbol, bar_size)
    return walk_forward_symbol(bars, plan, train, test, objective, **options)
