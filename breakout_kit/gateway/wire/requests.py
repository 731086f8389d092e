"""The one table of every incoming TWS API request id: what the gateway answers, or the error TWS sends when it
does not serve it. Nothing is dropped silently.

Ids and field layouts are those of the clients' encoders (ib_insync 0.9.86 / ib_async ``client.py``; 71 startApi
is the session's own, see session.py). Each entry names the EClient method, the handler, where the request's reqId
(or orderId) sits among the fields (so an error about a malformed request carries it) and, in a few words, what
goes back. Three kinds of entries:

- served: a handler answers with data, an end marker or TWS's error for that request;
- quiet: TWS accepts it and answers nothing (cancels, setters, news bulletins until there is news);
- refused: what a plain paper account without that permission or subscription gets from TWS (no depth, no
  tick-by-tick or historical ticks, no fundamentals, no news or WSH feed, not an FA account, no options).

Every handler is ``fn(session, fields)`` with ``fields`` a ``protocol.Fields`` cursor after the message id. The
table is written out (plain imports, no registration side effects) so a reader and the architecture test see every
edge. ``register`` / ``on_disconnect`` still let a test or an extension replace an entry at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..sim.contracts import NO_SECDEF
from . import account_requests as account
from . import contract_requests as contracts
from . import marketdata_requests as marketdata
from . import misc_requests as misc
from . import order_requests as orders
from . import scanner_requests as scanner

if TYPE_CHECKING:
    from .protocol import Fields
    from .session import Session

log = logging.getLogger("breakout_kit.gateway")

Handler = Callable[["Session", "Fields"], None]

# TWS's words for a paper account without the permission or subscription
ERR_NO_DEPTH = "Deep market data is not supported for this combination of security type/exchange"
ERR_NO_TICK_BY_TICK = "Failed to request tick-by-tick data.No market data permissions for ISLAND STK."
ERR_NO_HISTORICAL_TICKS = "Failed to request historical ticks:No market data permissions for ISLAND STK"
ERR_NO_FUNDAMENTALS = "Fundamentals data is not allowed."
ERR_NO_NEWS = "News feed is not allowed."
ERR_NOT_FA = "Error validating request.-'b9' : cause - FA data operations ignored for non FA customers."
ERR_REPLACE_NOT_FA = "Error validating request.-'b1' : cause - FA data operations ignored for non FA customers."


@dataclass(frozen=True)
class Request:
    """One row of the table."""

    name: str                    # the EClient method
    handler: Handler
    req_id_at: int | None        # index of the reqId / orderId field (fields[0] is the message id); None: -1
    answer: str                  # what goes back, in a few words (the docs and the report quote it)
    refusal: tuple[int, str] | None = None   # (code, text) when the gateway refuses the request as TWS does
    #: (gate, index): below API version ``gate`` the request carries a message version and its reqId sits at
    #: ``index`` (placeOrder < 145, reqHistoricalData < 124, reqScannerSubscription < 143)
    older: tuple[int, int] | None = None

    def id_index(self, version: int) -> int | None:
        """Where this request's reqId sits at API ``version``."""
        if self.older is not None and version < self.older[0]:
            return self.older[1]
        return self.req_id_at


def request_id(fields: list[str], at: int | None) -> int:
    """The reqId a reply about ``fields`` carries: the field at ``at`` when it is an integer, else -1."""
    if at is None or at >= len(fields):
        return -1
    try:
        return int(fields[at])
    except ValueError:
        return -1


def served(name: str, handler: Handler, at: int | None, answer: str) -> Request:
    return Request(name, handler, at, answer)


def quiet(name: str, at: int | None, handler: Handler = misc.quiet) -> Request:
    return Request(name, handler, at, "nothing (as TWS)")


def refused(name: str, at: int | None, code: int, text: str) -> Request:
    """A request TWS refuses for this account: error ``code`` with ``text`` for its reqId."""

    def refuse(session: Session, f: Fields) -> None:
        session.error(request_id(f.fields, at), code, text)

    refuse.__qualname__ = refuse.__name__ = f"refuse_{name}"
    return Request(name, refuse, at, f"error {code}", (code, text))


