"""Market-data requests: decode, ask the simulation (sim/history.py, sim/marketdata.py), answer.

  20 reqHistoricalData -> 17 historicalData (+ 90 historicalDataUpdate while keepUpToDate); 25 cancel
  87 reqHeadTimeStamp -> 88 headTimestamp; 90 cancelHeadTimeStamp
  50 reqRealTimeBars -> 50 realtimeBar every 5 simulated seconds; 51 cancel
  1 reqMktData -> 58 marketDataType, 1 tickPrice, 2 tickSize, 46 tickString (+ 57 tickSnapshotEnd); 2 cancel
  59 reqMarketDataType (accepted)
Errors as TWS words them: 200 unknown contract, 321 bad request fields, 162 pacing / service errors,
420 invalid real-time query, 101 market-data line limit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..sim import history
from ..sim.contracts import NO_SECDEF, resolve
from ..sim.history import (
    HEAD_TIMESTAMP,
    WHAT_TO_SHOW,
    _what_error,
    forex_no_data,
    format_bar_time,
    session_start,
)
from ..sim.market import BAR, QUOTE_TYPES
from ..sim.marketdata import ERR_MAX_TICKERS, REALTIME_WHAT, Sub, _prev_close, send_ticks
from ..sim.pacing import PACING_MESSAGE
from .protocol import Fields, frame, payload

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("breakout_kit.gateway")


def req_historical_data(session: Session, f: Fields) -> None:
    """reqHistoricalData([version below 124,] reqId, contract, ...)."""
    old_layout = session.server_version < 124       # SYNT_REALTIME_BARS: no version field, keepUpToDate added
    if old_layout:
        f.int()
    req_id = f.int()
    spec = f.contract()
    f.bool()  # includeExpired
    end_text = f.str()
    bar_size = f.str()
    duration = f.str()
    use_rth = f.bool()
    what = f.str().upper()
    fmt = f.int(1)
    if spec.secType == "BAG":
        for _ in range(f.int()):
            f.skip(4)
    keep_up = f.bool() if f.pos < len(f.fields) and not old_layout else False
    gw = session.gateway
    inst = resolve(spec, session.gateway.clock.now().date())
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    req = history.HistoryRequest(req_id, inst, end_text, bar_size, duration, use_rth, what, fmt, keep_up)
    refused = history.check(req)
    now = gw.clock.epoch()
    if refused is None:
        start, end = history.span(req, now)
        if history.too_many_bars(req, start, end):
            refused = history.Refusal(162, history.ERR_TOO_LONG)
    if refused is not None:
        session.error(req_id, refused.code, refused.message)
        return
    bar_seconds = history.BAR_SIZES[bar_size.strip()]
    identity = (inst.con_id, end_text.strip(), duration.strip(), bar_seconds, what, use_rth, keep_up)
    reason = gw.pacing.check(identity, (inst.con_id, what))
    if reason is not None:
        log.info("pacing violation for client %s reqId %d: %s", session.client_id, req_id, reason)
        session.error(req_id, 162, PACING_MESSAGE)
        return
    sub = Sub("kutd", session, req_id, inst.key, what, use_rth, bar_seconds, fmt) if keep_up else None
    running = _running(session)
    old = running.pop(req_id, None)
    if old is not None:
        old.cancel()
    running[req_id] = gw.spawn(_answer(session, req, start, end, now, sub), f"history {session.client_id}/{req_id}")


def _running(session: Session) -> dict[int, asyncio.Task]:
    """This session's history answers still being computed, by reqId."""
    return session.state.setdefault("history", {})  # type: ignore[return-value]


async def _answer(session: Session, req: history.HistoryRequest, start: float, end: float, now: float,
                  sub: Sub | None) -> None:
    """Compute a history answer in slices (history.answer_in_slices), send it as one message, then start its
    keepUpToDate stream. A failure is TWS's 322 for that request; cancelHistoricalData or a hang-up cancels it."""
    gw = session.gateway
    try:
        pieces: list[bytes] = []
        fields: list = []
        count = 0
        old_layout = session.server_version < 124      # the version adapter needs the whole message (rare clients)
        async for chunk in history.answer_in_slices(gw.market, req, start, end, now):
            count += len(chunk) // 8
            if old_layout:
                fields += chunk
            else:
                pieces.append(payload(*chunk))
        head = history.answer_head(req, start, end, count)
        if old_layout:
            session.send(*head, *fields)
        else:
            session.send_bytes(frame([payload(*head), *pieces]))
        if sub is not None and not session.closed:
            gw.marketdata.add(sub)
    except Exception as e:
        log.exception("history answer for client %s reqId %d failed", session.client_id, req.req_id)
        session.error(req.req_id, 322, f"Error processing request.-'20' : cause - {type(e).__name__}: {e}")
    finally:
        running = _running(session)
        if running.get(req.req_id) is asyncio.current_task():
            del running[req.req_id]


