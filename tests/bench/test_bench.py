"""`breakout-kit bench`: every figure comes out as a finite number (timings themselves are never asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from breakout_kit.bench import main as bench
from breakout_kit.bench.cpu import Measurement
from breakout_kit.bench.research import Unavailable

FIGURE_NAMES = [
    "detector_stream_bars_per_s", "scan_vs_pandas_ratio", "backtest_1m_bars_s", "watchers_100_dispatch_ratio",
    "signal_latency_vs_raw_ratio", "signal_latency_1w_p99_ms", "ingest_sp500_1y_1min_days", "ingest_pacing_violations",
    "watcher_mem_growth_mb", "chart_update_cost_ratio", "gateway_encode_msgs_per_s", "gateway_loop_stall_max_ms",
    "gateway_orders_per_s_state", "gateway_state_cost_ratio", "sweep_vs_vectorbt_ratio",
    "dask_scaling_efficiency",
]
#: may be absent when an optional package is missing (vectorbt: the "bench" extra)
OPTIONAL = {"sweep_vs_vectorbt_ratio"}


def test_figure_names_are_the_interface():
    assert [f.name for f in bench.FIGURES] == FIGURE_NAMES
    assert {f.name for f in bench.FIGURES if f.optional} == OPTIONAL


@pytest.mark.timeout(960)    # under a minute alone; ~5 min seen beside two CPU hogs (the timeout only bounds a hang)
def test_quick_run_writes_every_figure_as_a_finite_number(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "breakout_kit.cli", "bench", "--quick", "--json",
         str(out)], check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    meta = data["meta"]
    absent = set(meta["unavailable"])
    assert absent <= OPTIONAL                      # only optional figures may be left out, each with its reason
    assert set(data) == {*FIGURE_NAMES, "meta"} - absent
    for name in set(FIGURE_NAMES) - absent:
        assert isinstance(data[name], float) and math.isfinite(data[name]), (name, data[name])
    assert meta["quick"] is True and meta["mode"] == "quick"
    assert {"date", "python", "machine", "versions", "cpus"} <= set(meta)
    assert "ib_insync" in meta["versions"] or "ib_async" in meta["versions"]
    # the table names every figure, with a verdict each
    for name in FIGURE_NAMES:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(name + " "))
        if name in absent:
            assert "not available" in line and f"{name}: not available" in proc.stderr, line
        else:
            assert line.rstrip().endswith(("✓", "✗")), line
    assert "bench" in proc.stderr          # the progress bar went to stderr


def test_only_runs_the_named_figure_in_process(tmp_path, capsys):
    out = tmp_path / "enc.json"
    assert bench.main(["--quick", "--only", "gateway_encode_msgs_per_s", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"gateway_encode_msgs_per_s", "meta"}
    assert data["gateway_encode_msgs_per_s"] > 0
    assert data["meta"]["details"]["gateway_encode_msgs_per_s"]["messages"] == 100_000
    assert "gateway_encode_msgs_per_s" in capsys.readouterr().out


def test_unknown_figure_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--only", "no_such_figure"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown figure(s) no_such_figure" in err and "detector_stream_bars_per_s" in err


def test_list_prints_goals(capsys):
    assert bench.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == FIGURE_NAMES


def test_table_shows_ratio_and_verdict():
    text = bench.table({
        "scan_vs_pandas_ratio": Measurement(3.0, 3e6, 1e6, unit="bars/s", baseline_label="pandas rolling"),
        "backtest_1m_bars_s": Measurement(2.5, 2.5, unit="s"),
    })
    scan_line, backtest_line = text.splitlines()[1:]
    assert "3.00 M bars/s" in scan_line and "1.00 M bars/s (pandas rolling)" in scan_line
    assert scan_line.endswith("✓") and backtest_line.endswith("✗")
    assert "≤ 2" in backtest_line


def test_a_failing_probe_is_reported_and_the_others_still_run(monkeypatch, tmp_path, capsys):
    def broken(quick):
        raise TimeoutError("gateway sent nothing")

    figure = bench.BY_NAME["backtest_1m_bars_s"]
    monkeypatch.setitem(bench.BY_NAME, figure.name, bench.Figure(figure.name, broken, figure.op, figure.goal,
                                                                  figure.what))
    out = tmp_path / "b.json"
    code = bench.main(["--quick", "--only", "backtest_1m_bars_s", "gateway_encode_msgs_per_s", "--json", str(out)])
    assert code == 1
    captured = capsys.readouterr()
    assert "error: broken failed: TimeoutError: gateway sent nothing" in captured.err
    assert "non-finite figure(s): backtest_1m_bars_s" in captured.err
    data = json.loads(out.read_text())
    assert math.isnan(data["backtest_1m_bars_s"]) and data["gateway_encode_msgs_per_s"] > 0


def test_an_optional_figure_can_be_unavailable_but_a_required_one_cannot(monkeypatch, tmp_path, capsys):
    def missing(quick):
        raise Unavailable('vectorbt is not installed (pip install -e ".[bench]")')

    for name in ("sweep_vs_vectorbt_ratio", "gateway_encode_msgs_per_s"):
        f = bench.BY_NAME[name]
        monkeypatch.setitem(bench.BY_NAME, name, bench.Figure(name, missing, f.op, f.goal, f.what, f.optional))
    out = tmp_path / "o.json"
    assert bench.main(["--quick", "--only", "sweep_vs_vectorbt_ratio", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "sweep_vs_vectorbt_ratio: not available (vectorbt is not installed" in captured.err
    line = next(ln for ln in captured.out.splitlines() if ln.startswith("sweep_vs_vectorbt_ratio"))
    assert "not available" in line
    data = json.loads(out.read_text())
    assert "sweep_vs_vectorbt_ratio" not in data and "vectorbt" in data["meta"]["unavailable"]["sweep_vs_vectorbt_ratio"]
    # a required figure that cannot be measured is a failure, not a quiet gap
    assert bench.main(["--quick", "--only", "gateway_encode_msgs_per_s"]) == 1
    assert "a required figure is unavailable" in capsys.readouterr().err


async def test_refuses_to_run_inside_an_event_loop(capsys):
    assert bench.main(["--only", "gateway_encode_msgs_per_s"]) == 2
    assert "not inside a running loop" in capsys.readouterr().err