#: every incoming request id of the TWS API -> what the gateway does with it
REQUESTS: dict[int, Request] = {
    1: served("reqMktData", marketdata.req_mkt_data, 2, "58 marketDataType, 1/2/46 ticks (57 snapshotEnd)"),
    2: quiet("cancelMktData", 2, marketdata.cancel_mkt_data),
    3: replace(served("placeOrder", orders.place_order, 1, "5 openOrder + 3 orderStatus; fills 11 + 59"),
               older=(145, 2)),
    4: served("cancelOrder", orders.cancel_order, 2, "3 orderStatus Cancelled + 202 (10147 unknown, 10148 done)"),
    5: served("reqOpenOrders", orders.req_open_orders, None, "5 + 3 per open order, 53 openOrderEnd"),
    6: served("reqAccountUpdates", account.req_account_updates, None, "6 accountValue, 7 portfolio, 8, 54 end"),
    7: served("reqExecutions", orders.req_executions, 2, "11 execDetails + 59 commissionReport, 55 end"),
    8: served("reqIds", misc.req_ids, None, "9 nextValidId"),
    9: served("reqContractDetails", contracts.req_contract_details, 2, "10 contractDetails, 52 end (or 200)"),
    10: refused("reqMktDepth", 2, 10092, ERR_NO_DEPTH),
    11: quiet("cancelMktDepth", 2),
    12: quiet("reqNewsBulletins", None),                 # a subscription: quiet until there is news
    13: quiet("cancelNewsBulletins", None),
    14: served("setServerLogLevel", misc.set_server_log_level, None, "nothing (319 for a level outside 1..5)"),
    15: served("reqAutoOpenOrders", misc.req_auto_open_orders, None, "nothing for clientId 0, else 327"),
    16: served("reqAllOpenOrders", orders.req_all_open_orders, None, "5 + 3 per open order, 53 openOrderEnd"),
    17: served("reqManagedAccts", misc.req_managed_accts, None, "15 managedAccounts"),
    18: refused("requestFA", None, 321, ERR_NOT_FA),
    19: refused("replaceFA", 4, 321, ERR_REPLACE_NOT_FA),
    20: replace(served("reqHistoricalData", marketdata.req_historical_data, 1, "17 historicalData (+ 90 updates)"),
                older=(124, 2)),
    21: refused("exerciseOptions", 2, 200, NO_SECDEF),    # the gateway lists no options
    22: replace(served("reqScannerSubscription", scanner.req_scanner_subscription, 1, "20 scannerData, refreshed"),
                older=(143, 2)),
    23: quiet("cancelScannerSubscription", 2, scanner.cancel_scanner_subscription),
    24: served("reqScannerParameters", scanner.req_scanner_parameters, None, "19 scannerParameters (XML)"),
    25: quiet("cancelHistoricalData", 2, marketdata.cancel_historical_data),
    49: served("reqCurrentTime", account.req_current_time, None, "49 currentTime"),
    50: served("reqRealTimeBars", marketdata.req_real_time_bars, 2, "50 realtimeBar every 5 s"),
    51: quiet("cancelRealTimeBars", 2, marketdata.cancel_real_time_bars),
    52: refused("reqFundamentalData", 2, 10358, ERR_NO_FUNDAMENTALS),
    53: quiet("cancelFundamentalData", 2),
    54: refused("calculateImpliedVolatility", 2, 200, NO_SECDEF),
    55: refused("calculateOptionPrice", 2, 200, NO_SECDEF),
    56: quiet("cancelCalculateImpliedVolatility", 2),
    57: quiet("cancelCalculateOptionPrice", 2),
    58: served("reqGlobalCancel", orders.req_global_cancel, None, "3 orderStatus Cancelled + 202 per order"),
    59: quiet("reqMarketDataType", None, marketdata.req_market_data_type),
    61: served("reqPositions", account.req_positions, None, "61 position each, 62 positionEnd"),
    62: served("reqAccountSummary", account.req_account_summary, 2, "63 accountSummary, 64 end"),
    63: quiet("cancelAccountSummary", 2, account.cancel_account_summary),
    64: quiet("cancelPositions", None, account.cancel_positions),
    65: served("verifyRequest", misc.verify_request, None, "66 verifyCompleted(false)"),
    66: served("verifyMessage", misc.verify_request, None, "66 verifyCompleted(false)"),
    67: served("queryDisplayGroups", misc.query_display_groups, 2, "67 displayGroupList"),
    68: served("subscribeToGroupEvents", misc.subscribe_to_group_events, 2, "68 displayGroupUpdated"),
    69: served("updateDisplayGroup", misc.update_display_group, 2, "68 displayGroupUpdated (subscribed)"),
    70: quiet("unsubscribeFromGroupEvents", 2, misc.unsubscribe_from_group_events),
    72: served("verifyAndAuthRequest", misc.verify_and_auth_request, None, "70 verifyAndAuthCompleted(false)"),
    73: served("verifyAndAuthMessage", misc.verify_and_auth_request, None, "70 verifyAndAuthCompleted(false)"),
    74: served("reqPositionsMulti", account.req_positions_multi, 2, "71 positionMulti each, 72 end"),
    75: quiet("cancelPositionsMulti", 2, account.cancel_positions_multi),
    76: served("reqAccountUpdatesMulti", account.req_account_updates_multi, 2, "73 accountUpdateMulti, 74 end"),
    77: quiet("cancelAccountUpdatesMulti", 2, account.cancel_account_updates_multi),
    78: served("reqSecDefOptParams", misc.req_sec_def_opt_params, 1, "76 end (no option chains)"),
    79: served("reqSoftDollarTiers", misc.req_soft_dollar_tiers, 1, "77 softDollarTiers (none)"),
    80: served("reqFamilyCodes", misc.req_family_codes, None, "78 familyCodes (none)"),
    81: served("reqMatchingSymbols", contracts.req_matching_symbols, 1, "79 symbolSamples"),
    82: served("reqMktDepthExchanges", misc.req_mkt_depth_exchanges, None, "80 mktDepthExchanges (none)"),
    83: served("reqSmartComponents", misc.req_smart_components, 1, "82 smartComponents (none)"),
    84: refused("reqNewsArticle", 1, 10276, ERR_NO_NEWS),
    85: served("reqNewsProviders", misc.req_news_providers, None, "85 newsProviders (none)"),
    86: refused("reqHistoricalNews", 1, 10276, ERR_NO_NEWS),
    87: served("reqHeadTimeStamp", marketdata.req_head_timestamp, 1, "88 headTimestamp"),
    88: served("reqHistogramData", marketdata.req_histogram_data, 1, "89 histogramData"),
    89: quiet("cancelHistogramData", 1),
    90: quiet("cancelHeadTimeStamp", 1, marketdata.cancel_head_timestamp),
    91: served("reqMarketRule", misc.req_market_rule, None, "93 marketRule (321 for an unknown id)"),
    92: served("reqPnL", account.req_pnl, 1, "94 pnl, then on changes"),
    93: quiet("cancelPnL", 1, account.cancel_pnl),
    94: served("reqPnLSingle", account.req_pnl_single, 1, "95 pnlSingle, then on changes"),
    95: quiet("cancelPnLSingle", 1, account.cancel_pnl_single),
    96: refused("reqHistoricalTicks", 1, 10187, ERR_NO_HISTORICAL_TICKS),
    97: refused("reqTickByTickData", 1, 10189, ERR_NO_TICK_BY_TICK),
    98: quiet("cancelTickByTickData", 1),
    99: served("reqCompletedOrders", orders.req_completed_orders, None, "101 completedOrder each, 102 end"),
    100: refused("reqWshMetaData", 1, 10276, ERR_NO_NEWS),
    101: quiet("cancelWshMetaData", 1),
    102: refused("reqWshEventData", 1, 10276, ERR_NO_NEWS),
    103: quiet("cancelWshEventData", 1),
    104: served("reqUserInfo", misc.req_user_info, 1, "107 userInfo"),
}

#: incoming message id -> handler(session, fields): what dispatch calls (``register`` replaces entries)
HANDLERS: dict[int, Handler] = {msg_id: r.handler for msg_id, r in REQUESTS.items()}

#: called once per session when its connection ends (per-client cleanup)
DISCONNECT_HOOKS: list[Callable[[Session], None]] = [
    marketdata.drop_subscriptions,
    orders.drop_streams,
    scanner.drop_scans,
]


def register(msg_id: int) -> Callable[[Handler], Handler]:
    """Decorator: make ``fn(session, fields)`` the handler for incoming message ``msg_id`` (replacing the table's)."""

    def deco(fn: Handler) -> Handler:
        if msg_id in HANDLERS and HANDLERS[msg_id] is not fn:
            log.debug("handler for message %d replaced by %s", msg_id, fn.__qualname__)
        HANDLERS[msg_id] = fn
        return fn

    return deco


def on_disconnect(fn: Callable[[Session], None]) -> Callable[[Session], None]:
    """Decorator: call ``fn(session)`` when any session ends (cancel its subscriptions etc.)."""
    DISCONNECT_HOOKS.append(fn)
    return fn
