"""Security: the gateway binds loopback only unless told otherwise; orders are refused on read-only connections and
on non-paper accounts without the opt-in (nothing reaches the gateway); logs never carry a full account number."""

from __future__ import annotations

import logging
import re

import pytest

from breakout_kit.client.ib_client import IBClient, OrderRejected, mask_account
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.requests import HANDLERS
from breakout_kit.watch.watcher import BreakoutWatcher

from .storm import SESSION_OPEN, until

pytestmark = pytest.mark.ib



@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "10.1.2.3", "example.com", "127.0.0.1.nip.io"])
def test_gateway_refuses_non_loopback_binds_without_opt_in(host):
    with pytest.raises(ValueError, match="non-loopback.*allow_remote=True"):
        PaperGateway(host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_loopback_forms_are_accepted(host):
    assert PaperGateway(host=host).host == host       # constructed only: nothing binds


async def count_place_orders(monkeypatch) -> list:
    """Record every placeOrder (id 3) reaching the gateway (stands in for the handler until orders land)."""
    seen: list = []
    real = HANDLERS.get(3)

    def spy(session, fields):
        seen.append(session.client_id)
        if real is not None:
            real(session, fields)

    monkeypatch.setitem(HANDLERS, 3, spy)
    return seen


async def test_orders_refused_on_read_only_connections(monkeypatch, gateway, client_id):
    sent = await count_place_orders(monkeypatch)
    async with IBClient(port=gateway.port, client_id=client_id, trading=True, readonly=True) as c:
        with pytest.raises(OrderRejected, match="read-only"):
            await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1, entry=100)
        with pytest.raises(OrderRejected, match="read-only"):
            await c.cancel_all_orders()
        await c.ib.reqCurrentTimeAsync()            # anything sent before this would have arrived by now
    assert sent == []


@pytest.mark.parametrize("account", ["U7654321", "F1234567", "DF1234567"])
async def test_orders_refused_on_non_paper_accounts_without_opt_in(monkeypatch, account, client_id):
    async with PaperGateway(port=0, speed=60.0, start=SESSION_OPEN, pacing="off", account=account) as gw:
        sent = await count_place_orders(monkeypatch)
        async with IBClient(port=gw.port, client_id=client_id, trading=True) as c:
            assert not c.paper
            with pytest.raises(OrderRejected, match=re.escape(mask_account(account)) + ".*allow_live=True"):
                await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1, entry=100)
            await c.ib.reqCurrentTimeAsync()
    assert sent == []


async def test_read_only_api_gateway_refuses_orders_even_from_a_trading_client(client_id):
    """Both locks: with TWS's "Read-Only API" setting (readonly_api) an order that gets past the client is refused."""
    async with (PaperGateway(port=0, speed=60.0, start=SESSION_OPEN, pacing="off", readonly_api=True) as gw,
                IBClient(port=gw.port, client_id=client_id, trading=True) as c):
        with pytest.raises(OrderRejected, match="321|[Rr]ead-[Oo]nly"):
            await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1, entry=100)
        assert not gw.orders.open_orders()


async def test_logs_show_only_the_masked_account(caplog, client_id):
    """A whole session (connect, watcher, faults, reconnect, a refused order, repr) logged at DEBUG by our code and
    at INFO by the IB library: the account number appears only masked."""
    account = "DU9876543"
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="breakout_kit")
    async with (PaperGateway(port=0, speed=600.0, start=SESSION_OPEN, pacing="off", account=account) as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=600.0, reconnect_delays=(0.05,)) as c):
        w = BreakoutWatcher(c, "AAPL")
        w.start()
        await until(w.bar_event, lambda: w.state == "live")
        gw.faults.drop()
        await until(c.resubscribe_event, lambda: c.reconnects == 1 and c.connected)
        gw.faults.connectivity_lost()
        gw.faults.connectivity_restored(data_lost=True)
        with pytest.raises(OrderRejected):
            await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1)
        logging.getLogger("breakout_kit.test").info("client %r", c)
        await w.aclose()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert account not in text and "9876543" not in text
    assert mask_account(account) in text              # the masked id is there to tell accounts apart
