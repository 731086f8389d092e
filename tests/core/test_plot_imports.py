"""The research plots stay light: ``.plot()`` of a backtest, a portfolio or a walk-forward imports plotly and our
figure module, never the IB client library nor a widget library (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("ib_insync", "ib_async", "eventkit", "ipywidgets", "anywidget", "breakout_kit.client",
         "breakout_kit.notebook.chart", "breakout_kit.notebook.panel")

SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import pandas as pd
    from breakout_kit import BreakoutRule, backtest, portfolio
    from breakout_kit.core.walkforward import WalkForwardResult

    index = pd.date_range("2026-01-05 14:30", periods=600, freq="1min", tz="UTC")
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.001, len(index))))
    bars = pd.DataFrame({"open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                         "volume": 1000.0}, index=index)
    rule = BreakoutRule(lookback=10)
    figs = [backtest(bars, rule, take_profit_pct=0.5, stop_loss_pct=0.5).plot(),
            portfolio({"X": bars}, rule, take_profit_pct=0.5, stop_loss_pct=0.5, benchmark=None).plot(),
            WalkForwardResult(folds=pd.DataFrame(), stitched=pd.DataFrame(),
                              equity=pd.DataFrame({"X": close}, index=index)).plot()]
    assert all(len(f.data) for f in figs)
    print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY_ROOTS} or m in {HEAVY})))
''')


def test_plots_import_no_ib_and_no_widget_library():
    roots = {h.split(".")[0] for h in HEAVY if not h.startswith("breakout_kit")}
    script = SCRIPT.replace("{HEAVY_ROOTS}", repr(roots)).replace("{HEAVY}", repr(set(HEAVY)))
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [], f"plot() imported {out.stdout.strip()}"
