"""The outgoing order messages at server version 157: openOrder (5), completedOrder (101), orderStatus (3),
execDetails (11), commissionReport (59), as field lists.

The order is kept as the client sent it (``Order.fields``: field name -> raw string, decoded by
``wire/order_codec.py``), so everything the gateway does not interpret (faGroup, rule80A, ...) is echoed back
unchanged. Field lists follow ib_insync 0.9.86's ``decoder.openOrder`` / ``completedOrder`` exactly; one missing
field would shift every later one silently, so tests compare the client's decoded Order objects.
"""

from __future__ import annotations

#: TWS's "unset double" (Double.MAX_VALUE), sent as a number in some fields.
UNSET_DOUBLE = 1.7976931348623157e308


def contract_fields(inst, exchange: str) -> list:
    """The 11 contract fields of openOrder/execDetails/completedOrder (no primaryExchange)."""
    return inst.contract_fields(exchange)


def open_order_fields(order, state: dict | None = None) -> list:
    """openOrder (5) for ``order`` (orders.Order); ``state`` overrides OrderState fields (what-if margins)."""
    o = order.fields
    g = o.get
    st = {"status": order.status, **(state or {})}
    s = st.get
    return [
        5, order.order_id, *contract_fields(order.inst, order.exchange),
        g("action"), g("totalQuantity"), g("orderType"), g("lmtPrice"), g("auxPrice"), order.tif, g("ocaGroup"),
        order.account, g("openClose"), g("origin"), g("orderRef"), order.client_id, order.perm_id,
        g("outsideRth"), g("hidden"), g("discretionaryAmt"), g("goodAfterTime"),
        "",  # sharesAllocation (deprecated)
        g("faGroup"), g("faMethod"), g("faPercentage"), g("faProfile"), g("modelCode"), g("goodTillDate"),
        g("rule80A"), g("percentOffset"), g("settlingFirm"), g("shortSaleSlot"), g("designatedLocation"),
        g("exemptCode"), g("auctionStrategy"), g("startingPrice"), g("stockRefPrice"), g("delta"),
        g("stockRangeLower"), g("stockRangeUpper"), g("displaySize"), g("blockOrder"), g("sweepToFill"),
        g("allOrNone"), g("minQty"), order.oca_type, g("eTradeOnly"), g("firmQuoteOnly"), g("nbboPriceCap"),
        order.parent_id, g("triggerMethod"), g("volatility"), g("volatilityType"),
        "", "",  # deltaNeutralOrderType, deltaNeutralAuxPrice (no delta-neutral block follows)
        g("continuousUpdate"), g("referencePriceType"), g("trailStopPrice"), g("trailingPercent"),
        "", "",  # basisPoints, basisPointsType
        "",  # comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo routing params
        g("scaleInitLevelSize"), g("scaleSubsLevelSize"), "",  # scalePriceIncrement unset: no scale block
        "",  # hedgeType
        g("optOutSmartRouting"), g("clearingAccount"), g("clearingIntent"), g("notHeld"),
        0,  # deltaNeutralContract present
        "",  # algoStrategy
        g("solicited"), g("whatIf"), s("status"),
        s("initMarginBefore", ""), s("maintMarginBefore", ""), s("equityWithLoanBefore", ""),
        s("initMarginChange", ""), s("maintMarginChange", ""), s("equityWithLoanChange", ""),
        s("initMarginAfter", ""), s("maintMarginAfter", ""), s("equityWithLoanAfter", ""),
        s("commission", ""), s("minCommission", ""), s("maxCommission", ""), s("commissionCurrency", ""),
        s("warningText", ""),
        g("randomizeSize"), g("randomizePrice"),
        0,  # conditions
        g("adjustedOrderType"), g("triggerPrice"), g("trailStopPrice"), g("lmtPriceOffset"),
        g("adjustedStopPrice"), g("adjustedStopLimitPrice"), g("adjustedTrailingAmount"),
        g("adjustableTrailingUnit"), g("softDollarTierName"), g("softDollarTierValue"), "",  # tier display name
        g("cashQty"), g("dontUseAutoPriceForHedge"), g("isOmsContainer"), g("discretionaryUpToLimitPrice"),
        g("usePriceMgmtAlgo"),
    ]


def completed_order_fields(order) -> list:
    """completedOrder (101) for a finished order (no orderId on the wire: clients key it by permId)."""
    o = order.fields
    g = o.get
    return [
        101, *contract_fields(order.inst, order.exchange),
        g("action"), g("totalQuantity"), g("orderType"), g("lmtPrice"), g("auxPrice"), order.tif, g("ocaGroup"),
        order.account, g("openClose"), g("origin"), g("orderRef"), order.perm_id, g("outsideRth"), g("hidden"),
        g("discretionaryAmt"), g("goodAfterTime"), g("faGroup"), g("faMethod"), g("faPercentage"),
        g("faProfile"), g("modelCode"), g("goodTillDate"), g("rule80A"), g("percentOffset"), g("settlingFirm"),
        g("shortSaleSlot"), g("designatedLocation"), g("exemptCode"), g("startingPrice"), g("stockRefPrice"),
        g("delta"), g("stockRangeLower"), g("stockRangeUpper"), g("displaySize"), g("sweepToFill"),
        g("allOrNone"), g("minQty"), order.oca_type, g("triggerMethod"), g("volatility"), g("volatilityType"),
        "", "",  # deltaNeutralOrderType, deltaNeutralAuxPrice
        g("continuousUpdate"), g("referencePriceType"), g("trailStopPrice"), g("trailingPercent"),
        "",  # comboLegsDescrip
        0, 0, 0,
        g("scaleInitLevelSize"), g("scaleSubsLevelSize"), "",
        "",  # hedgeType
        g("clearingAccount"), g("clearingIntent"), g("notHeld"),
        0, "",  # deltaNeutralContract present, algoStrategy
        g("solicited"), order.status, g("randomizeSize"), g("randomizePrice"),
        0,  # conditions
        g("trailStopPrice"), g("lmtPriceOffset"), g("cashQty"), g("dontUseAutoPriceForHedge"), g("isOmsContainer"),
        "",  # autoCancelDate
        order.filled, "", "", "", "", "",  # filledQuantity, refFuturesConId, autoCancelParent, shareholder,
        #                                    imbalanceOnly, routeMarketableToBbo
        order.parent_perm_id or "",
        order.completed_time, order.completed_status,
    ]


def order_status_fields(order) -> list:
    """orderStatus (3) at server version 157 (no version field)."""
    return [3, order.order_id, order.status, order.filled, order.remaining, order.avg_fill_price, order.perm_id,
            order.parent_id, order.last_fill_price, order.client_id, order.why_held, ""]


def exec_details_fields(req_id: int, ex) -> list:
    """execDetails (11) for ``ex`` (orders.Execution); reqId -1 for live fills."""
    order = ex.order
    return [11, req_id, order.order_id, *contract_fields(order.inst, order.exchange), ex.exec_id, ex.time_text,
            order.account, ex.exchange, ex.side, ex.shares, ex.price, order.perm_id, order.client_id, 0, ex.cum_qty,
            ex.avg_price, order.fields.get("orderRef", ""), "", "", "", ex.last_liquidity]


def commission_report_fields(ex) -> list:
    """commissionReport (59): realized PnL only for fills that closed a position (else TWS's unset double)."""
    realized = ex.realized_pnl if ex.realized_pnl is not None else UNSET_DOUBLE
    return [59, 1, ex.exec_id, round(ex.commission, 6), "USD", realized, UNSET_DOUBLE, 0]
