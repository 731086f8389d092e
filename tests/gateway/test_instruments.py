"""Futures, indexes and forex through the real client: contract details with TWS's fields, continuous and expiry
history, forex quotes only, no orders on an index."""

from datetime import date, datetime, timedelta

import pytest

from breakout_kit.client.iblib import ContFuture, Forex, Future, Index, LimitOrder, Stock
from breakout_kit.gateway.sim.universe import universe

from .conftest import collect_errors, wait_until

pytestmark = pytest.mark.ib

#: root -> (exchange as TWS names it, multiplier, tick); the shared gateway's date is 2026-11-23
FUTURES = {"ES": ("CME", "50", 0.25), "MES": ("CME", "5", 0.25), "NQ": ("CME", "20", 0.25), "YM": ("CBOT", "5", 1.0),
           "RTY": ("CME", "50", 0.1), "CL": ("NYMEX", "1000", 0.01), "GC": ("COMEX", "100", 0.1),
           "SI": ("COMEX", "5000", 0.005), "ZN": ("CBOT", "1000", 1 / 64), "ZB": ("CBOT", "1000", 1 / 32),
           "6E": ("CME", "125000", 0.00005)}


@pytest.mark.parametrize("root", sorted(FUTURES))
async def test_future_details_two_listed_expiries(ib, root):
    exchange, multiplier, tick = FUTURES[root]
    details = await ib.reqContractDetailsAsync(Future(exchange=exchange, tradingClass=root,
                                                      symbol="EUR" if root == "6E" else root))
    assert len(details) == 2
    first, second = (d.contract.lastTradeDateOrContractMonth for d in details)
    assert "20261123" <= first < second
    for cd in details:
        c = cd.contract
        assert (c.secType, c.exchange, c.currency, c.multiplier, c.tradingClass) == ("FUT", exchange, "USD",
                                                                                     multiplier, root)
        assert cd.minTick == tick and cd.timeZoneId == "US/Central"
        assert len(cd.contractMonth) == 6 and c.localSymbol.startswith(root)
        # Globex: Sunday 17:00 to Friday 16:00 Chicago (18:00-17:00 New York), CLOSED on Saturdays
        assert cd.tradingHours.startswith("20261122:1700-20261123:1600;20261123:1700-20261124:1600")
        assert "20261128:CLOSED" in cd.tradingHours
        assert cd.liquidHours.split(";")[0].endswith("0830-20261123:1515")


async def test_future_exchange_old_names_and_front_month_rolls(ib):
    [a] = await ib.reqContractDetailsAsync(Future("ZN", "202612", "ECBOT"))
    [b] = await ib.reqContractDetailsAsync(Future("ES", "202612", "GLOBEX"))
    assert a.contract.exchange == "CBOT" and b.contract.localSymbol == "ESZ6"
    assert b.contract.lastTradeDateOrContractMonth == "20261218" and b.contract.multiplier == "50"
    u = universe()
    assert [i.key for i in u.listed("ES", date(2026, 12, 18))] == ["ESZ6", "ESH7"]
    assert [i.key for i in u.listed("ES", date(2026, 12, 19))] == ["ESH7", "ESM7"]     # rolled after last trade


async def test_index_details(ib):
    for symbol, exchange in (("SPX", "CBOE"), ("NDX", "NASDAQ"), ("VIX", "CBOE"), ("RUT", "RUSSELL")):
        [cd] = await ib.reqContractDetailsAsync(Index(symbol, exchange, "USD"))
        assert (cd.contract.secType, cd.contract.exchange) == ("IND", exchange)
        assert cd.timeZoneId == "US/Eastern" and cd.liquidHours.startswith("20261123:0930-20261123:1600")


async def test_forex_details(ib):
    [cd] = await ib.reqContractDetailsAsync(Forex("EURUSD"))
    assert (cd.contract.secType, cd.contract.exchange, cd.minTick) == ("CASH", "IDEALPRO", 0.00005)
    assert "20261122:1715-20261123:1700" in cd.tradingHours


