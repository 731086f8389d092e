"""Orders against the embedded gateway with the unmodified IB client: brackets, fills, what-if, rejections, cancels,
modification, reconnects. Prices are chosen from the gateway's own price path (``gw.history``) or a planted move,
so which order fills first is known in advance."""

from __future__ import annotations

from datetime import timedelta

import pytest

from breakout_kit.client.iblib import (
    NAME,
    Contract,
    Future,
    LimitOrder,
    MarketOrder,
    RequestError,
    Stock,
    StopOrder,
    lib,
)

from .conftest import collect_errors, connect, wait_until
from .trading import (
    AAPL,
    MSFT,
    ceil_tick,
    done,
    fast_gateway,
    floor_tick,
    last_close,
    path,
    status,
    tick,
    trader,
)

pytestmark = pytest.mark.ib


def far_below(gw, symbol="AAPL") -> float:
    """A buy limit that cannot fill within the test (half the price)."""
    return tick(last_close(gw, symbol) * 0.5)


async def test_bracket_live_on_last_child_then_take_profit_fills(session_open, client_id):
    async with fast_gateway(session_open) as gw, trader(gw, client_id) as ib:
        errors = collect_errors(ib)
        at = gw.market.plant_breakout("AAPL", gw.now() + timedelta(minutes=3), size_pct=1.0)
        ref = last_close(gw)
        bars = path(gw, "AAPL", 6)
        take_price, stop_price = tick(ref * 1.004), floor_tick(min(b.low for b in bars) * 0.995)
        assert any(b.high > take_price for b in bars if b.datetime <= at + timedelta(minutes=1))
        bracket = ib.bracketOrder("BUY", 10, tick(ref * 1.01), take_price, stop_price)
        parent = ib.placeOrder(AAPL, bracket.parent)
        take = ib.placeOrder(AAPL, bracket.takeProfit)
        await ib.reqCurrentTimeAsync()  # a round trip: the gateway has handled both untransmitted orders
        assert parent.orderStatus.status == take.orderStatus.status == "PendingSubmit"
        assert gw.orders.open_orders() == [] and await ib.reqAllOpenOrdersAsync() == []

        stop = ib.placeOrder(AAPL, bracket.stopLoss)  # transmit=True: the whole bracket goes live
        trades = (parent, take, stop)
        await wait_until(ib, lambda: all(t.orderStatus.status != "PendingSubmit" for t in trades), what="live")
        perm_ids = {t.orderStatus.permId for t in trades}
        assert len(perm_ids) == 3 and 0 not in perm_ids
        assert take.orderStatus.parentId == stop.orderStatus.parentId == parent.order.orderId
        await status(ib, parent, "Filled")
        entry = parent.orderStatus.avgFillPrice
        assert entry <= tick(ref * 1.01)
        await wait_until(ib, lambda: [p.position for p in ib.positions() if p.contract.symbol == "AAPL"] == [10],
                         what="AAPL position 10")

        await done(ib, take, stop)
        assert take.orderStatus.status == "Filled" and stop.orderStatus.status == "Cancelled"
        assert (stop.order.orderId, 202) in [(r, c) for r, c, _ in errors]
        exit_price = take.orderStatus.avgFillPrice
        assert exit_price >= take_price
        await wait_until(ib, lambda: not any(p.contract.symbol == "AAPL" for p in ib.positions()), what="flat")
        fills = parent.fills + take.fills
        await wait_until(ib, lambda: all(f.commissionReport.execId for f in fills), what="commission reports")
        assert [f.commissionReport.commission for f in fills] == [1.0, 1.0]   # 10 shares: the 1.00 minimum
        realized = take.fills[-1].commissionReport.realizedPNL
        assert realized == pytest.approx((exit_price - entry) * 10 - 2.0, abs=1e-6)
        cash = 1_000_000 - entry * 10 - 1.0 + exit_price * 10 - 1.0
        await wait_until(ib, lambda: abs(float(_value(ib, "TotalCashValue")) - cash) < 0.01, what="cash")
        # each account value is its own message: wait for this one too, not only for the cash
        await wait_until(ib, lambda: abs(float(_value(ib, "RealizedPnL")) - realized) < 0.01, what="realized P&L")
        assert float(_value(ib, "NetLiquidation")) == pytest.approx(cash, abs=0.01)  # flat: net liq = cash


