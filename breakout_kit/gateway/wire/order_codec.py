"""The placeOrder (3) decoder at server version 157 (the outgoing order messages are built in
``sim/order_messages.py``).

The order is kept as the client sent it: a dict of field name -> raw string, so everything the gateway does not
interpret (faGroup, rule80A, ...) is echoed back unchanged. The field list follows ib_insync 0.9.86's
``client.placeOrder`` exactly; one missing field would shift every later one silently.
"""

from __future__ import annotations

from ..sim.order_messages import UNSET_DOUBLE
from .protocol import Fields, ProtocolError

# placeOrder fields after orderId and the 12 contract fields, in client order (server version 157).
_HEAD = ["secIdType", "secId", "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin", "orderRef", "transmit", "parentId", "blockOrder", "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden"]
_MIDDLE = ["sharesAllocation", "discretionaryAmt", "goodAfterTime", "goodTillDate", "faGroup", "faMethod", "faPercentage", "faProfile", "modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType", "rule80A", "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly", "firmQuoteOnly", "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice", "delta", "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints", "volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice"]
_DELTA_NEUTRAL = ["deltaNeutralConId", "deltaNeutralSettlingFirm", "deltaNeutralClearingAccount", "deltaNeutralClearingIntent", "deltaNeutralOpenClose", "deltaNeutralShortSale", "deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation"]
_SCALE = ["continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent", "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement"]
_SCALE_MORE = ["scalePriceAdjustValue", "scalePriceAdjustInterval", "scaleProfitOffset", "scaleAutoReset", "scaleInitPosition", "scaleInitFillQty", "scaleRandomPercent"]
_TAIL = ["adjustedOrderType", "triggerPrice", "lmtPriceOffset", "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit", "extOperator", "softDollarTierName", "softDollarTierValue", "cashQty", "mifid2DecisionMaker", "mifid2DecisionAlgo", "mifid2ExecutionTrader", "mifid2ExecutionAlgo", "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo"]


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
