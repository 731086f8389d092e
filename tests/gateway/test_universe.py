"""The universe through the real client: S&P 500 members and ETFs qualify with real primary exchanges and have
history; IB's spellings (BRK B); reqMatchingSymbols over everything; forex majors on IDEALPRO (EURUSD: quotes, no
trades, as TWS answers)."""

from datetime import datetime, timedelta, timezone

import pytest

from breakout_kit.client.iblib import Forex, Stock

from .conftest import collect_errors, wait_until

pytestmark = pytest.mark.ib

#: a broad sample: mega caps, mid caps from every GICS sector, IB's two-word spellings, Cboe- and ARCA-listed
SAMPLE = {
    "AAPL": "NASDAQ", "MSFT": "NASDAQ", "JPM": "NYSE", "BRK B": "NYSE", "BF B": "NYSE", "XOM": "NYSE",
    "LLY": "NYSE", "UNH": "NYSE", "COST": "NASDAQ", "HD": "NYSE", "PLTR": "NASDAQ", "CRWD": "NASDAQ",
    "NEE": "NYSE", "AMT": "NYSE", "LIN": "NASDAQ", "DE": "NYSE", "GE": "NYSE", "MMM": "NYSE", "ORCL": "NYSE",
    "IBM": "NYSE", "CBOE": "BATS", "KO": "NYSE", "MCD": "NYSE", "NKE": "NYSE", "SBUX": "NASDAQ", "TSLA": "NASDAQ",
    "ZTS": "NYSE", "A": "NYSE", "T": "NYSE", "O": "NYSE", "F": "NYSE", "C": "NYSE",
    "SPY": "ARCA", "QQQ": "NASDAQ", "IWM": "ARCA", "XLF": "ARCA", "XLE": "ARCA", "SMH": "NASDAQ", "TLT": "NASDAQ",
    "GLD": "ARCA", "TQQQ": "NASDAQ", "HYG": "ARCA", "MTUM": "BATS",
}
EXCHANGES = {"NYSE", "NASDAQ", "ARCA", "BATS"}
FRIDAY_CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=timezone.utc)     # 16:00 New York, before the gateway's start


def test_universe_breadth(gateway):
    uni = gateway.universe
    stocks = uni.stocks()
    assert len(stocks) >= 550
    assert sum(i.stock_type == "ETF" for i in stocks) >= 50
    assert {i.primary for i in stocks} == EXCHANGES
    assert len({i.con_id for i in uni}) == len(uni)              # conIds are unique
    frame = uni.frame
    assert {"symbol", "primary", "name", "industry", "price", "adv", "market_cap"} <= set(frame.columns)
    assert (frame.loc[frame.sec_type == "STK", ["price", "adv", "market_cap"]] > 0).all().all()
    assert frame.loc["AAPL", "con_id"] == 265598 and frame.loc["SPY", "con_id"] == 756733
    assert "BRK.B" not in frame.index and "BRK B" in frame.index


async def test_broad_sample_qualifies_and_has_history(ib):
    contracts = [Stock(s, "SMART", "USD") for s in SAMPLE]
    assert await ib.qualifyContractsAsync(*contracts) == contracts
    assert {c.symbol: c.primaryExchange for c in contracts} == SAMPLE
    for c in contracts:
        bars = await ib.reqHistoricalDataAsync(c, FRIDAY_CLOSE, "2 D", "1 hour", "TRADES", True, 2)
        assert len(bars) == 14, c.symbol                       # two sessions of 7 hourly bars (09:30 .. 15:30)
        assert all(0 < b.low <= b.close <= b.high for b in bars) and all(b.volume > 0 for b in bars)


async def test_details_of_a_two_word_symbol(ib):
    [d] = await ib.reqContractDetailsAsync(Stock("BRK B", "SMART", "USD"))
    assert d.contract.conId == 72063691 and d.contract.primaryExchange == "NYSE"
    assert d.longName == "BERKSHIRE HATHAWAY" and d.industry == "Financials"