def _value(ib, tag):
    return next(v.value for v in ib.accountValues() if v.tag == tag and v.currency == "USD")


async def test_bracket_stop_loss_fills_and_take_profit_is_cancelled(session_open, client_id):
    async with fast_gateway(session_open) as gw, trader(gw, client_id) as ib:
        gw.market.plant_breakout("AAPL", gw.now() + timedelta(minutes=3), size_pct=-1.0)
        ref = last_close(gw)
        bars = path(gw, "AAPL", 6)
        take_price, stop_price = ceil_tick(max(b.high for b in bars) * 1.005), tick(ref * 0.996)
        parent, take, stop = [ib.placeOrder(AAPL, o)
                              for o in ib.bracketOrder("BUY", 20, tick(ref * 1.01), take_price, stop_price)]
        await done(ib, take, stop)
        assert parent.orderStatus.status == "Filled"
        assert stop.orderStatus.status == "Filled" and take.orderStatus.status == "Cancelled"
        assert stop.orderStatus.avgFillPrice <= stop_price      # a stop fills at the stop or worse
        assert [f.execution.side for f in parent.fills + stop.fills] == ["BOT", "SLD"]
        assert sum(f.execution.shares for f in stop.fills) == 20


async def test_market_order_fills_at_the_ask_of_the_next_bar(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        placed_at = gateway.clock.epoch()
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 100, orderRef="ref-1"))
        await status(ib, trade, "Filled")
        [fill] = trade.fills
        t = fill.execution.time.timestamp()
        assert t % 5 == 0 and placed_at < t <= placed_at + 10      # at the next 5-second boundary
        [bar] = gateway.history("AAPL", 5, fill.execution.time - timedelta(seconds=5), fill.execution.time)
        half = max(0.01, round(bar.close * 0.0001, 2))
        assert fill.execution.price == pytest.approx(bar.close + half)
        assert fill.execution.orderRef == "ref-1" and fill.execution.permId == trade.order.permId
        assert fill.execution.acctNumber == "DU1234567" and fill.execution.clientId == client_id


async def test_limit_fills_only_when_traded_through(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        bars = path(gateway, "AAPL", 2)
        limit = floor_tick(min(b.low for b in bars[2:]) + 0.01)    # touched-through in the next two minutes
        assert limit < last_close(gateway) - 0.01                  # not marketable now
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 50, limit))
        await status(ib, trade, "Submitted")
        await status(ib, trade, "Filled", timeout=10)
        assert trade.orderStatus.avgFillPrice <= limit


async def test_partial_fills_beyond_the_volume_share(gateway, client_id):
    gateway.orders.volume_share = 1e-9          # one round lot per 5-second bar
    async with trader(gateway, client_id) as ib:
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 300))
        await status(ib, trade, "Filled")
        await wait_until(ib, lambda: all(f.commissionReport.execId for f in trade.fills), what="commissions")
        assert [f.execution.shares for f in trade.fills] == [100, 100, 100]
        assert [f.execution.cumQty for f in trade.fills] == [100, 200, 300]
        prices = [f.execution.price for f in trade.fills]
        assert trade.orderStatus.avgFillPrice == pytest.approx(sum(prices) / 3)
        # commission per order: the 1.00 minimum until 0.005/share exceeds it (300 shares: 1.50 in all)
        assert [f.commissionReport.commission for f in trade.fills] == [1.0, 0.0, 0.5]   # 1.00, 1.00, 1.50


