"""API version negotiation and the version-gated fields of every message the gateway sends.

The simulation builds each message in the layout of server version ``BASE`` (157). A session that negotiated
another version gets it through an adapter here, which adds or removes exactly the fields whose gate lies between
``BASE`` and the session's version, as TWS does. The gates are those the client libraries' decoders read:
ib_insync 0.9.86 (157..176) and IB's own ibapi 9.81 (100..157, ``server_versions.py``).

Where it stops: ``TOP`` = 176, the newest version whose fields a decoder installed with this project can read
back (ib_insync 0.9.86's ``MaxClientVersion``). From 177 on, messages change in ways no installed decoder checks
(177 FA profiles gone, 178 pending price revision, 179 fund data fields in contractDetails, 182 last trade date,
183 customer account, ... 190+ protobuf), so a client offering more gets 176.

Incoming requests change with the version too; their decoders (order_codec.py, marketdata_requests.py,
scanner_requests.py) read ``session.server_version``. Fields a newer client appends and the gateway does not use
(placeOrder's duration, postToAts, ... at 158+; reqContractDetails' issuerId at 176) are left unread.
"""

from __future__ import annotations

from collections.abc import Callable

#: the layout the simulation writes (and the version announced before negotiation existed)
BASE = 157
#: the oldest version served (ibapi 9.81's MIN_CLIENT_VER)
MIN_VERSION = 100
#: the newest version served (see the module docstring for why it stops here)
TOP = 176

Adapter = Callable[[tuple, int], tuple]


def negotiate(lo: int, hi: int) -> int | None:
    """The version to answer a client offering ``lo..hi``: the highest both sides support, None when the
    client's range ends below ``MIN_VERSION``."""
    if hi < MIN_VERSION:
        return None
    return min(hi, TOP)


def _without(fields: tuple, names: list[str], gates: dict[str, int], version: int) -> list:
    """``fields`` (named by ``names``) without those whose gate is above ``version``."""
    if len(fields) != len(names):
        raise ValueError(f"message {fields[0]} has {len(fields)} fields, its layout {len(names)}")
    return [v for v, name in zip(fields, names, strict=True) if gates.get(name, 0) <= version]


# ---- 3 orderStatus --------------------------------------------------------------------------------------------------
def order_status(fields: tuple, version: int) -> tuple:
    # below 131 (MARKET_CAP_PRICE): a message version after the id, no mktCapPrice at the end
    if version < 131:
        return (fields[0], 6, *fields[1:-1])
    return fields


# ---- 4 error --------------------------------------------------------------------------------------------------------
def error(fields: tuple, version: int) -> tuple:
    # 166 (ADVANCED_ORDER_REJECT): advancedOrderRejectJson at the end
    return (*fields, "") if version >= 166 else fields


