"""The panel and charts against the real stack: connect() -> embedded PaperGateway -> IBClient -> BreakoutWatcher."""

from __future__ import annotations

import asyncio

import pytest


def stderr_text(output) -> str:
    return "".join(o.get("text", "") for o in output.outputs if o.get("name") == "stderr")


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

        panel.symbol.value = "AAPL"
        panel.start_button.click()
        watcher = await asyncio.wait_for(panel.tasks.last, 30)
        assert panel.watchers["AAPL"] is watcher
        sym, signal = await panel.next_signal(timeout=60)
        assert sym is watcher and signal.direction == "up"
        chart = panel.charts["AAPL"]
        chart.flush()
        assert chart.n_bars >= 21 and chart.n_markers >= 1
        assert watcher.state == "live" and "AAPL" in panel.table.value

        panel.symbol.value = "NOSUCHSYM"
        panel.start_button.click()
        with pytest.raises(ValueError):
            await asyncio.wait_for(panel.tasks.last, 30)
        assert "NOSUCHSYM" in stderr_text(panel.output) and "NOSUCHSYM" not in panel.watchers

        await panel.aclose()
        assert watcher.state == "stopped"
    finally:
        await disconnect(client)
    assert embedded_gateway(client) is None
