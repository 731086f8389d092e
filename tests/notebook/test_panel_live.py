"""The panel and charts against the real stack: connect() -> embedded PaperGateway -> IBClient -> BreakoutWatcher."""

from __future__ import annotations

import asyncio


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
