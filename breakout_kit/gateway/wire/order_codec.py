"""The placeOrder (3) decoder for API versions 100..176 (the outgoing order messages are built in
``sim/order_messages.py``, adapted per version in versions.py).

The order is kept as the client sent it: a dict of field name -> raw string, so everything the gateway does not
interpret (faGroup, rule80A, ...) is echoed back unchanged. The field list follows ib_insync 0.9.86's
``client.placeOrder`` exactly; one missing field would shift every later one silently.
"""

from __future__ import annotations

from ..sim.order_messages import UNSET_DOUBLE
from .protocol import Fields, ProtocolError
from .versions import BASE

# placeOrder fields after orderId and the 12 contract fields, in client order (server version 157).
_HEAD = ["secIdType", "secId", "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin", "orderRef", "transmit", "parentId", "blockOrder", "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden"]
_MIDDLE = ["sharesAllocation", "discretionaryAmt", "goodAfterTime", "goodTillDate", "faGroup", "faMethod", "faPercentage", "faProfile", "modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType", "rule80A", "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly", "firmQuoteOnly", "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice", "delta", "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints", "volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice"]
_DELTA_NEUTRAL = ["deltaNeutralConId", "deltaNeutralSettlingFirm", "deltaNeutralClearingAccount", "deltaNeutralClearingIntent", "deltaNeutralOpenClose", "deltaNeutralShortSale", "deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation"]
_SCALE = ["continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent", "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement"]
_SCALE_MORE = ["scalePriceAdjustValue", "scalePriceAdjustInterval", "scaleProfitOffset", "scaleAutoReset", "scaleInitPosition", "scaleInitFillQty", "scaleRandomPercent"]
_TAIL = ["adjustedOrderType", "triggerPrice", "lmtPriceOffset", "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit", "extOperator", "softDollarTierName", "softDollarTierValue", "cashQty", "mifid2DecisionMaker", "mifid2DecisionAlgo", "mifid2ExecutionTrader", "mifid2ExecutionAlgo", "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo"]

#: the API version each tail field first appears in (ibapi 9.81's placeOrder)
_TAIL_GATES = {
    **dict.fromkeys(_TAIL[:7], 102), "extOperator": 105, "softDollarTierName": 106, "softDollarTierValue": 106,
    "cashQty": 111, "mifid2DecisionMaker": 138, "mifid2DecisionAlgo": 138, "mifid2ExecutionTrader": 139,
    "mifid2ExecutionAlgo": 139, "dontUseAutoPriceForHedge": 141, "isOmsContainer": 145,
    "discretionaryUpToLimitPrice": 148, "usePriceMgmtAlgo": 151,
}


class Unsupported(ValueError):
    """A well-formed order using a feature the paper gateway does not simulate (combo, conditions, ...)."""


def _take(f: Fields, names, into: dict) -> None:
    for name in names:
        into[name] = f.str()


def parse_place_order(f: Fields, version: int = BASE) -> tuple[int, object, dict]:
    """Read a placeOrder message as a client at API ``version`` writes it: (orderId, ContractSpec, order fields).
    Raises ``Unsupported`` for combos and conditional orders (after the fields needed to answer have been read).
    Fields newer clients append after usePriceMgmtAlgo (duration 158, postToAts 160, ...) are left unread."""
    if version < 145:
        f.int()  # the message version (ORDER_CONTAINER made it the API version)
    order_id = f.int()
    spec = f.contract()
    o: dict[str, str] = {}
    _take(f, _HEAD, o)
    if spec.secType == "BAG":
        raise Unsupported("combo (BAG) orders are not supported by the paper gateway")
    _take(f, [n for n in _MIDDLE if n != "modelCode" or version >= 103], o)
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
    if version >= 102:                   # PEGGED_TO_BENCHMARK: peg-bench fields, conditions, adjusted fields
        if o["orderType"] == "PEG BENCH":
            raise Unsupported("PEG BENCH orders are not supported by the paper gateway")
        if f.int():
            raise Unsupported("conditional orders are not supported by the paper gateway")
    _take(f, [n for n in _TAIL if _TAIL_GATES.get(n, 0) <= version], o)
    return order_id, spec, o


def _float(s: str) -> float:
    try:
        return float(s) if s else 0.0
    except ValueError:
        raise ProtocolError(f"not a number: {s!r}") from None
