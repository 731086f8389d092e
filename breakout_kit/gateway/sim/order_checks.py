"""placeOrder field checks, as TWS reads the request: a numeric field that does not parse is error 320 naming the
field, a number that is not finite is error 321; either way the order is not stored.

The gateway keeps an order's raw fields and echoes them in openOrder / completedOrder (order_codec.py), where the
client decodes each one by its type (ib_insync's ``Decoder.parse``: ``int(v)``, ``float(v)``, ``bool(int(v))``). A
field stored raw that does not decode breaks every later open-order list of every client, so anything that is
accepted here decodes as the type the client libraries (and TWS's own Java reader) give it.
"""

from __future__ import annotations

import math
import re

from .order_model import Rejected, invalid

# Types of the placeOrder fields the clients decode as numbers (ib_insync 0.9.86 / ib_async 2.x ``Order``);
# every other field is text. tests/gateway/test_order_checks.py compares this table with ib_insync's Order.
INT_FIELDS = frozenset((
    "origin", "parentId", "displaySize", "triggerMethod", "shortSaleSlot", "exemptCode", "ocaType", "minQty",
    "auctionStrategy", "volatilityType", "deltaNeutralConId", "deltaNeutralShortSaleSlot", "referencePriceType",
    "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceAdjustInterval", "scaleInitPosition", "scaleInitFillQty",
    "adjustableTrailingUnit"))
FLOAT_FIELDS = frozenset((
    "totalQuantity", "lmtPrice", "auxPrice", "discretionaryAmt", "percentOffset", "nbboPriceCap", "startingPrice",
    "stockRefPrice", "delta", "stockRangeLower", "stockRangeUpper", "volatility", "deltaNeutralAuxPrice",
    "trailStopPrice", "trailingPercent", "scalePriceIncrement", "scalePriceAdjustValue", "scaleProfitOffset",
    "triggerPrice", "lmtPriceOffset", "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount",
    "cashQty"))
BOOL_FIELDS = frozenset((
    "transmit", "blockOrder", "sweepToFill", "outsideRth", "hidden", "allOrNone", "eTradeOnly", "firmQuoteOnly",
    "overridePercentageConstraints", "deltaNeutralShortSale", "continuousUpdate", "scaleAutoReset",
    "scaleRandomPercent", "optOutSmartRouting", "notHeld", "whatIf", "solicited", "randomizeSize", "randomizePrice",
    "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo"))

#: words for the fields users set most, as TWS's messages say them
LABELS = {"totalQuantity": "order quantity", "lmtPrice": "limit price", "auxPrice": "stop price"}

# plain ASCII numbers only: Python's int()/float() also take "1_000", " 7 " or non-ASCII digits, TWS does not
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")
_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity|infinite)", re.IGNORECASE)


def _reading_error(name: str, value: str, kind: str) -> Rejected:
    return Rejected(320, f"Error reading request. Field {name!r}: {value[:40]!r} is not {kind}")


def check_fields(raw: dict[str, str]) -> None:
    """Raise ``Rejected`` (320: does not parse, 321: not a finite number) for the first bad field of ``raw``."""
    for name, value in raw.items():
        if not value:
            continue                        # unset
        if name in INT_FIELDS or name in BOOL_FIELDS:
            if not _INT.fullmatch(value):
                raise _reading_error(name, value, "an integer" if name in INT_FIELDS else "0 or 1")
        elif name in FLOAT_FIELDS:
            if _NOT_FINITE.fullmatch(value) or (_FLOAT.fullmatch(value) and not math.isfinite(float(value))):
                label = LABELS.get(name, name)
                raise Rejected(321, invalid(f"The {label} must be a finite number, got {value[:40]!r}"))
            if not _FLOAT.fullmatch(value):
                raise _reading_error(name, value, "a number")


__all__ = ["BOOL_FIELDS", "FLOAT_FIELDS", "INT_FIELDS", "check_fields"]