async def test_contfut_qualifies_to_the_front_month_with_continuous_history(ib):
    [c] = await ib.qualifyContractsAsync(ContFuture("ES", "CME"))
    assert c.secType == "CONTFUT" and c.lastTradeDateOrContractMonth == "20261218"
    bars = await ib.reqHistoricalDataAsync(c, "", "3 D", "1 hour", "TRADES", useRTH=False)
    expiry = await ib.reqHistoricalDataAsync(Future("ES", "202612", "CME"), "", "3 D", "1 hour", "TRADES",
                                             useRTH=False)
    # the two requests are apart in simulated time: the newest hour may be in progress in either, so compare the
    # complete hours both answered
    done = {b.date: b.close for b in bars[:-1]}
    same = [b for b in expiry[:-1] if b.date in done]
    assert len(same) > 40 and [b.close for b in same] == [done[b.date] for b in same]
    assert len(same) >= len(bars) - 2
    assert all(b.close % 0.25 == 0 for b in bars)
    # the Globex session: bars at 18:00 New York the evening before, none in the 17:00-18:00 halt
    hours = {b.date.astimezone(bars[0].date.tzinfo).hour for b in bars}
    assert all(b.volume > 0 for b in bars)
    assert len(hours) == 23


async def test_forex_midpoint_realtime_bars_and_trades_refused(ib):
    errors = collect_errors(ib)
    eur = Forex("EURUSD")
    await ib.qualifyContractsAsync(eur)
    bars = ib.reqRealTimeBars(eur, 5, "MIDPOINT", False)
    await wait_until(ib, lambda: len(bars) >= 2, what="two MIDPOINT real-time bars")
    assert all(b.volume == -1 for b in bars) and 0.5 < bars[-1].close < 2
    ib.cancelRealTimeBars(bars)
    got = await ib.reqHistoricalDataAsync(eur, "", "1 D", "1 min", "TRADES", useRTH=False)
    assert len(got) == 0
    assert any(code == 162 and "No historical market data for EUR/CASH" in msg for _, code, msg in errors)


async def test_order_on_an_index_refused(gateway, client_id):
    from .conftest import connect

    async with connect(gateway, client_id, readonly=False) as ib:
        errors = collect_errors(ib)
        spx = Index("SPX", "CBOE")
        await ib.qualifyContractsAsync(spx)
        trade = ib.placeOrder(spx, LimitOrder("BUY", 1, 6800.0))
        await wait_until(ib, lambda: trade.isDone(), what="the index order's rejection")
        assert trade.orderStatus.status in ("Cancelled", "Inactive")
        assert any(code == 201 and "not available for trading" in msg for _, code, msg in errors)


async def test_es_bare_root_is_the_stock(ib):
    [cd] = await ib.reqContractDetailsAsync(Stock("ES", "SMART", "USD"))
    assert cd.contract.secType == "STK" and cd.longName == "EVERSOURCE ENERGY"


async def test_matching_symbols_know_futures_and_indexes(ib):
    found = await ib.reqMatchingSymbolsAsync("SPX")
    assert ("SPX", "IND") in {(d.contract.symbol, d.contract.secType) for d in found}
    found = await ib.reqMatchingSymbolsAsync("ES")
    assert ("ES", "FUT") in {(d.contract.symbol, d.contract.secType) for d in found}


def test_future_prices_deterministic_per_seed():
    from breakout_kit.gateway.sim.market import Market

    t0 = datetime(2026, 11, 23, 18, 0).astimezone().timestamp()
    a = Market(seed=3).bars("ESZ6", 60, t0, t0 + 3600)
    b = Market(seed=3).bars("ESZ6", 60, t0, t0 + 3600)
    c = Market(seed=4).bars("ESZ6", 60, t0, t0 + 3600)
    assert a == b and a != c and len(a) == 60
    assert timedelta(seconds=a[1].time - a[0].time) == timedelta(minutes=1)
