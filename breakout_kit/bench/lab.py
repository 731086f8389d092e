"""The one JupyterLab + chromium driver, for the browser benchmark (``bench/browser.py``) and the browser tests.

JupyterLab on 127.0.0.1 with a token, news and update checks off; Debian ``chromium`` driven by Playwright's Python
package (``apt-get install -y chromium``; Playwright cannot download a browser here). Everything is done like a
person: the Run menu, typing key by key, clicking.
"""

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
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
# JupyterLab's "comms over subshells" (default "perCommTarget": widget messages run on a kernel subshell thread).
SUBSHELLS_SETTING = ("@jupyterlab/apputils-extension", "kernels-settings", "commsOverSubshells")  # plugin id
SUBSHELL_MODES = ("perCommTarget", "disabled")


def skip_reason() -> str | None:
    """Why a browser can't be driven here (one line), or None."""
    if shutil.which("chromium") is None:
        return "Debian chromium is not installed (apt-get install -y chromium); playwright cannot download one"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    try:
        import jupyterlab  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        return "jupyterlab and nbformat are needed (pip install -e '.[lab]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict[str, str] | None = None, *, log: Path | None = None,
                comms_over_subshells: str | None = None) -> Iterator[tuple[str, str]]:
    """Serve JupyterLab for ``root`` on 127.0.0.1; yields (base_url, token). News popups are switched off.

    ``env`` is added to the server's (and so the kernels') environment; IB_PORT/IB_HOST/IB_CLIENT_ID are removed so
    notebooks use the embedded gateway. ``comms_over_subshells`` overrides that user setting (None: the default).
    The server's output goes to ``log`` (default ``root/jupyter.log``).
    """
    token = secrets.token_hex(16)
    port = _free_port()
    log = log or root / "jupyter.log"
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
            deadline = time.monotonic() + 90
            while True:  # the server is up when its REST API answers
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"jupyter lab did not answer within 90 s; see {log}") from None
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=0.2)   # paces the poll; an early exit is seen at the top of the loop
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


def launch(playwright):
    """Debian chromium, headless, through Playwright."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells with the default python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def open_notebook(page, base: str, token: str, name: str, timeout_ms: int = 90_000) -> None:
    """Open ``name`` in JupyterLab (fresh workspace) and wait until its kernel is idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    # JupyterLab 4.6 may ask which kernel to use even with kernelspec metadata: accept the default (python3).
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    with contextlib.suppress(PlaywrightTimeout):
        dialog.wait_for(timeout=8000)
        dialog.click()
    wait_idle(page, timeout_ms)


def run_all(page) -> None:
    """Run > Run All Cells, through the menu like a user."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the status bar says the kernel is idle."""
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')",
                           timeout=timeout_ms)


def restart_kernel(page) -> None:
    """Kernel > Restart Kernel…, and confirm, like a user."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.locator("li.lm-Menu-item[data-command='kernelmenu:restart']").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()


def console_errors(page) -> list[str]:
    """Start collecting the page's console errors and uncaught exceptions; returns the (growing) list."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    return errors


def cell_errors(page) -> list[str]:
    """Texts of error outputs shown in the notebook."""
    return page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre, "
                        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def notebook_dirty(page) -> bool:
    """True when the open notebook's tab shows unsaved changes."""
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.jp-mod-dirty").count() > 0


def wait_or_explain(page, js: str, arg=None, timeout_ms: int = 300_000, what: str = "the charts") -> None:
    """Wait for ``js`` to be true; on timeout raise with the notebook's error output (and keep a screenshot)."""
    import tempfile

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=50)
    except PlaywrightTimeout:
        shot = Path(tempfile.gettempdir()) / "bk-browser-timeout.png"
        with contextlib.suppress(Exception):
            page.locator(".jp-OutputArea").last.scroll_into_view_if_needed(timeout=2000)
        page.screenshot(path=str(shot))
        text = " | ".join(t.strip()[-400:] for t in cell_errors(page)) or "no error output"
        raise RuntimeError(f"{what} did not appear within {timeout_ms / 1000:.0f} s ({text}); "
                           f"screenshot {shot}") from None