# ---- 5 openOrder ----------------------------------------------------------------------------------------------------
OPEN_ORDER = [
    "msgId", "orderId", "conId", "symbol", "secType", "lastTradeDate", "strike", "right", "multiplier", "exchange",
    "currency", "localSymbol", "tradingClass", "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif",
    "ocaGroup", "account", "openClose", "origin", "orderRef", "clientId", "permId", "outsideRth", "hidden",
    "discretionaryAmt", "goodAfterTime", "sharesAllocation", "faGroup", "faMethod", "faPercentage", "faProfile",
    "modelCode", "goodTillDate", "rule80A", "percentOffset", "settlingFirm", "shortSaleSlot", "designatedLocation",
    "exemptCode", "auctionStrategy", "startingPrice", "stockRefPrice", "delta", "stockRangeLower", "stockRangeUpper",
    "displaySize", "blockOrder", "sweepToFill", "allOrNone", "minQty", "ocaType", "eTradeOnly", "firmQuoteOnly",
    "nbboPriceCap", "parentId", "triggerMethod", "volatility", "volatilityType", "deltaNeutralOrderType",
    "deltaNeutralAuxPrice", "continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent",
    "basisPoints", "basisPointsType", "comboLegsDescrip", "comboLegs", "orderComboLegs", "smartComboRoutingParams",
    "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement", "hedgeType", "optOutSmartRouting",
    "clearingAccount", "clearingIntent", "notHeld", "deltaNeutralContract", "algoStrategy", "solicited", "whatIf",
    "status", "initMarginBefore", "maintMarginBefore", "equityWithLoanBefore", "initMarginChange",
    "maintMarginChange", "equityWithLoanChange", "initMarginAfter", "maintMarginAfter", "equityWithLoanAfter",
    "commission", "minCommission", "maxCommission", "commissionCurrency", "warningText", "randomizeSize",
    "randomizePrice", "conditions", "adjustedOrderType", "triggerPrice", "adjustedTrailStopPrice", "lmtPriceOffset",
    "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit",
    "softDollarTierName", "softDollarTierValue", "softDollarTierDisplayName", "cashQty", "dontUseAutoPriceForHedge",
    "isOmsContainer", "discretionaryUpToLimitPrice", "usePriceMgmtAlgo",
]
OPEN_ORDER_GATES = {
    "modelCode": 103,                                                         # MODELS_SUPPORT
    **dict.fromkeys(["initMarginBefore", "maintMarginBefore", "equityWithLoanBefore", "initMarginChange",
                     "maintMarginChange", "equityWithLoanChange"], 142),    # WHAT_IF_EXT_FIELDS
    **dict.fromkeys(["conditions", "adjustedOrderType", "triggerPrice", "adjustedTrailStopPrice", "lmtPriceOffset",
                     "adjustedStopPrice", "adjustedStopLimitPrice", "adjustedTrailingAmount",
                     "adjustableTrailingUnit"], 102),                        # PEGGED_TO_BENCHMARK
    **dict.fromkeys(["softDollarTierName", "softDollarTierValue", "softDollarTierDisplayName"], 106),
    "cashQty": 111,
    "dontUseAutoPriceForHedge": 141,
    "isOmsContainer": 145,
    "discretionaryUpToLimitPrice": 148,
    "usePriceMgmtAlgo": 151,
}
#: openOrder's own message version below ORDER_CONTAINER (145): the last one, every versioned field present
OPEN_ORDER_MESSAGE_VERSION = 34
#: fields newer versions append to openOrder and completedOrder (empty: the order does not use them)
ORDER_TAIL_GATES = [(158, 1), (160, 1), (162, 1), (170, 5)]   # duration; postToAts; autoCancelParent; PEG BEST/MID


def _order_tail(version: int, gates: list[tuple[int, int]]) -> list:
    return [""] * sum(n for gate, n in gates if version >= gate)


def open_order(fields: tuple, version: int) -> tuple:
    out = _without(fields, OPEN_ORDER, OPEN_ORDER_GATES, version) if version < BASE else list(fields)
    if version < 145:
        out.insert(1, OPEN_ORDER_MESSAGE_VERSION)
    return (*out, *_order_tail(version, ORDER_TAIL_GATES))


# ---- 10 contractDetails ---------------------------------------------------------------------------------------------
CONTRACT_DETAILS = [
    "msgId", "version", "reqId", "symbol", "secType", "lastTradeDate", "strike", "right", "exchange", "currency",
    "localSymbol", "marketName", "tradingClass", "conId", "minTick", "mdSizeMultiplier", "multiplier", "orderTypes",
    "validExchanges", "priceMagnifier", "underConId", "longName", "primaryExchange", "contractMonth", "industry",
    "category", "subcategory", "timeZoneId", "tradingHours", "liquidHours", "evRule", "evMultiplier", "secIds",
    "aggGroup", "underSymbol", "underSecType", "marketRuleIds", "realExpirationDate", "stockType",
]
CONTRACT_DETAILS_GATES = {"mdSizeMultiplier": 110, "aggGroup": 121, "underSymbol": 122, "underSecType": 122,
                          "marketRuleIds": 126, "realExpirationDate": 134, "stockType": 152}
#: minSize, sizeIncrement, suggestedSizeIncrement of a stock (SIZE_RULES, 164; 163 sent the last one only)
SIZE_RULES = ("1", "1", "100")


