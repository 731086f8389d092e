"""The pure fill rules (sim/fills.py) on one bar: where a triggered stop fills."""

from __future__ import annotations

from breakout_kit.gateway.sim.fills import BarCents, fill_price


def test_a_triggered_stop_slips_half_the_quotes_spread():
    # a future (ES, tick 0.25 = 25 cents): one tick, so the fill stays on the tick grid
    es = BarCents(open=617800, high=617850, low=617600, close=617650, volume=500, half=25)
    assert fill_price("STP", False, es, None, 617750, True, True) == 617650 - 25
    assert fill_price("STP", True, es, None, 617550, True, True) == 617650 + 25
    assert es.bid == 617650 - 25 and es.ask == 617650 + 25
    # a stock: one basis point of the close (here 3 cents), the same spread as its quote
    aapl = BarCents(open=25650, high=25700, low=25600, close=25640, volume=9000)
    assert fill_price("STP", False, aapl, None, 25660, True, True) == 25640 - 3
    assert aapl.bid == 25640 - 3
