"""Helpers for real-browser tests: JupyterLab on loopback, Debian chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser tests skip then
    PlaywrightTimeout = TimeoutError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def browser_skip_reason() -> str | None:
    """Why the browser test cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "Debian chromium is not installed (apt-get install -y chromium); playwright cannot download one"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# JupyterLab's "comms over subshells" (default "perCommTarget": widget messages run on a kernel subshell thread).
SUBSHELLS_SETTING = ("@jupyterlab/apputils-extension", "kernels-settings", "commsOverSubshells")  # plugin id
SUBSHELL_MODES = ("perCommTarget", "disabled")


@contextlib.contextmanager
def jupyter_lab(root: Path, log: Path, env: dict[str, str] | None = None, *, comms_over_subshells: str | None = None):
    """Serve JupyterLab for ``root`` on 127.0.0.1; yields (base_url, token). News popups are switched off.

    ``env`` is added to the server's (and so the kernels') environment; IB_PORT/IB_HOST/IB_CLIENT_ID are removed so
    notebooks use the embedded gateway. ``comms_over_subshells`` overrides that user setting (None: the default).
    """
    token = secrets.token_hex(16)
    port = _free_port()
    settings = root / ".lab-settings"
    notif = settings / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    if comms_over_subshells is not None:
        plugin, name, key = SUBSHELLS_SETTING
        (settings / plugin / f"{name}.jupyterlab-settings").write_text(json.dumps({key: comms_over_subshells}))
    server_env = {k: v for k, v in os.environ.items() if k not in ("IB_PORT", "IB_HOST", "IB_CLIENT_ID")}
    server_env.update(env or {})
    server_env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(root / ".lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=server_env, cwd=root)
        try:
            deadline = time.monotonic() + 60
            while True:  # the server is up when its REST API answers
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"jupyter lab did not answer within 60 s; see {log}") from None
                    time.sleep(0.2)
            yield base, token
        finally:
            # Shut kernels down through the API first so they do not outlive the server.
            with contextlib.suppress(OSError):
                req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
                urllib.request.urlopen(req, timeout=5)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=10)


def open_notebook(page, base: str, token: str, name: str, timeout_ms: int = 90_000) -> None:
    """Open ``name`` in JupyterLab (fresh workspace) and wait until its kernel is idle."""
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    # JupyterLab 4.6 may ask which kernel to use even with kernelspec metadata: accept the default (python3).
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(timeout=8000)
        dialog.click()
    except PlaywrightTimeout:
        pass
    wait_idle(page, timeout_ms)


def run_all(page) -> None:
    """Run > Run All Cells, through the menu like a user."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the status bar says the kernel is idle."""
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')",
                           timeout=timeout_ms)


def cell_errors(page) -> list[str]:
    """Texts of error outputs shown in the notebook."""
    return page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre, "
                        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def console_errors(page) -> list[str]:
    """Start collecting the page's console errors and uncaught exceptions; returns the (growing) list."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


def notebook_dirty(page) -> bool:
    """True when the open notebook's tab shows unsaved changes."""
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty").count() > 0


def restart_kernel(page) -> None:
    """Kernel > Restart Kernel…, and confirm, like a user."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.locator("li.lm-Menu-item[data-command='kernelmenu:restart']").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()


# What the page shows, per Plotly chart (keyed by its title's first word, the symbol): the newest candle's x label,
# the number of candles, and the chart's size. A hook for lag measurements: compare ``last`` with the kernel's newest
# bar (e.g. the panel table's "last bar" column, see panel_table) at the same moment.
PLOTLY_CHARTS_JS = r"""() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
    const x = (gd.data && gd.data[0] && gd.data[0].x) || [];
    const r = gd.getBoundingClientRect();
    const title = ((gd.layout && gd.layout.title && gd.layout.title.text) || '').split(/[\s<]/)[0];
    return [title, {last: x.length ? String(x[x.length - 1]) : null, n: x.length,
                    width: Math.round(r.width), height: Math.round(r.height), mark: gd.dataset.bkMark || null}];
}))"""


def plotly_charts(page) -> dict[str, dict]:
    """Symbol -> {last, n, width, height, mark} for every Plotly chart on the page (see PLOTLY_CHARTS_JS)."""
    return page.evaluate(PLOTLY_CHARTS_JS)


def mark_plotly_charts(page) -> None:
    """Tag every Plotly chart's element with its symbol: a re-created view loses the tag."""
    page.evaluate(r"""() => document.querySelectorAll('.js-plotly-plot').forEach(gd => {
        gd.dataset.bkMark = ((gd.layout && gd.layout.title && gd.layout.title.text) || '').split(/[\s<]/)[0]; })""")


def panel_table(page) -> dict[str, dict]:
    """The panel's watchers table as symbol -> {state, last_bar, last_price, signals} (what the page shows)."""
    rows = page.evaluate("""() => Array.from(document.querySelectorAll('.bk-table tr')).slice(1)
        .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))""")
    return {r[0]: {"state": r[1], "last_bar": r[2], "last_price": r[3], "signals": r[4]} for r in rows if len(r) >= 5}


def error_lines(page) -> list[str]:
    """The panel's error area, one entry per error (newest first): each line without its folded traceback."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.bk-errors .bk-error')).map(e =>
        (e.querySelector('summary') || e).innerText.trim())""")


PLOTLY_CANDLES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(gd => gd.querySelectorAll('.boxlayer path.box').length)"""