def cancel_historical_data(session: Session, f: Fields) -> None:
    """cancelHistoricalData(version, reqId): an answer still being computed is dropped, a stream stops."""
    f.int()  # version
    req_id = f.int()
    task = _running(session).pop(req_id, None)
    if task is not None:
        task.cancel()
    session.gateway.marketdata.remove(session, "hist", req_id)


def req_head_timestamp(session: Session, f: Fields) -> None:
    """reqHeadTimeStamp(reqId, contract, includeExpired, useRTH, whatToShow, formatDate) -> headTimestamp (88)."""
    req_id = f.int()
    spec = f.contract()
    f.bool()
    use_rth = f.bool()
    what = f.str().upper()
    fmt = f.int(1)
    inst = resolve(spec, session.gateway.clock.now().date())
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    if what not in WHAT_TO_SHOW:
        session.error(req_id, 162, _what_error(what))
        return
    if inst.is_forex and what not in QUOTE_TYPES:
        session.error(req_id, 162, forex_no_data(inst, 86400))
        return
    head = int(session_start(inst, HEAD_TIMESTAMP, use_rth))
    session.send(88, req_id, format_bar_time(head, 1, fmt))


def cancel_head_timestamp(session: Session, f: Fields) -> None:
    """cancelHeadTimeStamp: the answer is immediate, nothing to cancel."""


def req_real_time_bars(session: Session, f: Fields) -> None:
    """reqRealTimeBars(version 3, reqId, contract, barSize, whatToShow, useRTH, options)."""
    f.int()  # version
    req_id = f.int()
    spec = f.contract()
    bar_size = f.int()
    what = f.str().upper()
    use_rth = f.bool()
    gw = session.gateway
    inst = resolve(spec, session.gateway.clock.now().date())
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    if bar_size != 5:
        session.error(req_id, 420, f"Invalid Real-time Query:Invalid bar size {bar_size}; only 5 seconds bars "
                                   "are supported")
        return
    if what not in REALTIME_WHAT:
        session.error(req_id, 420, f"Invalid Real-time Query:Invalid whatToShow {what}")
        return
    if inst.is_forex and what == "TRADES":
        session.error(req_id, 420, f"Invalid Real-time Query:No TRADES data for {inst.symbol}/CASH@IDEALPRO "
                                   "(use MIDPOINT, BID or ASK)")
        return
    if gw.marketdata.lines_used(session) >= gw.max_market_data_lines:
        session.error(req_id, 101, ERR_MAX_TICKERS)
        return
    gw.marketdata.add(Sub("rt", session, req_id, inst.key, what, use_rth, BAR))


def cancel_real_time_bars(session: Session, f: Fields) -> None:
    f.int()
    session.gateway.marketdata.remove(session, "rt", f.int())


def req_mkt_data(session: Session, f: Fields) -> None:
    """reqMktData(version 11, reqId, contract, [combo legs], deltaNeutral, genericTicks, snapshot, regSnapshot,
    options)."""
    f.int()  # version
    req_id = f.int()
    spec = f.contract()
    if spec.secType == "BAG":
        for _ in range(f.int()):
            f.skip(4)
    if f.bool():
        f.skip(3)
    f.str()  # generic tick list
    snapshot = f.bool()
    gw = session.gateway
    inst = resolve(spec, session.gateway.clock.now().date())
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    if not snapshot and gw.marketdata.lines_used(session) >= gw.max_market_data_lines:
        session.error(req_id, 101, ERR_MAX_TICKERS)
        return
    session.send(58, 1, req_id, 1)
    got = gw.market.last_bar(inst.key, gw.clock.epoch())
    if got is not None:
        db, i = got
        send_ticks(session, req_id, db, i, full=True, prev_close=_prev_close(gw, inst.key, db.day))
    if snapshot:
        session.send(57, 1, req_id)
    else:
        gw.marketdata.add(Sub("mkt", session, req_id, inst.key))


def cancel_mkt_data(session: Session, f: Fields) -> None:
    f.int()
    session.gateway.marketdata.remove(session, "mkt", f.int())


def req_market_data_type(session: Session, f: Fields) -> None:
    """reqMarketDataType: everything here is 'live' (type 1) anyway."""


def drop_subscriptions(session: Session) -> None:
    for task in _running(session).values():
        task.cancel()
    session.gateway.marketdata.drop_session(session)




def req_histogram_data(session: Session, f: Fields) -> None:
    """reqHistogramData(reqId, contract, includeExpired, useRTH, timePeriod) -> histogramData (89)."""
    req_id = f.int()
    spec = f.contract()
    f.bool()  # includeExpired
    use_rth = f.bool()
    period = f.str()
    inst = resolve(spec, session.gateway.clock.now().date())
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    if inst.is_forex:
        session.error(req_id, 162, forex_no_data(inst, 60))
        return
    gw = session.gateway
    try:
        rows = history.histogram(gw.market, inst, gw.clock.epoch(), period, use_rth)
    except ValueError as e:
        session.error(req_id, 321, str(e))
        return
    fields: list = [89, req_id, len(rows)]
    for price, volume in rows:
        fields += [price, volume]
    session.send(*fields)