# ---- what the page shows ------------------------------------------------------------------------------------
# Per live chart (LiveChart's Plotly view or CanvasChart's canvas), keyed by symbol: the newest bar shown (its
# wall-clock time as epoch seconds), the number of bars, the size, and a mark set by mark_charts (a re-created view
# loses it).
CHARTS_JS = r"""() => Object.fromEntries([
  ...Array.from(document.querySelectorAll('.bk-plotly')).map(gd => [gd.dataset.symbol, gd]),
  ...Array.from(document.querySelectorAll('.bk-canvas')).map(box => [
      (box.querySelector('.bk-title')?.firstChild?.textContent || '').trim(), box]),
].filter(([s, e]) => s).map(([symbol, e]) => {
  const r = e.getBoundingClientRect();
  return [symbol, {last: e.dataset.last ? +e.dataset.last : null, n: +(e.dataset.bars || 0),
                   width: Math.round(r.width), height: Math.round(r.height), mark: e.dataset.bkMark || null}];
}))"""

# Candles drawn per Plotly chart (SVG boxes: what a person sees).
PLOTLY_CANDLES_JS = """() => Array.from(document.querySelectorAll('.bk-plotly'))
    .map(gd => gd.querySelectorAll('.boxlayer path.box').length)"""


def charts(page) -> dict[str, dict]:
    """Symbol -> {last, n, width, height, mark} for every live chart on the page (see CHARTS_JS)."""
    return page.evaluate(CHARTS_JS)


def mark_charts(page) -> None:
    """Tag every live chart's element with its symbol: a re-created view loses the tag."""
    page.evaluate(r"""() => {
        document.querySelectorAll('.bk-plotly').forEach(gd => { gd.dataset.bkMark = gd.dataset.symbol; });
        document.querySelectorAll('.bk-canvas').forEach(box => {
            box.dataset.bkMark = (box.querySelector('.bk-title')?.firstChild?.textContent || '').trim(); });
    }""")


# The panel's table, read by its header names (columns come and go: "kind" was added).
TABLE_JS = r"""() => {
  const rows = Array.from(document.querySelectorAll('.bk-table tr'));
  if (!rows.length) return {};
  const head = Array.from(rows[0].querySelectorAll('th')).map(th => th.innerText.trim());
  return Object.fromEntries(rows.slice(1).map(tr => {
    const cells = Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim());
    return [cells[0], Object.fromEntries(head.map((h, i) => [h, cells[i]]))];
  }).filter(([symbol]) => symbol));
}"""


def panel_table(page) -> dict[str, dict]:
    """The panel's watchers table as symbol -> {state, last_bar, last_price, signals} (what the page shows)."""
    rows = page.evaluate(TABLE_JS)
    return {symbol: {"state": r.get("state"), "last_bar": r.get("last bar"), "last_price": r.get("last price"),
                     "signals": r.get("signals")} for symbol, r in rows.items()}


def error_lines(page) -> list[str]:
    """The panel's error area, one entry per error (newest first): each line without its folded traceback."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.bk-errors .bk-error')).map(e =>
        (e.querySelector('summary') || e).innerText.trim())""")


def type_and_click(page, text: str, button: str = ".bk-start") -> None:
    """Type into the panel's symbol box like a person (key by key) and click at once: no wait before the click."""
    box = page.locator(".bk-symbol")
    box.fill("")
    box.press_sequentially(text)
    page.locator(button).click()


def wait_table(page, symbol: str, state: str, timeout: int = 60_000) -> None:
    """Wait until the panel's table shows ``symbol`` in ``state``."""
    page.wait_for_function(f"""([sym, state]) => {{ const row = ({TABLE_JS})()[sym];
        return !!row && (row.state || '').startsWith(state); }}""", arg=[symbol, state], timeout=timeout)
