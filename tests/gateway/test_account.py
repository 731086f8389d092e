"""The paper account through the unmodified IB client: positions, account values, portfolio marks, account summary,
PnL — consistent with the fills and with the gateway's own price truth."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from breakout_kit.client.iblib import MarketOrder
from breakout_kit.gateway.sim.portfolio import MIN_REFRESH_INTERVAL, REFRESH_SECONDS

from .conftest import collect_errors, connect, wait_until
from .trading import AAPL, MSFT, fast_gateway, status, trader, value

pytestmark = pytest.mark.ib


async def test_fresh_account_at_connect(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        assert ib.positions() == [] and ib.portfolio() == []
        assert value(ib, "NetLiquidation") == value(ib, "TotalCashValue") == 1_000_000.0
        assert value(ib, "BuyingPower") == 4 * value(ib, "AvailableFunds") == 4_000_000.0
        assert value(ib, "UnrealizedPnL") == value(ib, "RealizedPnL") == 0.0
        assert {v.value for v in ib.accountValues() if v.tag == "AccountCode"} == {"DU1234567"}


async def test_account_values_and_portfolio_follow_a_fill(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 100))
        await status(ib, trade, "Filled")
        price = trade.orderStatus.avgFillPrice
        cash = 1_000_000 - 100 * price - 1.0
        await wait_until(ib, lambda: abs(value(ib, "TotalCashValue") - cash) < 0.01, what="cash after the fill")
        await wait_until(ib, lambda: ib.portfolio(), what="the portfolio line after the fill")   # its own message
        [item] = ib.portfolio()
        assert item.contract.symbol == "AAPL" and item.position == 100
        assert item.averageCost == pytest.approx(price + 0.01)            # IB's average cost includes commission
        assert item.marketValue == pytest.approx(100 * item.marketPrice)
        assert item.unrealizedPNL == pytest.approx((item.marketPrice - item.averageCost) * 100, abs=0.01)
        # the mark is the close of the latest completed 5-second bar (the gateway's truth)
        fill_time = trade.fills[0].execution.time
        [bar] = gateway.history("AAPL", 5, fill_time - timedelta(seconds=5), fill_time)
        assert item.marketPrice == bar.close
        assert value(ib, "NetLiquidation") == pytest.approx(cash + item.marketValue, abs=0.01)
        assert value(ib, "GrossPositionValue") == pytest.approx(item.marketValue, abs=0.01)
        assert value(ib, "UnrealizedPnL") == pytest.approx(item.unrealizedPNL, abs=0.01)
        assert value(ib, "AvailableFunds") == pytest.approx(value(ib, "NetLiquidation") - 0.25 * item.marketValue,
                                                            abs=0.01)


async def test_portfolio_is_marked_to_market_every_three_simulated_minutes(session_open, client_id):
    async with fast_gateway(session_open, speed=600.0) as gw, trader(gw, client_id) as ib:
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 10))
        await status(ib, trade, "Filled")
        await wait_until(ib, lambda: ib.portfolio(), what="portfolio item")
        updates = []
        ib.updatePortfolioEvent += updates.append
        await wait_until(ib, lambda: len(updates) >= 2, timeout=10, what="two periodic refreshes")
        for item in updates:
            assert item.marketValue == pytest.approx(10 * item.marketPrice)
        # refreshes carry a real 5-second close of the gateway's market (at 600x three minutes pass in 0.3 s, so on
        # a busy machine the refresh runs a few bars after its boundary: accept any close of the last 6 minutes)
        now = gw.now()
        marks = {b.close for b in gw.history("AAPL", 5, now - timedelta(minutes=6), now + timedelta(seconds=5))}
        assert updates[-1].marketPrice in marks


async def test_a_fast_clock_refreshes_the_account_at_most_once_a_real_second(session_open, client_id):
    # at 6000x three simulated minutes last 30 ms: a refresh per 180 simulated seconds would flood the client
    async with fast_gateway(session_open, speed=6000.0) as gw, trader(gw, client_id) as ib:
        loop = asyncio.get_running_loop()
        refreshes: list[tuple[float, datetime]] = []      # (real arrival, gateway clock) of each refresh
        # the account time (message 8) closes every full account refresh, once per refresh
        ib.wrapper.updateAccountTime = lambda _stamp: refreshes.append((loop.time(), gw.now()))
        await wait_until(ib, lambda: len(refreshes) >= 3, timeout=10, what="three periodic refreshes")
        real = [b[0] - a[0] for a, b in pairwise(refreshes)]
        simulated = [(b[1] - a[1]).total_seconds() for a, b in pairwise(refreshes)]
        # arrivals, not sends: a busy loop may read one refresh late (a GC pause), so only half the interval is sure
        assert min(real) >= MIN_REFRESH_INTERVAL / 2, real
        assert min(simulated) >= 10 * REFRESH_SECONDS, simulated   # many 3-minute boundaries were skipped


async def test_positions_are_account_wide_and_stream(gateway, client_id):
    async with connect(gateway, client_id + 5000) as watcher, trader(gateway, client_id) as ib:
        assert await watcher.reqPositionsAsync() == []
        trade = ib.placeOrder(MSFT, MarketOrder("SELL", 40))      # a short position
        await status(ib, trade, "Filled")
        await wait_until(watcher, lambda: watcher.positions(), what="position pushed to the other client")
        [p] = watcher.positions()
        assert (p.contract.symbol, p.contract.conId, p.position, p.account) == ("MSFT", 272093, -40, "DU1234567")
        assert p.avgCost == pytest.approx(trade.orderStatus.avgFillPrice - 1.0 / 40)   # proceeds net of commission
        cover = ib.placeOrder(MSFT, MarketOrder("BUY", 40))
        await status(ib, cover, "Filled")
        await wait_until(watcher, lambda: not watcher.positions(), what="flat again")
        assert await watcher.reqPositionsAsync() == []


async def test_account_summary_answers_and_updates_on_fills(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        rows = await ib.accountSummaryAsync()
        tags = {v.tag for v in rows}
        assert {"NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds", "ExcessLiquidity",
                "InitMarginReq", "CashBalance", "UnrealizedPnL", "RealizedPnL"} <= tags
        assert value(ib, "NetLiquidation", summary=True) == 1_000_000.0
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 100))
        await status(ib, trade, "Filled")
        cash = 1_000_000 - 100 * trade.orderStatus.avgFillPrice - 1.0
        await wait_until(ib, lambda: abs(value(ib, "TotalCashValue", summary=True) - cash) < 0.01,
                         what="summary update after the fill")
        assert value(ib, "InitMarginReq", summary=True) > 0


async def test_account_summary_bad_tags_and_cancel(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        req_id = ib.client.getReqId()
        ib.client.reqAccountSummary(req_id, "All", "NetLiquidation,NoSuchTag")
        await wait_until(ib, lambda: errors, what="error")
        assert errors[0][:2] == (req_id, 321) and "NoSuchTag" in errors[0][2]
        ok = ib.client.getReqId()
        ib.client.reqAccountSummary(ok, "All", "NetLiquidation")
        await ib.reqCurrentTimeAsync()
        assert len(gateway.orders.portfolio.summary_subs) == 1
        ib.client.cancelAccountSummary(ok)
        await ib.reqCurrentTimeAsync()
        assert gateway.orders.portfolio.summary_subs == {}


async def test_pnl_and_pnl_single(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        pnl = ib.reqPnL("DU1234567")
        single = ib.reqPnLSingle("DU1234567", "", 265598)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 50))
        await status(ib, trade, "Filled")
        await wait_until(ib, lambda: single.position == 50, what="pnlSingle position")
        await wait_until(ib, lambda: [i.unrealizedPNL for i in ib.portfolio()] == [pnl.unrealizedPnL],
                         timeout=5, what="pnl consistent with the portfolio")
        assert single.value == pytest.approx(50 * ib.portfolio()[0].marketPrice)
        ib.cancelPnL("DU1234567")
        ib.cancelPnLSingle("DU1234567", "", 265598)
        await ib.reqCurrentTimeAsync()
        assert not gateway.orders.portfolio.streams_pnl


async def test_round_trip_books_realized_pnl(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        buy = ib.placeOrder(AAPL, MarketOrder("BUY", 200))
        await status(ib, buy, "Filled")
        sell = ib.placeOrder(AAPL, MarketOrder("SELL", 200))
        await status(ib, sell, "Filled")
        await wait_until(ib, lambda: sell.fills and sell.fills[-1].commissionReport.execId, what="commission")
        expected = (sell.orderStatus.avgFillPrice - buy.orderStatus.avgFillPrice) * 200 - 2.0
        assert sell.fills[-1].commissionReport.realizedPNL == pytest.approx(expected, abs=1e-6)
        await wait_until(ib, lambda: abs(value(ib, "RealizedPnL") - expected) < 0.01, what="realized in account")
        assert value(ib, "NetLiquidation") == pytest.approx(1_000_000 + expected, abs=0.01)
        assert ib.positions() == []


async def test_account_updates_multi_and_positions_multi(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 5))
        await status(ib, trade, "Filled")
        multi = []
        ib.accountValueEvent += multi.append
        await ib.reqAccountUpdatesMultiAsync("DU1234567")          # resolves on accountUpdateMultiEnd (74)
        tags = {v.tag for v in multi}
        assert {"NetLiquidation", "TotalCashValue", "UnrealizedPnL"} <= tags
        seen = []
        ib.wrapper.positionMulti = lambda req_id, account, model, contract, pos, avg: seen.append(
            (account, contract.symbol, pos))
        ib.client.reqPositionsMulti(ib.client.getReqId(), "DU1234567", "")
        await wait_until(ib, lambda: seen, what="positionMulti")
        assert seen == [("DU1234567", "AAPL", 5.0)]
