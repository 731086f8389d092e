"""Faults aimed at the watcher's weakest moments, made deterministic by hooking the gateway's handler table:
the connection dies exactly while the watcher is filling a gap from history (found by the storm: the watcher used
to fail with ``ConnectionError('Socket disconnect')``)."""

from __future__ import annotations

import pytest

from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.requests import HANDLERS
from breakout_kit.watch.watcher import TradeSpec

from .storm import (
    SESSION_OPEN,
    all_streaming_after,
    check_exact,
    start_watchers,
    stop_all,
    until,
)

pytestmark = pytest.mark.ib

SPEED = 600.0
REQ_HISTORICAL_DATA = 20
REQ_MKT_DATA = 1


async def test_drop_during_gap_fill_keeps_the_watcher_alive_and_exact(monkeypatch, client_id):
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="off") as gw:
        [t] = await start_watchers(gw, ["AMZN"], client_id, SPEED)
        answer = HANDLERS[REQ_HISTORICAL_DATA]
        hit: list[int] = []

        def drop_instead_of_answering(session, fields):
            if not hit:                       # the first history request after going live is the gap fill
                hit.append(session.client_id)
                gw.faults.drop(session.client_id)
                return
            answer(session, fields)

        monkeypatch.setitem(HANDLERS, REQ_HISTORICAL_DATA, drop_instead_of_answering)
        try:
            gw.faults.drop(client_id)         # the reconnect leaves a gap -> gap fill -> dropped mid-request
            await all_streaming_after(gw, [t])
            assert hit == [client_id]
            assert t.client.reconnects == 2 and t.watcher.gap_fills > 0
            assert t.duplicates() == 0 and t.gaps() == 0
            check_exact(gw, t)
        finally:
            await stop_all([t])


async def test_drop_while_preparing_a_bracket_retries_it_once_reconnected(monkeypatch, client_id):
    """The connection dies on the bracket's price snapshot (reqMktData): the watcher retries after the reconnect,
    and the gateway ends up with exactly one bracket for the signal (found by the long trading storm)."""
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="off") as gw:
        [t] = await start_watchers(gw, ["MSFT"], client_id, SPEED, trade=TradeSpec(1, 2.0, 1.0))
        answer = HANDLERS[REQ_MKT_DATA]
        hit: list[int] = []

        def drop_instead_of_answering(session, fields):
            if not hit:                       # the watcher streams bars only: reqMktData is the bracket's snapshot
                hit.append(session.client_id)
                gw.faults.drop(session.client_id)
                return
            answer(session, fields)

        monkeypatch.setitem(HANDLERS, REQ_MKT_DATA, drop_instead_of_answering)
        try:
            w = t.watcher
            await until(t.client.ib.updateEvent, lambda: w.orders or w.trade_errors, what="first bracket")
            assert hit == [client_id] and t.client.reconnects == 1
            assert w.trade_errors == [] and len(w.orders) == 1
            ref = w.orders[0].order_ref
            assert sum(1 for o in gw.orders if o.orderRef == ref) == 3         # parent + take-profit + stop
        finally:
            await stop_all([t])


async def test_drop_during_the_initial_backfill_still_starts_the_watcher(monkeypatch, client_id):
    """The very first history request (the backfill) is answered by a dropped connection: the watcher waits for
    the client's reconnect, asks again and goes live with exact bars instead of failing."""
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="off") as gw:
        answer = HANDLERS[REQ_HISTORICAL_DATA]
        hit: list[int] = []

        def drop_instead_of_answering(session, fields):
            if not hit:
                hit.append(session.client_id)
                gw.faults.drop(session.client_id)
                return
            answer(session, fields)

        monkeypatch.setitem(HANDLERS, REQ_HISTORICAL_DATA, drop_instead_of_answering)
        [t] = await start_watchers(gw, ["NVDA"], client_id, SPEED)
        try:
            await all_streaming_after(gw, [t])
            assert hit == [client_id] and t.client.reconnects == 1
            assert t.duplicates() == 0 and t.gaps() == 0
            check_exact(gw, t)
        finally:
            await stop_all([t])
