"""``breakout-kit bench [--quick] [--json PATH] [--only NAME ...]``: measure the figures users compare us on.

Every figure is measured by the real code path (detector, scan, backtest, watcher, real ib_insync client against
the real embedded gateway, the gateway's encoder) and every baseline is run in the same process, side by side.
Machines are noisy: read the ratios; absolute numbers are context. The probes live in ``bench_core`` (CPU-bound)
and ``bench_live`` (client + gateway); this module lists the figures and their goals, runs them with a progress
bar, prints the table and writes the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from breakout_kit.bench import browser as bench_browser
from breakout_kit.bench import cpu as bench_core
from breakout_kit.bench import durability as bench_durability
from breakout_kit.bench import gateway as bench_gateway
from breakout_kit.bench import ingest as bench_ingest
from breakout_kit.bench import live as bench_live
from breakout_kit.bench import research as bench_research
from breakout_kit.bench.cpu import Measurement
from breakout_kit.bench.research import Unavailable


@dataclass(frozen=True)
class Figure:
    """A named figure, the probe that measures it, and its goal (``value <op> goal``)."""

    name: str
    probe: Callable[[bool], dict[str, Measurement]]
    op: str            # ">=" or "<="
    goal: float
    what: str
    #: may be reported as not available (its probe raises ``Unavailable``: an optional package is missing)
    optional: bool = False

    def met(self, value: float) -> bool:
        return value >= self.goal if self.op == ">=" else value <= self.goal


FIGURES: tuple[Figure, ...] = (
    Figure("detector_stream_bars_per_s", bench_core.detector_stream, ">=", 1_000_000,
           "BreakoutDetector.update over 1 M bars, one core"),
    Figure("scan_vs_pandas_ratio", bench_core.scan_vs_pandas, ">=", 2.5,
           "scan speed / pandas rolling implementation, identical signals"),
    Figure("backtest_1m_bars_s", bench_core.backtest_1m, "<=", 2.0, "seconds to backtest 1 M bars with TP/SL"),
    Figure("watchers_100_dispatch_ratio", bench_live.watchers_dispatch, ">=", 0.8,
           "100 watchers via real client+gateway / raw ib_insync decode+dispatch"),
    Figure("signal_latency_vs_raw_ratio", bench_live.signal_latency, "<=", 1.1,
           "socket read -> on_signal p99 with 100 watchers / bare library bar handler p99, same bursts"),
    Figure("signal_latency_1w_p99_ms", bench_live.signal_latency, "<=", 0.5,
           "socket read of the bar's message -> on_signal, p99, one watcher"),
    Figure("ingest_sp500_1y_1min_days", bench_ingest.ingest_speed, "<=", 1.0,
           "S&P 500 x 1 year of 1-minute bars, projected from a measured ingest at IB's enforced pacing"),
    Figure("ingest_pacing_violations", bench_ingest.ingest_speed, "<=", 0, "error 162 count during that ingest"),
    Figure("watcher_mem_growth_mb", bench_core.watcher_memory, "<=", 1.0,
           "tracemalloc growth after 1 M bars through one watcher"),
    Figure("chart_update_cost_ratio", bench_core.chart_update_cost, "<=", 2.0,
           "LiveChart per-update cost after 50 k bars / after 1 k bars"),
    Figure("gateway_encode_msgs_per_s", bench_core.gateway_encode, ">=", 100_000,
           "gateway protocol encoder throughput (realtimeBar messages)"),
    Figure("gateway_loop_stall_max_ms", bench_gateway.gateway_loop_stall, "<=", 20.0,
           "worst event-loop stall while the gateway answers 10 Y monthly, 1 Y daily, 1 Y 5-minute history"),
    Figure("gateway_orders_per_s_state", bench_durability.orders_with_state, ">=", 200,
           "acknowledged orders/s from a gateway with --state (each order journaled + fsynced before its ack)"),
    Figure("gateway_state_cost_ratio", bench_durability.orders_with_state, ">=", 0.5,
           "orders/s with --state / the same gateway without a state file, same run"),
    Figure("sweep_vs_vectorbt_ratio", bench_research.sweep_vs_vectorbt, ">=", 1.0,
           "same grid, same bars: vectorbt from_signals time / sweep time (one core each)", optional=True),
    Figure("dask_scaling_efficiency", bench_research.dask_scaling, ">=", 0.8,
           "sweep rows/s on a LocalCluster: 2 single-threaded workers / (2 x 1 worker)"),
)
# Measured in a real browser (``--browser``): JupyterLab + Debian chromium driven by Playwright.
BROWSER_FIGURES: tuple[Figure, ...] = (
    Figure("browser_lag_p90_s", bench_browser.live_canvas, "<=", 1.0,
           "20 live charts (canvas Dashboard) at 60x: kernel's newest bar -> shown in the page, p90"),
    Figure("first_chart_canvas_s", bench_browser.live_canvas, "<=", 10.0,
           "Run All -> first live canvas chart with bars (20 watchers backfilling)"),
    Figure("browser_redraw_20_charts_ms", bench_browser.live_canvas, "<=", 100.0,
           "20 canvas charts x 500 bars get a bar in one burst: kernel -> the last chart painted, median"),
    Figure("plotly_20_lag_p90_s", bench_browser.live_plotly, "<=", 1.0,
           "the same 20 live charts as Plotly LiveCharts, p90"),
    Figure("plotly_first_chart_s", bench_browser.live_plotly, "<=", 3.0,
           "Run All -> first Plotly LiveChart with candles (20 watchers backfilling)"),
    Figure("kernel_cpu_per_bar_us", bench_browser.live_plotly, "<=", 100.0,
           "kernel CPU in the Plotly chart code per bar per chart (bar in, deltas out, acks in)"),
)
BY_NAME = {f.name: f for f in (*FIGURES, *BROWSER_FIGURES)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="breakout-kit bench",
                                description="Measure breakout_kit's figures against their baselines in one run "
                                            "(see docs/benchmarks.md).")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats: under a minute")
    p.add_argument("--json", metavar="PATH", help="also write {figure: number, ..., meta: {...}} to PATH")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these figures (names below)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/benchmarks.md)")
    p.add_argument("--list", action="store_true", help="list the figures and their goals, then exit")
    p.add_argument("--browser", action="store_true",
                   help="measure the browser figures instead (JupyterLab in a real browser; needs Debian chromium "
                        "on PATH and the playwright package; skipped with one line if missing)")
    args = p.parse_args(argv)
    if args.only:
        unknown = [n for n in args.only if n not in BY_NAME]
        if unknown:
            p.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return args


def run(names: list[str], quick: bool, progress: bool = True,
        unavailable: dict[str, str] | None = None) -> dict[str, Measurement]:
    """Measure the named figures (each probe runs once even when it yields several figures). An optional figure
    whose probe raises ``Unavailable`` is left out of the result, its reason put in ``unavailable``."""
    from tqdm.auto import tqdm

    probes: list[Callable] = []
    for name in names:
        if BY_NAME[name].probe not in probes:
            probes.append(BY_NAME[name].probe)
    results: dict[str, Measurement] = {}
    with tqdm(probes, desc="bench", unit="probe", file=sys.stderr, disable=not progress) as bar:
        for probe in bar:
            bar.set_postfix_str(", ".join(n for n in names if BY_NAME[n].probe is probe))
            gc.collect()                 # don't bill one probe for the garbage of the previous one
            t = time.perf_counter()
            mine = [n for n in names if BY_NAME[n].probe is probe]
            try:
                got = probe(quick)
            except Exception as e:       # noqa: BLE001 -- one failed probe must not lose the other figures
                if isinstance(e, Unavailable) and all(BY_NAME[n].optional for n in mine):
                    for n in mine:
                        print(f"{n}: not available ({e})", file=sys.stderr, flush=True)
                        if unavailable is not None:
                            unavailable[n] = str(e)
                    continue
                what = "a required figure is unavailable: " if isinstance(e, Unavailable) else ""
                print(f"error: {probe.__name__} failed: {what}{type(e).__name__}: {e}", file=sys.stderr, flush=True)
                got = {n: Measurement(math.nan, details={"error": f"{type(e).__name__}: {e}"}) for n in mine}
            seconds = time.perf_counter() - t
            for name, m in got.items():
                m.details.setdefault("probe_seconds", seconds)
                results[name] = m
    missing = [n for n in names if n not in results and n not in (unavailable or {})]
    if missing:
        raise RuntimeError(f"probes did not report {', '.join(missing)}")
    return {n: results[n] for n in names if n in results}


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.2f} M"
    if a >= 1e4:
        return f"{x / 1e3:.1f} k"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _goal(x: float) -> str:
    return f"{x:,.0f}".replace(",", " ") if x == int(x) else f"{x:g}"


def table(results: dict[str, Measurement], markdown: bool = False,
          unavailable: dict[str, str] | None = None) -> str:
    """The results as an aligned text table (or a Markdown table): figure, value, baseline, ratio, goal, ✓/✗; an
    unavailable optional figure gets one line saying so."""
    rows = [("figure", "value", "baseline", "ratio", "goal", "ok")]
    for name, m in results.items():
        fig = BY_NAME[name]
        is_ratio = m.baseline is not None
        value = f"{_num(m.ours if m.ours is not None else m.value)} {m.unit}".strip()
        base = f"{_num(m.baseline)} {m.unit}".strip() + (f" ({m.baseline_label})" if m.baseline_label else "") \
            if is_ratio else "—"
        ratio = _num(m.value) if is_ratio else "—"
        goal = f"{fig.op.replace('>=', '≥').replace('<=', '≤')} {_goal(fig.goal)}"
        rows.append((name, value, base, ratio, goal, "✓" if fig.met(m.value) else "✗"))
    for name, why in (unavailable or {}).items():
        fig = BY_NAME[name]
        goal = f"{fig.op.replace('>=', '≥').replace('<=', '≤')} {_goal(fig.goal)}"
        rows.append((name, "not available", why, "—", goal, "—"))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:            # not available on this platform
        return []


def meta(quick: bool, seconds: float, load_before: list[float]) -> dict:
    """Where and how the numbers were measured (the load averages say how busy the machine was)."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("breakout_kit", "ib_insync", "ib_async", "eventkit", "numpy", "pandas", "plotly", "ipywidgets",
                "dask", "distributed", "vectorbt", "numba"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return {
        "mode": "quick" if quick else "full",
        "quick": quick,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "versions": versions,
        "seconds": seconds,
        "load_average_before": load_before,
        "load_average_after": _load(),
    }


