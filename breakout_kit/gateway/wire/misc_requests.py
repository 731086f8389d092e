"""The small requests: ids, accounts, display groups, API verification, market rules and the lists a paper account
has nothing in (news providers, depth exchanges, soft-dollar tiers, option chains). Each answers what TWS answers
for a plain (non-FA, no news, no depth) paper account, so no caller waits.

  8 reqIds -> 9 nextValidId                          17 reqManagedAccts -> 15 managedAccounts
  14 setServerLogLevel (quiet; 319 outside 1..5)     15 reqAutoOpenOrders (quiet for clientId 0, else 327)
  65/66 verifyRequest/Message -> 66 verifyCompleted(false); 72/73 verifyAndAuth* -> 70 verifyAndAuthCompleted(false)
  67 queryDisplayGroups -> 67 displayGroupList; 68 subscribeToGroupEvents -> 68 displayGroupUpdated;
  69 updateDisplayGroup -> 68 to this client when subscribed; 70 unsubscribeFromGroupEvents (quiet)
  78 reqSecDefOptParams -> 76 end (the gateway lists no options)  79 reqSoftDollarTiers -> 77 (none)
  80 reqFamilyCodes -> 78 (none)   82 reqMktDepthExchanges -> 80 (none)   83 reqSmartComponents -> 82 (none)
  85 reqNewsProviders -> 85 (none) 91 reqMarketRule -> 93 marketRule (the rules contractDetails names)
  104 reqUserInfo -> 107 userInfo (no white-branding id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sim.contracts import FUTURE_RULE_TICKS

if TYPE_CHECKING:
    from .protocol import Fields
    from .session import Session

#: the display groups TWS offers (its seven colour groups)
DISPLAY_GROUPS = "1|2|3|4|5|6|7"
#: market rule id -> (low edge, increment) rows; contractDetails names 26 (US stocks) and 239 (IDEALPRO forex)
MARKET_RULES = {26: ((0.0, 0.01),), 239: ((0.0, 0.00005),),
                **{rule: ((0.0, tick),) for rule, tick in FUTURE_RULE_TICKS.items()}}
ERR_VERIFY = "API verification is not supported by the paper gateway"
ERR_AUTO_BIND = "Only API connections with clientId set to 0 can set the auto bind TWS orders property."


def req_ids(session: Session, f: Fields) -> None:
    """reqIds(version, numIds) -> nextValidId (9)."""
    session.send(9, 1, session.gateway.next_order_id)


def req_managed_accts(session: Session, f: Fields) -> None:
    """reqManagedAccts -> managedAccounts (15)."""
    session.send(15, 1, ",".join(session.gateway.accounts))


def set_server_log_level(session: Session, f: Fields) -> None:
    """setServerLogLevel(version, level): TWS answers nothing, or 319 for a level outside 1..5."""
    f.int()  # version
    level = f.int()
    if not 1 <= level <= 5:
        session.error(-1, 319, "Invalid log level")


def req_auto_open_orders(session: Session, f: Fields) -> None:
    """reqAutoOpenOrders(version, bAutoBind): only clientId 0 may bind TWS orders (there are none to bind)."""
    if session.client_id != 0:
        session.error(-1, 327, ERR_AUTO_BIND)


def verify_request(session: Session, f: Fields) -> None:
    """verifyRequest / verifyMessage: verifyCompleted (66) false."""
    session.send(66, 1, False, ERR_VERIFY)


def verify_and_auth_request(session: Session, f: Fields) -> None:
    """verifyAndAuthRequest / verifyAndAuthMessage: verifyAndAuthCompleted (70) false."""
    session.send(70, 1, False, ERR_VERIFY)


def _groups(session: Session) -> dict[int, str]:
    """This session's display-group subscriptions: reqId -> group id."""
    return session.state.setdefault("display_groups", {})  # type: ignore[return-value]


def query_display_groups(session: Session, f: Fields) -> None:
    """queryDisplayGroups(version, reqId) -> displayGroupList (67)."""
    f.int()
    session.send(67, 1, f.int(), DISPLAY_GROUPS)


def subscribe_to_group_events(session: Session, f: Fields) -> None:
    """subscribeToGroupEvents(version, reqId, groupId) -> displayGroupUpdated (68) with no contract shown yet."""
    f.int()
    req_id, group = f.int(), f.int()
    _groups(session)[req_id] = str(group)
    session.send(68, 1, req_id, "")


def update_display_group(session: Session, f: Fields) -> None:
    """updateDisplayGroup(version, reqId, contractInfo) -> displayGroupUpdated (68) for that subscription."""
    f.int()
    req_id, info = f.int(), f.str()
    if req_id in _groups(session):
        session.send(68, 1, req_id, info)


def unsubscribe_from_group_events(session: Session, f: Fields) -> None:
    """unsubscribeFromGroupEvents(version, reqId)."""
    f.int()
    _groups(session).pop(f.int(), None)


def req_sec_def_opt_params(session: Session, f: Fields) -> None:
    """reqSecDefOptParams(reqId, ...) -> securityDefinitionOptionParameterEnd (76): the gateway lists no options."""
    session.send(76, f.int())


def req_soft_dollar_tiers(session: Session, f: Fields) -> None:
    """reqSoftDollarTiers(reqId) -> softDollarTiers (77) with none."""
    session.send(77, f.int(), 0)


def req_family_codes(session: Session, f: Fields) -> None:
    """reqFamilyCodes -> familyCodes (78) with none."""
    session.send(78, 0)


def req_mkt_depth_exchanges(session: Session, f: Fields) -> None:
    """reqMktDepthExchanges -> mktDepthExchanges (80): none (the gateway has no depth; reqMktDepth gets 10092)."""
    session.send(80, 0)


def req_smart_components(session: Session, f: Fields) -> None:
    """reqSmartComponents(reqId, bboExchange) -> smartComponents (82) with none."""
    session.send(82, f.int(), 0)


def req_news_providers(session: Session, f: Fields) -> None:
    """reqNewsProviders -> newsProviders (85): no subscribed providers."""
    session.send(85, 0)


def req_market_rule(session: Session, f: Fields) -> None:
    """reqMarketRule(marketRuleId) -> marketRule (93); an id no contract names gets 321."""
    rule_id = f.int()
    rows = MARKET_RULES.get(rule_id)
    if rows is None:
        session.error(-1, 321, f"Error validating request.-'bV' : cause - Invalid market rule id {rule_id}")
        return
    fields: list = [93, rule_id, len(rows)]
    for low, increment in rows:
        fields += [low, increment]
    session.send(*fields)


def req_user_info(session: Session, f: Fields) -> None:
    """reqUserInfo(reqId) -> userInfo (107) with an empty white-branding id."""
    session.send(107, f.int(), "")


def quiet(session: Session, f: Fields) -> None:
    """A request TWS accepts without an answer (cancels, news bulletins until there is news, market data type)."""