async def test_stop_and_stop_limit_trigger_on_a_planted_breakout(session_open, client_id):
    async with fast_gateway(session_open) as gw, trader(gw, client_id) as ib:
        gw.market.plant_breakout("AAPL", gw.now() + timedelta(minutes=2), size_pct=1.0)
        bars = path(gw, "AAPL", 4)
        high_before = max(b.high for b in bars[:20])    # the next 100 s, before the planted minute
        trigger = ceil_tick(high_before + 0.05)
        stop = ib.placeOrder(AAPL, StopOrder("BUY", 10, trigger))
        stop_limit = ib.placeOrder(AAPL, lib.StopLimitOrder("BUY", 10, tick(trigger * 1.02), trigger))
        await wait_until(ib, lambda: stop.orderStatus.status == stop_limit.orderStatus.status == "PreSubmitted",
                         what="untriggered stops held PreSubmitted")
        await done(ib, stop, stop_limit)
        assert stop.orderStatus.status == stop_limit.orderStatus.status == "Filled"
        assert stop.orderStatus.avgFillPrice >= trigger
        assert trigger <= stop_limit.orderStatus.avgFillPrice <= tick(trigger * 1.02)


async def test_what_if_returns_commission_and_margin_without_placing(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        small = await ib.whatIfOrderAsync(AAPL, MarketOrder("BUY", 100))
        large = await ib.whatIfOrderAsync(AAPL, LimitOrder("BUY", 1000, tick(last_close(gateway))))
        assert small.commission == 1.0 and large.commission == pytest.approx(5.0)
        assert small.commissionCurrency == "USD"
        assert float(small.initMarginChange) == pytest.approx(100 * last_close(gateway) * 0.25, rel=0.01)
        assert float(large.initMarginAfter) > float(small.initMarginAfter) > 0
        assert float(small.equityWithLoanBefore) == pytest.approx(1_000_000)
        assert gateway.orders.orders == {} and gateway.orders.executions == []
        assert ib.openTrades() == []


async def test_bad_contract_raises_request_error_321(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        ib.RaiseRequestErrors = True
        errors = collect_errors(ib)
        for contract in (Contract(symbol="AAPL", secType="XYZ", exchange="SMART", currency="USD"),
                         Contract(secType="STK", exchange="SMART", currency="USD"),
                         Stock("AAPL", "", "USD")):
            if NAME == "ib_async":   # it treats 321 as a warning: the request never fails, the error still arrives
                n = len(errors)
                ib.whatIfOrderAsync(contract, MarketOrder("BUY", 1))
                await wait_until(ib, lambda n=n: len(errors) > n, what="error")
                assert errors[-1][1] == 321, contract
                continue
            with pytest.raises(RequestError) as e:
                await ib.whatIfOrderAsync(contract, MarketOrder("BUY", 1))
            assert e.value.code == 321, contract
        with pytest.raises(RequestError) as e:
            await ib.whatIfOrderAsync(Stock("NOSUCH", "SMART", "USD"), MarketOrder("BUY", 1))
        assert e.value.code == 200 and "No security definition" in e.value.message


@pytest.mark.parametrize("order,code,words", [
    (LimitOrder("BUY", 10, 228.123), 110, "minimum price variation"),
    (MarketOrder("BUY", 0), 321, "quantity"),
    (MarketOrder("BUY", 1.5), 321, "quantity"),
    (MarketOrder("HOLD", 10), 321, "action"),
    (LimitOrder("BUY", 10, float("nan")), 321, "limit price"),
    (StopOrder("SELL", 10, 0.0), 321, "stop price"),
    (lib.Order(action="BUY", totalQuantity=10, orderType="TRAIL"), 387, "Unsupported order type"),
    (lib.Order(action="BUY", totalQuantity=10, orderType="MKT", tif="FOK"), 321, "time in force"),
])
async def test_order_rejections_with_tws_codes(gateway, client_id, order, code, words):
    async with trader(gateway, client_id) as ib:
        errors = collect_errors(ib)
        trade = ib.placeOrder(AAPL, order)
        await wait_until(ib, lambda: errors, what=f"error {code}")
        assert errors[0][:2] == (trade.order.orderId, code) and words in errors[0][2], errors
        assert gateway.orders.orders == {}


async def test_duplicate_and_decreasing_order_ids_are_103(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        errors = collect_errors(ib)
        first = ib.placeOrder(AAPL, LimitOrder("BUY", 10, far_below(gateway)))
        await status(ib, first, "Submitted")
        ib.cancelOrder(first.order)
        await status(ib, first, "Cancelled")
        ib.client.placeOrder(first.order.orderId, AAPL, LimitOrder("BUY", 10, far_below(gateway)))  # reused
        lower = first.order.orderId - 1
        ib.client.placeOrder(lower, AAPL, LimitOrder("BUY", 10, far_below(gateway)))              # decreasing
        await wait_until(ib, lambda: sum(c == 103 for _, c, _ in errors) == 2, what="two 103s")
        assert {(r, m) for r, c, m in errors if c == 103} == {(first.order.orderId, "Duplicate order id"),
                                                              (lower, "Duplicate order id")}


async def test_read_only_api_refuses_orders(session_open, client_id):
    async with fast_gateway(session_open, readonly_api=True) as gw, trader(gw, client_id) as ib:
        errors = collect_errors(ib)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 1))
        await wait_until(ib, lambda: errors, what="error 321")
        [(req, code, msg)] = errors
        assert (req, code) == (trade.order.orderId, 321) and "Read-Only" in msg
        assert gw.orders.orders == {}


async def test_cancel_unknown_and_global_cancel_across_clients(gateway, client_id):
    async with trader(gateway, client_id) as a, trader(gateway, client_id + 5000) as b:
        errors = collect_errors(a)
        mine = [a.placeOrder(AAPL, LimitOrder("BUY", 10, far_below(gateway))) for _ in range(2)]
        theirs = b.placeOrder(MSFT, LimitOrder("BUY", 10, far_below(gateway, "MSFT")))
        await wait_until(a, lambda: all(t.orderStatus.status == "Submitted" for t in mine), what="submitted")
        await status(b, theirs, "Submitted")
        a.cancelOrder(mine[0].order)
        await status(a, mine[0], "Cancelled")
        assert (mine[0].order.orderId, 202) in [(r, c) for r, c, _ in errors]
        a.client.cancelOrder(999_999)
        await wait_until(a, lambda: any(c == 10147 for _, c, _ in errors), what="10147")
        assert [t.order.orderId for t in await a.reqOpenOrdersAsync()] == [mine[1].order.orderId]  # its own
        assert len(await b.reqAllOpenOrdersAsync()) == 2          # the whole account's open orders
        b.reqGlobalCancel()
        await status(a, mine[1], "Cancelled")
        await status(b, theirs, "Cancelled")
        assert gateway.orders.open_orders() == []
        a.client.cancelOrder(mine[1].order.orderId)
        await wait_until(a, lambda: any(c == 10148 for _, c, _ in errors), what="10148 already cancelled")


async def test_cancel_parent_cancels_children(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        low = far_below(gateway)
        trades = [ib.placeOrder(AAPL, o) for o in ib.bracketOrder("BUY", 10, low, tick(low * 1.1), tick(low * 0.9))]
        await wait_until(ib, lambda: all(t.orderStatus.status in ("Submitted", "PreSubmitted") for t in trades))
        assert [t.orderStatus.status for t in trades] == ["Submitted", "PreSubmitted", "PreSubmitted"]
        ib.cancelOrder(trades[0].order)
        await done(ib, *trades)
        assert [t.orderStatus.status for t in trades] == ["Cancelled"] * 3


async def test_modify_by_resending_the_same_id(gateway, client_id):
    async with trader(gateway, client_id) as ib, connect(gateway, client_id + 5000) as observer:
        order = LimitOrder("BUY", 10, far_below(gateway), tif="GTC", outsideRth=True, orderRef="mod")
        trade = ib.placeOrder(AAPL, order)
        await status(ib, trade, "Submitted")
        order.lmtPrice, order.totalQuantity = tick(order.lmtPrice + 1), 25
        ib.placeOrder(AAPL, order)
        await wait_until(ib, lambda: trade.orderStatus.remaining == 25, what="modification acknowledged")
        [seen] = await observer.reqAllOpenOrdersAsync()
        assert (seen.order.orderId, seen.order.lmtPrice, seen.order.totalQuantity) == \
            (order.orderId, order.lmtPrice, 25)
        assert gateway.orders.get(client_id, order.orderId).limit == round(order.lmtPrice * 100)


async def test_open_order_fields_decode_exactly(gateway, client_id):
    """Another client decodes the whole openOrder message: any missing field would shift these values."""
    async with trader(gateway, client_id) as ib, connect(gateway, client_id + 5000) as observer:
        low = far_below(gateway)
        parent = LimitOrder("BUY", 7, low, tif="GTC", outsideRth=True, orderRef="decode-me", transmit=False,
                            orderId=ib.client.getReqId())
        child = lib.StopLimitOrder("SELL", 7, tick(low * 0.9), tick(low * 0.95), parentId=parent.orderId,
                                   orderId=ib.client.getReqId(), tif="GTC", orderRef="decode-me",
                                   ocaGroup="grp-1", ocaType=2)
        trades = [ib.placeOrder(AAPL, parent), ib.placeOrder(AAPL, child)]
        await wait_until(ib, lambda: all(t.orderStatus.permId for t in trades), what="live")
        seen = {t.order.orderId: t for t in await observer.reqAllOpenOrdersAsync()}
        p, c = seen[parent.orderId], seen[child.orderId]
        assert p.contract.symbol == "AAPL" and p.contract.conId == 265598 and p.contract.exchange == "SMART"
        assert (p.order.action, p.order.totalQuantity, p.order.orderType, p.order.lmtPrice) == ("BUY", 7, "LMT", low)
        assert (p.order.tif, p.order.outsideRth, p.order.orderRef, p.order.account) == \
            ("GTC", True, "decode-me", "DU1234567")
        assert (p.order.clientId, p.order.permId) == (client_id, trades[0].orderStatus.permId)
        assert (c.order.orderType, c.order.lmtPrice, c.order.auxPrice, c.order.parentId) == \
            ("STP LMT", tick(low * 0.9), tick(low * 0.95), parent.orderId)
        assert (c.order.ocaGroup, c.order.ocaType, c.orderStatus.status) == ("grp-1", 2, "PreSubmitted")
        assert p.orderStatus.status == "Submitted" and p.orderStatus.remaining == 7


async def test_explicit_oca_group_cancels_the_rest(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        ref = last_close(gateway)
        orders = ib.oneCancelsAll([LimitOrder("BUY", 10, tick(ref * 1.01)), LimitOrder("BUY", 10, tick(ref * 0.5))],
                                  "oca-test", 1)
        a, b = [ib.placeOrder(AAPL, o) for o in orders]
        await done(ib, a, b)
        assert (a.orderStatus.status, b.orderStatus.status) == ("Filled", "Cancelled")


async def test_state_survives_reconnect(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        filled = ib.placeOrder(AAPL, MarketOrder("BUY", 30, orderRef="keep"))
        working = ib.placeOrder(AAPL, LimitOrder("BUY", 5, far_below(gateway), orderRef="keep"))
        await status(ib, filled, "Filled")
        await status(ib, working, "Submitted")
        exec_id = filled.fills[0].execution.execId
    async with trader(gateway, client_id) as ib:                  # same clientId, new connection
        [open_trade] = ib.openTrades()
        assert (open_trade.order.orderId, open_trade.order.permId, open_trade.orderStatus.status) == \
            (working.order.orderId, working.order.permId, "Submitted")
        assert [f.execution.execId for f in ib.fills()] == [exec_id]
        assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("AAPL", 30)]
        completed = await ib.reqCompletedOrdersAsync(False)
        assert [(t.order.permId, t.orderStatus.status) for t in completed] == [(filled.order.permId, "Filled")]
        assert ib.client.getReqId() > working.order.orderId       # nextValidId is past every id used
        ib.cancelOrder(open_trade.order)                           # the reconnected client owns its old orders
        await status(ib, open_trade, "Cancelled")


async def test_executions_filter(gateway, client_id):
    async with trader(gateway, client_id) as a, trader(gateway, client_id + 5000) as b:
        ta = a.placeOrder(AAPL, MarketOrder("BUY", 10))
        tb = b.placeOrder(MSFT, MarketOrder("SELL", 10))
        await status(a, ta, "Filled")
        await status(b, tb, "Filled")
        f = lib.ExecutionFilter

        async def symbols(flt):
            return sorted(x.contract.symbol for x in await a.reqExecutionsAsync(flt))

        assert await symbols(f()) == ["AAPL", "MSFT"]
        assert await symbols(f(clientId=client_id + 5000)) == ["MSFT"]
        assert await symbols(f(symbol="AAPL")) == ["AAPL"]
        assert await symbols(f(side="SELL")) == ["MSFT"]
        later = (gateway.now() + timedelta(minutes=1)).strftime("%Y%m%d %H:%M:%S")
        assert await symbols(f(time=later)) == []
        assert await symbols(f(time=gateway.now().strftime("%Y%m%d"))) == ["AAPL", "MSFT"]   # since midnight


async def test_regular_hours_only_unless_outside_rth(session_open, client_id):
    after_close = session_open.replace(hour=16, minute=5)
    async with fast_gateway(after_close) as gw, trader(gw, client_id) as ib:
        held = ib.placeOrder(AAPL, MarketOrder("BUY", 10))
        extended = ib.placeOrder(AAPL, MarketOrder("BUY", 10, outsideRth=True))
        await status(ib, extended, "Filled")
        assert held.orderStatus.status == "PreSubmitted" and not held.fills


async def test_day_orders_expire_at_the_close_gtc_stays(session_open, client_id):
    before_close = session_open.replace(hour=15, minute=58)
    async with fast_gateway(before_close, speed=600.0) as gw, trader(gw, client_id) as ib:
        day = ib.placeOrder(AAPL, LimitOrder("BUY", 10, far_below(gw)))
        gtc = ib.placeOrder(AAPL, LimitOrder("BUY", 10, far_below(gw), tif="GTC"))
        await status(ib, day, "Cancelled")
        assert gw.now().hour == 16 and gtc.orderStatus.status in ("Submitted", "PreSubmitted")


async def test_margin_rejection_is_201_and_inactive(session_open, client_id):
    async with fast_gateway(session_open, cash=10_000.0) as gw, trader(gw, client_id) as ib:
        errors = collect_errors(ib)
        too_big = ib.placeOrder(AAPL, MarketOrder("BUY", 1000))     # 25 % of ~240k is far above 10k of funds
        await status(ib, too_big, "Inactive")
        assert [c for _, c, _ in errors] == [201] and "AVAILABLE FUNDS" in errors[0][2]
        fits = ib.placeOrder(AAPL, MarketOrder("BUY", 100))
        await status(ib, fits, "Filled")
        completed = {t.order.permId: t.orderStatus.status for t in await ib.reqCompletedOrdersAsync(False)}
        assert completed == {too_big.order.permId: "Inactive", fits.order.permId: "Filled"}


async def test_untransmitted_orders_can_be_cancelled(gateway, client_id):
    async with trader(gateway, client_id) as ib:
        held = ib.placeOrder(AAPL, LimitOrder("BUY", 10, far_below(gateway), transmit=False))
        await ib.reqCurrentTimeAsync()
        assert held.orderStatus.status == "PendingSubmit" and gateway.orders.open_orders() == []
        ib.reqGlobalCancel()
        await status(ib, held, "Cancelled")


def test_bad_gateway_options():
    from breakout_kit.gateway import PaperGateway

    for cash in (0, -5.0, float("nan"), "1e6", True):
        with pytest.raises(ValueError, match="cash must be a positive number"):
            PaperGateway(cash=cash)
    with pytest.raises(TypeError, match="readonly_api must be True or False"):
        PaperGateway(readonly_api="yes")


async def test_bracket_children_protect_a_partially_filled_parent(gateway, client_id):
    gateway.orders.volume_share = 1e-9          # one round lot per 5-second bar
    async with trader(gateway, client_id) as ib:
        ref = last_close(gateway)
        # the take-profit is marketable at once: it sells whatever the parent has bought so far, never more
        parent, take, stop = [ib.placeOrder(AAPL, o) for o in
                              ib.bracketOrder("BUY", 300, tick(ref * 1.01), tick(ref * 0.9), tick(ref * 0.5))]
        await done(ib, take, stop)
        assert (parent.orderStatus.status, take.orderStatus.status, stop.orderStatus.status) == \
            ("Filled", "Filled", "Cancelled")
        position, first_sale_at = 0, None
        for k, ex in enumerate(gateway.orders.executions):
            position += ex.shares if ex.side == "BOT" else -ex.shares
            assert position >= 0, "a child sold more than the parent had bought"
            if ex.side == "SLD" and first_sale_at is None:
                first_sale_at = k
        assert position == 0
        last_buy_at = max(k for k, ex in enumerate(gateway.orders.executions) if ex.side == "BOT")
        assert first_sale_at is not None and first_sale_at < last_buy_at   # it sold before the parent completed


async def test_a_future_needs_margin_on_its_notional_and_pays_per_contract(session_open, client_id):
    async with fast_gateway(session_open, cash=100_000.0) as gw, trader(gw, client_id) as ib:
        errors = collect_errors(ib)
        es, mes = Future("ES", "202612", "CME"), Future("MES", "202612", "CME")
        await ib.qualifyContractsAsync(es, mes)
        # 2 ES at ~6000 points x 50: 25 % of ~600k is far above 100k of funds (the points alone would need 3k)
        too_big = ib.placeOrder(es, MarketOrder("BUY", 2))
        await status(ib, too_big, "Inactive")
        assert [c for _, c, _ in errors] == [201] and "AVAILABLE FUNDS" in errors[0][2]
        what_if = await ib.whatIfOrderAsync(mes, MarketOrder("BUY", 3))
        assert what_if.commission == pytest.approx(3 * 0.85)
        fits = ib.placeOrder(mes, MarketOrder("BUY", 3))                # 3 x 5 x ~6000: ~22.5k of margin
        await status(ib, fits, "Filled")
        price = fits.orderStatus.avgFillPrice
        assert float(what_if.initMarginChange) == pytest.approx(3 * 5 * price * 0.25, rel=0.01)
        await wait_until(ib, lambda: fits.fills and fits.fills[-1].commissionReport.commission,
                         what="the fill's commission report")
        assert sum(f.commissionReport.commission for f in fits.fills) == pytest.approx(3 * 0.85)
        [p] = [p for p in ib.positions() if p.contract.conId == mes.conId] or [None]
        assert p is not None and p.position == 3
        assert p.avgCost == pytest.approx(price * 5 + 0.85, abs=0.01)    # per contract: x multiplier + commission
