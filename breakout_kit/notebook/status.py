"""The panel's connection line and watchers table, as HTML from plain values (no widgets, no client calls)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from breakout_kit.client.config import mask_account
from breakout_kit.watch.protocols import ClientView

# The status line must not keep saying "connected" after the kernel is gone: on a kernel restart JupyterLab's
# widget manager marks every old widget view with the class ``jupyter-widgets-disconnected``; this CSS then swaps the
# connection text for a "kernel gone" one, in the browser, with no message from the (dead) kernel.
_STATUS_CSS = ("<style>.bk-status .bk-gone{display:none}"
               ".bk-status.jupyter-widgets-disconnected .bk-live{display:none}"
               ".bk-status.jupyter-widgets-disconnected .bk-gone{display:inline}</style>")
_GONE = ("<span class='bk-gone'><b>connection:</b> <span style='color:#c62828'>&#9679; kernel gone</span>"
         " (restarted or shut down): this panel is inactive; run its cell again</span>")
_COLORS = {"connected": "#2e7d32", "reconnecting": "#f9a825", "connecting": "#f9a825"}


def status_html(client: ClientView | None) -> str:
    """``connection: ● connected 127.0.0.1:4002 DU***4567 paper · read-only`` (or "no client")."""
    if client is None:
        live = "<b>connection:</b> no client (charts and table follow watchers you add)"
    else:
        settings = client.settings
        where = f"{settings.host}:{settings.port}" if settings is not None else ""
        account = mask_account(client.account) if client.account else ""  # panels end up in screenshots
        kind = "" if not account else (" paper" if client.paper else " <b>LIVE</b>")
        trading = "trading enabled" if client.trading else "read-only"
        color = _COLORS.get(client.state, "#c62828")
        live = (f"<b>connection:</b> <span style='color:{color}'>&#9679; {html.escape(client.state)}</span>"
                f" {html.escape(where)} {html.escape(account)}{kind} &middot; {trading}")
    return f"{_STATUS_CSS}<span class='bk-live'>{live}</span>{_GONE}"


def fmt_time(value, tz=None) -> str:
    """A bar or signal time in the panel's one time zone, to the second."""
    if value is None:
        return ""
    try:
        if tz is not None and getattr(value, "tzinfo", None) is not None:   # datetimes and Timestamps alike
            value = value.astimezone(tz)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    except AttributeError:
        return str(value)


def fmt_price(price: float) -> str:
    """A price as a trader reads it: 2 decimals, 5 below 10 (forex: 1.08235, 6E)."""
    return f"{price:.5f}" if abs(price) < 10 else f"{price:.2f}"


def watchers_table_html(rows: list[dict[str, Any]], lag: Mapping[str, float | None], tz=None) -> str:
    """The watchers table from ``Watchlist.rows()``; ``lag`` maps a symbol to its chart's lag in seconds when the
    chart is behind (stale), else None."""
    head = ("<tr><th>symbol</th><th>kind</th><th>state</th><th>last bar</th><th>last price</th><th>signals</th>"
            "<th>backfill</th><th>last signal</th><th>chart</th></tr>")
    out = []
    for r in rows:
        last = r["last_signal"]
        state = r["state"] if not (r["state"] == "failed" and r["error"]) else f"failed: {r['error']}"
        last_sig = f"{last.direction} @ {fmt_price(last.price)} ({fmt_time(last.time, tz)})" if last else ""
        behind = lag.get(r["symbol"])
        view = "" if behind is None else (f"<span class='bk-stale' style='color:#c62828'>&#9888; {behind:.0f} s "
                                          "behind</span>")
        price = "" if r["last_bar"] is None else fmt_price(r["last_price"])
        out.append(f"<tr><td><b>{html.escape(r['symbol'])}</b></td><td>{html.escape(r.get('kind', ''))}</td>"
                   f"<td>{html.escape(state)}</td>"
                   f"<td>{fmt_time(r['last_bar'], tz)}</td><td>{price}</td><td>{r['signals']}</td>"
                   f"<td>{r['backfill_signals']}</td><td>{html.escape(last_sig)}</td><td>{view}</td></tr>")
    if not out:
        out.append("<tr><td colspan='9'><i>no watchers yet: enter a symbol and press Start</i></td></tr>")
    return ("<table style='border-collapse:collapse;font-family:monospace' cellpadding='4'>" + head + "".join(out)
            + "</table>")
