"""Every notebook runs top to bottom (like Run All) in a real kernel against the embedded gateway, via nbclient."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from breakout_kit.connection import SPEED_ENV

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("01_quickstart", "02_research_backtest", "03_paper_trading", "04_futures_forex")


# The tutorials run the embedded gateway at 300x for people; under test 3x faster (same prices, same signals).
TEST_SPEED = "900"


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 120) -> nbformat.NotebookNode:
    """Run all cells in a fresh python3 kernel (the venv's ipykernel); raises CellExecutionError on an error."""
    env = {k: v for k, v in os.environ.items() if k not in ("IB_PORT", "IB_HOST", "IB_CLIENT_ID")}
    env[SPEED_ENV] = TEST_SPEED
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    return client.execute(env=env)  # no IB_PORT: the notebooks start the embedded gateway


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


ACCOUNT = "DU1234567"  # the embedded gateway's paper account: shown masked (DU***4567) or not at all


def everything_shown(nb) -> str:
    """Every output a reader could see: text, plain and HTML representations, and the widgets' values."""
    models = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    values = [{k: v for k, v in m.get("state", {}).items() if not k.startswith("_")}  # not code, not plumbing
              for m in models.values()]
    return "\n".join(json.dumps(out) for cell in nb.cells for out in cell.get("outputs", [])) + json.dumps(values)


def stderr_of(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr")



@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    ran = execute(nb, tmp_path)
    text = outputs_text(ran)
    assert all(c.get("execution_count") for c in ran.cells if c.cell_type == "code")
    assert "Traceback" not in stderr_of(ran)
    assert "Warning" not in stderr_of(ran)  # a reader sees any warning as something broken
    shown = everything_shown(ran)
    assert ACCOUNT not in shown and not re.search(r"\bDU\d{5,}", shown)  # masked in every output (DU***4567)
    if name != "02_research_backtest":
        assert "DU***4567" in shown
    for utc in ("+00:00", "UTC"):  # one clock on screen: New York
        at = shown.find(utc)
        assert at < 0, shown[max(0, at - 300):at + 100]
    if name == "01_quickstart":
        assert "breakout at" in text and "'stopped'" in text
    elif name == "03_paper_trading":
        assert "breakout at" in text and "account=DU***" in text
        assert re.search(r"SPY\s+10\s", text)  # the position in shares: 10, not 10.0
    elif name == "04_futures_forex":
        assert "/ES is ESZ6: FUT on CME, multiplier 50, tick 0.25" in text and "EURUSD: live" in text
        assert re.search(r"points x 50 - 2 x 2\.25 = [-+][\d,]+\.\d\d USD", text)


SYNC_CELLS = [
    "import asyncio\nfrom breakout_kit.notebook import enable_sync_calls, sync_calls_enabled",
    "{enable}",
    "await asyncio.sleep(0.01)\nloop = asyncio.get_running_loop()\nprint('top-level await ok')",
    "task = asyncio.ensure_future(asyncio.sleep(0.05, result='background ok'))",
    "print(await task)",
    "{sync_call}",
    "print('enabled' if sync_calls_enabled() else 'disabled', 'end')",
]


@pytest.mark.parametrize("enabled", [True, False], ids=["sync-calls-on", "sync-calls-off"])
def test_run_all_with_and_without_sync_calls(enabled, tmp_path):
    """Run All keeps working with the opt-in patch on (then blocking calls work in cells) and off."""
    sync_call = ("print(asyncio.get_event_loop().run_until_complete(asyncio.sleep(0.01, result='sync ok')))"
                 if enabled else "print('no sync call')")
    cells = [c.format(enable="print(enable_sync_calls())" if enabled else "pass", sync_call=sync_call)
             for c in SYNC_CELLS]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    text = outputs_text(execute(nb, tmp_path, timeout=60))
    assert "top-level await ok" in text and "background ok" in text
    if enabled:
        assert "True" in text and "sync ok" in text and "enabled end" in text
    else:
        assert "disabled end" in text


def test_quickstart_runs_with_sync_calls_enabled(tmp_path):
    """The full quickstart with enable_sync_calls() on, plus a blocking ib_insync call in a cell."""
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("from breakout_kit.notebook import enable_sync_calls\n"
                                                 "enable_sync_calls()"))
    connect_at = next(i for i, c in enumerate(nb.cells) if "await connect(" in c.source)
    nb.cells.insert(connect_at + 1, nbformat.v4.new_code_cell(
        "print('server time', client.ib.reqCurrentTime())"))  # a blocking call, allowed only with the patch
    text = outputs_text(execute(nb, tmp_path))
    assert "server time" in text and "breakout at" in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_saved_clean(name):
    """Saved without outputs, and with the metadata JupyterLab writes on open, so opening one changes nothing.

    JupyterLab replaces ``language_info`` with the kernel's on open (a different one marks the notebook modified);
    only its ``version`` depends on the machine's Python (the browser test pins the copy it opens to this one).
    """
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    from ipykernel.ipkernel import IPythonKernel

    kernel_says = {k: v for k, v in IPythonKernel.language_info.items() if k != "version"}
    saved = {k: v for k, v in nb.metadata["language_info"].items() if k != "version"}
    assert saved == kernel_says
    assert nb.metadata["kernelspec"]["name"] == "python3"
