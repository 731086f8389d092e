"""Contracts: qualify, details, matching symbols, unknown symbol -> error 200."""

import pytest

from breakout_kit.client.iblib import Stock

from .conftest import collect_errors

pytestmark = pytest.mark.ib


async def test_qualify_stock_and_etf(ib):
    aapl, spy = Stock("AAPL", "SMART", "USD"), Stock("SPY", "SMART", "USD")
    got = await ib.qualifyContractsAsync(aapl, spy)
    assert [c.conId for c in got] == [265598, 756733]
    assert aapl.primaryExchange == "NASDAQ" and spy.primaryExchange == "ARCA"
    assert aapl.exchange == "SMART" and aapl.currency == "USD"


async def test_contract_details_fields(ib):
    [cd] = await ib.reqContractDetailsAsync(Stock("MSFT", "SMART", "USD"))
    assert cd.contract.conId == 272093
    assert cd.minTick == 0.01
    assert cd.timeZoneId == "US/Eastern"
    assert cd.longName == "MICROSOFT CORP"
    assert cd.stockType == "COMMON"
    first_day = cd.liquidHours.split(";")[0]
    assert first_day.endswith((":0930-" + first_day[:8] + ":1600", "CLOSED"))
    assert "0400" in cd.tradingHours and cd.tradingHours.count(";") == 6


async def test_universe_has_30_liquid_symbols(gateway, ib):
    symbols = gateway.symbols()
    assert len(symbols) >= 30
    got = await ib.qualifyContractsAsync(*[Stock(s, "SMART", "USD") for s in symbols])
    assert len({c.conId for c in got}) == len(symbols)


async def test_unknown_symbol_error_200(ib):
    errors = collect_errors(ib)
    c = Stock("NOSUCHX", "SMART", "USD")
    await ib.qualifyContractsAsync(c)
    assert c.conId == 0
    assert any(code == 200 and msg == "No security definition has been found for the request"
               for _, code, msg in errors)


async def test_wrong_currency_is_unknown(ib):
    errors = collect_errors(ib)
    details = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "EUR"))
    assert details == [] and any(code == 200 for _, code, _ in errors)


async def test_matching_symbols(ib):
    found = await ib.reqMatchingSymbolsAsync("MS")
    assert [d.contract.symbol for d in found[:2]] == ["MS", "MSFT"]      # the exact symbol first, as IB lists it
    assert found[0].contract.primaryExchange == "NYSE" and found[1].contract.primaryExchange == "NASDAQ"
    by_name = await ib.reqMatchingSymbolsAsync("GOLD")
    assert {d.contract.symbol for d in by_name} >= {"GLD", "GS"}