def contract_details(fields: tuple, version: int) -> tuple:
    if version < BASE:
        return tuple(_without(fields, CONTRACT_DETAILS, CONTRACT_DETAILS_GATES, version))
    if version < 163:
        return fields
    if version == 163:
        return (*fields, SIZE_RULES[2])
    # 164: no message version, no mdSizeMultiplier; the size rules at the end
    md_size = CONTRACT_DETAILS.index("mdSizeMultiplier")
    return (fields[0], *fields[2:md_size], *fields[md_size + 1:], *SIZE_RULES)


# ---- 11 execDetails -------------------------------------------------------------------------------------------------
#: execDetails' own message version below LAST_LIQUIDITY (136): the last one, every versioned field present
EXEC_MESSAGE_VERSION = 10


def exec_details(fields: tuple, version: int) -> tuple:
    if version >= 136:
        return fields
    out = list(fields[:-1])               # no lastLiquidity
    if version < 103:                     # no modelCode (MODELS_SUPPORT), the field before it
        del out[-1]
    out.insert(1, EXEC_MESSAGE_VERSION)
    return tuple(out)


# ---- 17 historicalData ----------------------------------------------------------------------------------------------
def historical_data(fields: tuple, version: int) -> tuple:
    # below 124 (SYNT_REALTIME_BARS): a message version, and a hasGaps field before each bar's count
    if version >= 124:
        return fields
    out: list = [fields[0], 3, *fields[1:5]]
    for k in range(5, len(fields), 8):
        out += [*fields[k:k + 7], "false", fields[k + 7]]
    return tuple(out)


# ---- 79 symbolSamples -----------------------------------------------------------------------------------------------
def symbol_samples(fields: tuple, version: int) -> tuple:
    # 176 (BOND_ISSUERID): description and issuerId after each row (rows carry no derivative types here)
    if version < 176:
        return fields
    out: list = list(fields[:3])
    for k in range(3, len(fields), 6):
        if fields[k + 5] != 0:
            raise ValueError("symbolSamples rows with derivative security types are not adapted")
        out += [*fields[k:k + 6], "", ""]
    return tuple(out)


# ---- 94 pnl, 95 pnlSingle -------------------------------------------------------------------------------------------
def pnl(fields: tuple, version: int) -> tuple:
    # [94, reqId, daily, unrealized (129), realized (135)]
    return fields[:3] + (fields[3:4] if version >= 129 else ()) + (fields[4:5] if version >= 135 else ())


def pnl_single(fields: tuple, version: int) -> tuple:
    # [95, reqId, pos, daily, unrealized (129), realized (135), value]
    return (fields[:4] + (fields[4:5] if version >= 129 else ()) + (fields[5:6] if version >= 135 else ())
            + fields[6:])


# ---- 101 completedOrder ---------------------------------------------------------------------------------------------
def completed_order(fields: tuple, version: int) -> tuple:
    return (*fields, *_order_tail(version, [(170, 5)]))


#: message id -> adapter(fields in BASE layout, session version) -> fields for that version
ADAPTERS: dict[int, Adapter] = {
    3: order_status,
    4: error,
    5: open_order,
    10: contract_details,
    11: exec_details,
    17: historical_data,
    79: symbol_samples,
    94: pnl,
    95: pnl_single,
    101: completed_order,
}


#: where an adapter leaves its message unchanged: (lowest, highest) version, both included
IDENTITY = {3: (131, TOP), 4: (0, 165), 5: (BASE, BASE), 10: (BASE, 162), 11: (136, TOP), 17: (124, TOP),
            79: (0, 175), 94: (135, TOP), 95: (135, TOP), 101: (0, 169)}


def adapters_for(version: int) -> dict[int, Adapter]:
    """The adapters a session at ``version`` needs (none at ``BASE``), chosen once at the handshake so the hot
    path (bars, ticks) pays one dict lookup at most."""
    return {msg_id: adapt for msg_id, adapt in ADAPTERS.items()
            if not IDENTITY[msg_id][0] <= version <= IDENTITY[msg_id][1]}
