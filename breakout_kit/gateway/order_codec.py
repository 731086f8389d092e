"""Field codecs for the order messages at server version 157: placeOrder (3) in, and openOrder (5),
completedOrder (101), orderStatus (3), execDetails (11), commissionReport (59) out.

The order is kept as the client sent it: a dict of field name -> raw string, so everything the gateway does not
interpret (faGroup, rule80A, ...) is echoed back unchanged. Field lists follow ib_insync 0.9.86's
``client.placeOrder`` and ``decoder.openOrder`` / ``completedOrder`` exactly; one missing field would shift every
later one silently, so tests compare the client's decoded Order objects.
"""

from __future__ import annotations

from .protocol import Fields, ProtocolError

#: TWS's "unset double" (Double.MAX_VALUE), sent as a number in some fields.
UNSET_DOUBLE = 1.7976931348623157e308

# placeOrder fields after orderId and the 12 contract fields, in client order (server version 157).
_HEAD = ["secIdType", "secId", "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin", "orderRef", "transmit", "parentId", "blockOrder", "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden"]
_MIDDLE = ["sharesAllocation", "discretionaryAmt", "goodAfterTime", "goodTillDate", "faGroup", "faMethod", "faPercentage", "faProfile", "modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType", "rule80A", "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly", "firmQuoteOnly", "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice", "delta", "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints", "volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice"]
_DELTA_NEUTRAL = ["deltaNeutralConId", "deltaNeutralSettlingFirm", "deltaNeutralClearingAccount", "deltaNeutralClearingIntent", "deltaNeutralOpenClose", "deltaNeutralShortSale", "deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation"]
_SCALE = ["continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent", "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement"]
_SCALE_MORE = ["scalePriceAdjustValue", "scalePriceAdjustInterval", "scaleProfitOffset", "scaleAutoReset", "scaleInitPosition", "scaleInitFillQty", "scaleRandomPercent"]
_TAIL = ["adjustedOrderType", "triggerPrice", "lmtPriceOffset", "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit", "extOperator", "softDollarTierName", "softDollarTierValue", "cashQty", "mifid2DecisionMaker", "mifid2DecisionAlgo", "mifid2ExecutionTrader", "mifid2ExecutionAlgo", "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo"]

#: every order field placeOrder may carry (the keys of the gateway's raw order fields)
PLACE_ORDER_FIELDS = (*_HEAD, *_MIDDLE, *_DELTA_NEUTRAL, *_SCALE, *_SCALE_MORE, "scaleTable", "activeStartTime",
                      "activeStopTime", "hedgeType", "hedgeParam", "optOutSmartRouting", "clearingAccount",
                      "clearingIntent", "notHeld", "algoStrategy", "algoId", "whatIf", "orderMiscOptions", "solicited",
                      "randomizeSize", "randomizePrice", *_TAIL)


class Unsupported(ValueError):
    """A well-formed order using a feature the paper gateway does not simulate (combo, conditions, ...)."""


def _take(f: Fields, names, into: dict) -> None:
    for name in names:
        into[name] = f.str()


def parse_place_order(f: Fields) -> tuple[int, object, dict]:
    """Read a placeOrder message: (orderId, ContractSpec, order fields). Raises ``Unsupported`` for combos and
    conditional orders (after the fields needed to answer have been read)."""
    order_id = f.int()
    spec = f.contract()
    o: dict[str, str] = {}
    _take(f, _HEAD, o)
    if spec.secType == "BAG":
        raise Unsupported("combo (BAG) orders are not supported by the paper gateway")
    _take(f, _MIDDLE, o)
    if o["deltaNeutralOrderType"]:
        _take(f, _DELTA_NEUTRAL, o)
    _take(f, _SCALE, o)
    increment = _float(o["scalePriceIncrement"])
    if 0 < increment < UNSET_DOUBLE:
        _take(f, _SCALE_MORE, o)
    _take(f, ("scaleTable", "activeStartTime", "activeStopTime", "hedgeType"), o)
    if o["hedgeType"]:
        o["hedgeParam"] = f.str()
    _take(f, ("optOutSmartRouting", "clearingAccount", "clearingIntent", "notHeld"), o)
    if f.bool():  # deltaNeutralContract present
        f.skip(3)
    o["algoStrategy"] = f.str()
    if o["algoStrategy"]:
        f.skip(2 * f.int())
    _take(f, ("algoId", "whatIf", "orderMiscOptions", "solicited", "randomizeSize", "randomizePrice"), o)
    if o["orderType"] == "PEG BENCH":
        raise Unsupported("PEG BENCH orders are not supported by the paper gateway")
    if f.int():
        raise Unsupported("conditional orders are not supported by the paper gateway")
    _take(f, _TAIL, o)
    return order_id, spec, o


def _float(s: str) -> float:
    try:
        return float(s) if s else 0.0
    except ValueError:
        raise ProtocolError(f"not a number: {s!r}") from None


def contract_fields(inst, exchange: str) -> list:
    """The 11 contract fields of openOrder/execDetails/completedOrder (no primaryExchange)."""
    return [inst.con_id, inst.symbol, "STK", "", 0.0, "", "", exchange, inst.currency, inst.symbol, inst.symbol]


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
