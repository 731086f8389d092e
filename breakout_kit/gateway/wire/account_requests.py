"""Account requests: positions, account updates, account summary, PnL, plus reqCurrentTime.

Handled (incoming id -> replies), all served from the gateway's paper account (portfolio.py) and streaming until
cancelled:
  61 reqPositions -> 61 position each, 62 positionEnd (then 61 on every change); 64 cancelPositions
  74 reqPositionsMulti -> 71 positionMulti each, 72 end; 75 cancelPositionsMulti
  6 reqAccountUpdates(subscribe, account) -> 6 accountValue..., 7 portfolioValue..., 8 accountTime,
    54 accountDownloadEnd (then updates on fills and every 3 simulated minutes); subscribe=0 stops
  76 reqAccountUpdatesMulti -> 73 accountUpdateMulti..., 74 end; 77 cancel
  62 reqAccountSummary(reqId, group, tags) -> 63 accountSummary..., 64 end (then updates); 63 cancel
  92 reqPnL -> 94 pnl; 93 cancelPnL; 94 reqPnLSingle -> 95 pnlSingle; 95 cancelPnLSingle
  49 reqCurrentTime -> 49 currentTime

ib_insync's ``connectAsync`` sends 61, 6, 76 (and 5, 99, 7 when not readonly) and waits for each end marker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sim.portfolio import SUMMARY_TAGS
from .protocol import Fields

if TYPE_CHECKING:
    from .session import Session


def _portfolio(session: Session):
    return session.gateway.orders.portfolio


def _wrong_account(session: Session, req_id: int, account: str) -> bool:
    if account and account not in session.gateway.accounts and account != "All":
        session.error(req_id, 321, f"Error validating request.-'bW' : cause - Invalid account code {account!r}")
        return True
    return False


def req_positions(session: Session, f: Fields) -> None:
    """reqPositions -> position (61) for each holding, positionEnd (62); later changes stream."""
    pf = _portfolio(session)
    pf.position_subs.add(session)
    pf.send_positions(session)


def cancel_positions(session: Session, f: Fields) -> None:
    _portfolio(session).position_subs.discard(session)


def req_positions_multi(session: Session, f: Fields) -> None:
    """reqPositionsMulti(version, reqId, account, modelCode) -> positionMulti (71) each, end (72)."""
    f.int()
    req_id = f.int()
    account = f.str()
    model = f.str()
    if _wrong_account(session, req_id, account):
        return
    pf = _portfolio(session)
    for p in pf.held():
        i = p.inst
        session.send(71, 1, req_id, pf.account, *i.contract_fields("SMART" if i.is_stock else i.primary),
                     p.quantity, p.avg_cost, model)
    session.send(72, 1, req_id)


def cancel_positions_multi(session: Session, f: Fields) -> None:
    """cancelPositionsMulti: the answer was a snapshot, nothing streams."""


def req_account_updates(session: Session, f: Fields) -> None:
    """reqAccountUpdates(version, subscribe, account) -> values, portfolio, accountTime, accountDownloadEnd (54)."""
    f.int()  # version
    subscribe = f.bool()
    account = f.str() or session.gateway.account
    pf = _portfolio(session)
    if not subscribe:
        pf.account_subs.discard(session)
        return
    if _wrong_account(session, -1, account):
        return
    pf.account_subs.add(session)
    pf.send_account(session)
    session.send(54, 1, account)
    session.gateway.orders.wake()


def req_account_updates_multi(session: Session, f: Fields) -> None:
    """reqAccountUpdatesMulti(version, reqId, account, modelCode, ledgerAndNLV) -> 73..., end (74)."""
    f.int()  # version
    req_id = f.int()
    account = f.str()
    if _wrong_account(session, req_id, account):
        return
    pf = _portfolio(session)
    pf.multi_subs[(id(session), req_id)] = (session, req_id)
    pf.send_multi(session, req_id, end=True)
    session.gateway.orders.wake()


def cancel_account_updates_multi(session: Session, f: Fields) -> None:
    f.int()
    _portfolio(session).multi_subs.pop((id(session), f.int()), None)


def req_account_summary(session: Session, f: Fields) -> None:
    """reqAccountSummary(version, reqId, group, tags) -> accountSummary (63) per tag, end (64); updates stream."""
    f.int()  # version
    req_id = f.int()
    group = f.str()
    tags = [t.strip() for t in f.str().split(",") if t.strip()]
    if group not in ("All", ""):
        session.error(req_id, 321, "Error validating request.-'bW' : cause - Only the group 'All' is supported")
        return
    known = set(SUMMARY_TAGS)
    bad = [t for t in tags if t not in known and not t.startswith("$LEDGER")]
    if not tags or bad:
        session.error(req_id, 321, f"Error validating request.-'bW' : cause - Invalid account summary tags "
                                   f"{','.join(bad) or '(none)'}")
        return
    pf = _portfolio(session)
    pf.summary_subs[(id(session), req_id)] = (session, req_id, tags)
    pf.send_summary(session, req_id, tags, end=True)
    session.gateway.orders.wake()


def cancel_account_summary(session: Session, f: Fields) -> None:
    f.int()
    _portfolio(session).summary_subs.pop((id(session), f.int()), None)


def req_pnl(session: Session, f: Fields) -> None:
    """reqPnL(reqId, account, modelCode) -> pnl (94), then every 5 simulated seconds."""
    req_id = f.int()
    if _wrong_account(session, req_id, f.str()):
        return
    pf = _portfolio(session)
    pf.pnl_subs[(id(session), req_id)] = (session, req_id)
    pf.send_pnl(session, req_id)
    session.gateway.orders.wake()


def cancel_pnl(session: Session, f: Fields) -> None:
    _portfolio(session).pnl_subs.pop((id(session), f.int()), None)


def req_pnl_single(session: Session, f: Fields) -> None:
    """reqPnLSingle(reqId, account, modelCode, conId) -> pnlSingle (95), then every 5 simulated seconds."""
    req_id = f.int()
    account = f.str()
    f.str()  # modelCode
    con_id = f.int()
    if _wrong_account(session, req_id, account):
        return
    pf = _portfolio(session)
    pf.pnl_single_subs[(id(session), req_id)] = (session, req_id, con_id)
    pf.send_pnl_single(session, req_id, con_id)
    session.gateway.orders.wake()


def cancel_pnl_single(session: Session, f: Fields) -> None:
    _portfolio(session).pnl_single_subs.pop((id(session), f.int()), None)


def req_current_time(session: Session, f: Fields) -> None:
    """reqCurrentTime -> currentTime (49) in gateway-clock epoch seconds."""
    session.send(49, 1, int(session.gateway.clock.epoch()))