def to_json(results: dict[str, Measurement], quick: bool, seconds: float, load_before: list[float],
            unavailable: dict[str, str] | None = None) -> dict:
    """Flat ``{figure: number}`` plus ``meta`` (machine, versions, mode), ``details`` (context numbers) and
    ``unavailable`` (optional figures left out, with the reason)."""
    out: dict = {name: float(m.value) for name, m in results.items()}
    info = meta(quick, seconds, load_before)
    info["details"] = {name: {"ours": m.ours, "baseline": m.baseline, "unit": m.unit, **m.details}
                       for name, m in results.items()}
    info["unavailable"] = dict(unavailable or {})
    out["meta"] = info
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``breakout-kit bench``; returns the exit code: 0 even when goals are missed, 1 when a probe
    failed (its figures are NaN in the table and the JSON), 2 on bad arguments."""
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.list:
        for f in (BROWSER_FIGURES if args.browser else FIGURES):
            print(f"{f.name:30} {f.op} {_goal(f.goal):<10} {f.what}")
        return 0
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        print("error: bench starts its own event loops: run `breakout-kit bench` from a terminal, not inside a "
              "running loop (e.g. a notebook cell)", file=sys.stderr)
        return 2
    names = list(args.only) if args.only else [f.name for f in (BROWSER_FIGURES if args.browser else FIGURES)]
    if any(BY_NAME[n] in BROWSER_FIGURES for n in names) and bench_browser.skip_reason() is not None:
        print(f"skipped browser figures: {bench_browser.skip_reason()}")
        names = [n for n in names if BY_NAME[n] not in BROWSER_FIGURES]
        if not names:
            return 0
    load_before = _load()
    t = time.perf_counter()
    unavailable: dict[str, str] = {}
    results = run(names, args.quick, unavailable=unavailable)
    seconds = time.perf_counter() - t
    bad = [n for n, m in results.items() if not math.isfinite(m.value)]
    print(table(results, markdown=args.markdown, unavailable=unavailable))
    met = sum(BY_NAME[n].met(m.value) for n, m in results.items())
    print(f"\n{'quick' if args.quick else 'full'} run, {seconds:.1f} s; {met}/{len(results)} goals met; "
          f"load average {' '.join(map(str, load_before))} before, {' '.join(map(str, _load()))} after")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(to_json(results, args.quick, seconds, load_before, unavailable), fh, indent=2,
                      default=float)
            fh.write("\n")
    if bad:
        print(f"error: non-finite figure(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["BROWSER_FIGURES", "BY_NAME", "FIGURES", "Figure", "main", "run", "table"]
