"""The panel and charts against the real stack: connect() -> embedded PaperGateway -> IBClient -> BreakoutWatcher."""

from __future__ import annotations

import asyncio

import pytest


async def test_button_starts_real_watcher_chart_gets_bars_and_signal_marker(monkeypatch, client_id):
    from conftest import SESSION_OPEN

    from breakout_kit.core.breakout import BreakoutRule
    from breakout_kit.notebook import ControlPanel, connect, disconnect, embedded_gateway

    monkeypatch.delenv("IB_PORT", raising=False)
    client = await connect(client_id=client_id, speed=600, seed=0, start=SESSION_OPEN, pacing="off")
    try:
        gw = embedded_gateway(client)
        assert gw is not None and client.connected
        panel = ControlPanel(client, symbols=gw.symbols(), rule=BreakoutRule(lookback=20), throttle=0.05)
        assert "connected" in panel.status.value
        assert all(w.disabled for w in panel._trading_widgets)  # read-only client

        panel.symbol.submit("start", "AAPL")  # what a click on Start sends
        await asyncio.wait_for(panel.settle(), 30)
        watcher = panel.watchers["AAPL"]
        sym, signal = await panel.next_signal(timeout=60)
        assert sym is watcher and signal.direction == "up"
        chart = panel.charts["AAPL"]
        chart.flush()
        assert chart.n_bars >= 21 and chart.n_markers >= 1
        assert watcher.state == "live" and "AAPL" in panel.table.value

        panel.symbol.submit("start", "NOSUCHSYM")
        await asyncio.wait_for(panel.settle(), 30)
        assert panel.errors.text().startswith("start NOSUCHSYM: ContractError:"), panel.errors.text()
        assert "\n" not in panel.errors.text() and "NOSUCHSYM" not in panel.watchers

        await panel.aclose()
        assert watcher.state == "stopped"
    finally:
        await disconnect(client)
    assert embedded_gateway(client) is None


# three backfills and three go-lives, each bounded by its own wait below: the test's timeout only bounds a hang
# (~10 s alone; past 120 s beside two CPU hogs)
@pytest.mark.timeout(400)
async def test_symbol_box_starts_forex_futures_and_an_index_and_shows_their_kind(monkeypatch, client_id):
    from conftest import SESSION_OPEN

    from breakout_kit.notebook import ControlPanel, connect, disconnect
    from breakout_kit.notebook.status import watchers_table_html

    monkeypatch.delenv("IB_PORT", raising=False)
    client = await connect(client_id=client_id, speed=600, seed=0, start=SESSION_OPEN, pacing="off")
    try:
        panel = ControlPanel(client, throttle=0.05)
        for text in ("EURUSD", "/ES", "SPX"):
            panel.symbol.submit("start", text)
            await asyncio.wait_for(panel.settle(), 30)
        assert panel.errors.text() == "", panel.errors.text()
        for sym, kind in (("EURUSD", "forex"), ("/ES", "future"), ("SPX", "index")):
            watcher = panel.watchers[sym]
            await asyncio.wait_for(_state(watcher, "live"), 30)
            assert f"<b>{sym}</b></td><td>{kind}</td>" in watchers_table_html(panel.watchlist.rows(), {})
        await panel.aclose()
    finally:
        await disconnect(client)


async def _state(watcher, wanted):
    """Return once ``watcher`` is in state ``wanted`` (awaits its state events; fails if it ends otherwise)."""
    got = asyncio.get_running_loop().create_future()

    def on_state(_w, state):
        if not got.done() and (state == wanted or state in ("failed", "stopped")):
            got.set_result(state)

    watcher.state_event += on_state
    try:
        state = watcher.state if watcher.state in (wanted, "failed", "stopped") else await got
    finally:
        watcher.state_event -= on_state
    assert state == wanted, (watcher.symbol, state, watcher.error)
