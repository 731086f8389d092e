"""The one symbol grammar: parsing (pure) and qualification through the embedded gateway."""

from __future__ import annotations

from datetime import date

import pytest

from breakout_kit.client.contracts import ContFuture, Forex, Future, Index, Stock
from breakout_kit.client.errors import ContractError
from breakout_kit.client.ib_client import IBClient
from breakout_kit.client.symbols import SymbolSpec, hint, parse_symbol

TODAY = date(2026, 12, 7)


@pytest.mark.parametrize("text, spec", [
    ("AAPL", SymbolSpec("stock", "AAPL")), ("brk.b", SymbolSpec("stock", "BRK B")),
    ("EURUSD", SymbolSpec("forex", "EUR.USD")), ("EUR.USD", SymbolSpec("forex", "EUR.USD")),
    ("eur/usd", SymbolSpec("forex", "EUR.USD")), ("/ES", SymbolSpec("front", "ES")),
    ("/6E", SymbolSpec("front", "6E")), ("ESZ6", SymbolSpec("future", "ES", "202612")),
    ("ESH7", SymbolSpec("future", "ES", "202703")), ("MESM27", SymbolSpec("future", "MES", "202706")),
    ("ES 202612", SymbolSpec("future", "ES", "202612")), ("/CL 20270120", SymbolSpec("future", "CL", "20270120")),
    ("SPX", SymbolSpec("index", "SPX")), ("vix", SymbolSpec("index", "VIX")),
    ("ES", SymbolSpec("stock", "ES")), ("CL", SymbolSpec("stock", "CL")),
])
def test_grammar(text, spec):
    assert parse_symbol(text, TODAY) == spec


def test_contracts_and_bar_types():
    assert parse_symbol("EURUSD").what == "MIDPOINT" and parse_symbol("SPX").what == "TRADES"
    c = parse_symbol("ESZ6", TODAY).contract()
    assert (c.secType, c.symbol, c.lastTradeDateOrContractMonth, c.exchange) == ("FUT", "ES", "202612", "CME")
    assert parse_symbol("/6E").contract().symbol == "EUR"
    assert hint("ES").endswith("write /ES (front month) or ESZ6") and hint("AAPL") == ""


@pytest.mark.parametrize("bad", ["", "/XX", "A B C D E F G H I J", "$$$"])
def test_bad_symbols_are_one_line_errors(bad):
    with pytest.raises(ContractError) as e:
        parse_symbol(bad)
    assert "\n" not in str(e.value)


@pytest.fixture
async def client(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, clock_speed=gateway.clock.speed,
                        throttle=False) as c:
        yield c


async def test_qualify_every_kind(client):
    got = {t: await client.qualify(t) for t in ("AAPL", "EURUSD", "/ES", "ESZ6", "ES 202703", "SPX", "/6E")}
    assert (got["AAPL"].secType, got["EURUSD"].secType, got["SPX"].secType) == ("STK", "CASH", "IND")
    assert got["/ES"].conId == got["ESZ6"].conId and got["/ES"].multiplier == "50"
    assert got["ES 202703"].localSymbol == "ESH7" and got["/6E"].tradingClass == "6E"
    assert await client.min_tick("/ES") == 0.25 and await client.min_tick("/6E") == 0.00005
    for c in (Stock("MSFT", "SMART", "USD"), Forex("GBPUSD"), Future("NQ", "202612", "CME"), Index("VIX", "CBOE"),
              ContFuture("CL", "NYMEX")):
        assert (await client.qualify(c)).conId


async def test_bare_root_is_the_stock_and_unknown_lists_near_matches(client):
    es = await client.qualify("ES")
    assert es.secType == "STK"
    with pytest.raises(ContractError, match=r"unknown symbol NQ: .*write /NQ"):
        await client.qualify("NQ")
    with pytest.raises(ContractError, match=r"unknown symbol AAPLX: .*near: AAPL"):
        await client.qualify("AAPLX")


async def test_forex_history_is_midpoint_and_matching_symbols(client):
    frame = await client.history("EURUSD", duration="1 D", bar_size="1 hour")
    assert len(frame) > 10 and (frame["volume"] == -1).all()
    assert "/ES" in await client.matching_symbols("ES") and "SPX" in await client.matching_symbols("SPX")


async def test_ingest_and_load_futures_and_forex(client, tmp_path):
    from breakout_kit.client.ingest import ingest, load

    summary = await ingest(client, ["/ES", "EURUSD", "SPX"], "2 D", "1 hour", dest=tmp_path, progress=False)
    assert (summary["error"] == "").all() and (summary["rows"] > 0).all(), summary
    assert (tmp_path / "symbol=%2FES").is_dir()
    es = load(tmp_path, "/ES", "1 hour")
    assert len(es) > 20 and (es["close"] % 0.25 == 0).all()
    everything = load(tmp_path, bar_size="1 hour")
    assert set(everything) == {"/ES", "EURUSD", "SPX"}
    assert (everything["EURUSD"]["volume"] == -1).all()        # MIDPOINT bars: no volume