async def test_matching_symbols_over_the_whole_universe(ib):
    found = await ib.reqMatchingSymbolsAsync("BRK")
    assert found[0].contract.symbol == "BRK B"
    by_name = await ib.reqMatchingSymbolsAsync("LOCKHEED")
    assert [d.contract.symbol for d in by_name] == ["LMT"]
    assert len(await ib.reqMatchingSymbolsAsync("A")) == 16      # IB answers at most 16


async def test_eurusd_qualifies_on_idealpro(ib):
    fx = Forex("EURUSD")
    assert await ib.qualifyContractsAsync(fx) == [fx]
    assert (fx.conId, fx.secType, fx.exchange, fx.currency, fx.localSymbol) == (
        12087792, "CASH", "IDEALPRO", "USD", "EUR.USD")
    [d] = await ib.reqContractDetailsAsync(Forex("USDJPY"))
    assert d.minTick == 0.005 and d.contract.symbol == "USD" and d.contract.currency == "JPY"
    for pair in ("GBPUSD", "AUDUSD", "USDCAD", "USDCHF", "NZDUSD", "EURGBP", "EURJPY"):
        assert (await ib.qualifyContractsAsync(Forex(pair)))[0].conId, pair


async def test_eurusd_quotes_history_but_no_trades(ib, gateway):
    fx = Forex("EURUSD")
    # one fixed end for the three requests, on a completed 5-second bar: with "" (now), or an end inside the bar
    # still forming, each request's last bar ends where the clock was when it was served (it moves at 60x)
    now = gateway.now().astimezone(timezone.utc).replace(microsecond=0)
    end = (now - timedelta(seconds=5 + now.second % 5)).strftime("%Y%m%d-%H:%M:%S")
    got = {what: await ib.reqHistoricalDataAsync(fx, end, "1 D", "1 hour", what, False, 2)
           for what in ("MIDPOINT", "BID", "ASK")}
    assert len(got["MIDPOINT"]) == len(got["BID"]) == len(got["ASK"])
    assert len(got["MIDPOINT"]) >= 9                               # forex trades around the clock: from midnight
    for m, b, a in zip(got["MIDPOINT"], got["BID"], got["ASK"]):
        assert b.close < m.close < a.close and 0.5 < m.close < 2.0
        assert m.volume == -1
    errors = collect_errors(ib)
    assert list(await ib.reqHistoricalDataAsync(fx, "", "1 D", "30 mins", "TRADES", False, 2)) == []
    assert [(code, msg) for _, code, msg in errors] == [
        (162, ("Historical Market Data Service error message:No historical market data for EUR/CASH@FXSUBPIP "
               "Last 1800"))]


async def test_eurusd_real_time_midpoint_bars(ib):
    fx = Forex("EURUSD")
    await ib.qualifyContractsAsync(fx)
    bars = ib.reqRealTimeBars(fx, 5, "MIDPOINT", False)
    await wait_until(ib, lambda: len(bars) >= 2, timeout=5, what="EURUSD real-time bars")
    assert all(0.5 < b.close < 2.0 and b.volume == -1 for b in bars)
    ib.cancelRealTimeBars(bars)
    errors = collect_errors(ib)
    trades = ib.reqRealTimeBars(fx, 5, "TRADES", False)
    await wait_until(ib, lambda: errors, timeout=5, what="the refusal of TRADES bars")
    assert errors[0][1] == 420 and not trades


def test_universe_lookups(gateway):
    uni = gateway.universe
    assert uni.get("eurusd") is uni.get("EUR/USD") is uni.get("EUR.USD")
    assert uni.get("brk b").con_id == 72063691 and uni.get("NOPE") is None
    assert uni.resolve(symbol="EUR", sec_type="CASH", currency="USD", exchange="IDEALPRO").key == "EUR.USD"
    assert uni.resolve(symbol="EUR", sec_type="CASH", currency="USD", exchange="SMART") is None
    assert uni.resolve(symbol="AAPL", exchange="ISLAND").primary == "NASDAQ"
    assert uni.resolve(symbol="AAPL", exchange="NYSE") is None
    assert uni.resolve(con_id=756733, symbol="QQQ") is None          # conId and symbol disagree
