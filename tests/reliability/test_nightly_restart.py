"""TWS's nightly restart, rehearsed end to end: trading watchers (one IBClient each, reconnect on) stream through a
gateway restart that closes every connection, refuses reconnects for a while and comes back with its state reloaded
from the state file's format. Afterwards every watcher is live, its bars equal the gateway's own history (nothing
lost, nothing doubled), its signals equal ``scan`` over that history, and the gateway holds exactly one bracket per
live up-signal, the ones placed before the restart included."""

from __future__ import annotations

import json

import pytest

from breakout_kit.gateway import PaperGateway
from breakout_kit.watch.watcher import TradeSpec, order_ref_for

from .storm import SESSION_OPEN, all_streaming_after, check_exact, start_watchers, stop_all, until
from .test_disconnect_storm import gateway_brackets, settle_brackets, up_signal_refs

pytestmark = pytest.mark.ib

SPEED = 600.0          # 10 simulated minutes per real second
OUTAGE = 1.0           # real seconds: ten simulated minutes of live bars the watchers must backfill


async def test_watchers_and_orders_come_through_a_nightly_restart(client_id, tmp_path):
    state = tmp_path / "gw.json"
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="off", state=state) as gw:
        tracked = await start_watchers(gw, gw.symbols()[:3], client_id * 100, SPEED, trade=TradeSpec(1, 2.0, 1.0))
        try:
            first = tracked[0]
            await until(first.client.ib.updateEvent, lambda: any(t.watcher.orders for t in tracked),
                        what="a bracket before the restart")
            before = {o.perm_id: (o.status, o.filled) for o in gw.orders}
            refs_before = set(gateway_brackets(gw))
            await gw.faults.nightly_restart(outage=OUTAGE)
            # reloaded: the same orders (no client could place one during the outage); working ones went on
            # working during the outage (the market does not stop), done ones stayed as they were
            after = {o.perm_id: (o.status, o.filled) for o in gw.orders}
            assert after.keys() == before.keys()
            for perm, (status, filled) in before.items():
                assert after[perm][1] >= filled
                if status in ("Filled", "Cancelled", "Inactive"):
                    assert after[perm] == (status, filled)
            assert len(json.loads(state.read_text())["book"]["orders"]) == len(before)
            await all_streaming_after(gw, tracked)
            # keep streaming until a signal trades after the restart too
            trades_then = sum(len(t.watcher.orders) for t in tracked)
            await until(first.client.ib.updateEvent,
                        lambda: sum(len(t.watcher.orders) for t in tracked) > trades_then,
                        what="a bracket after the restart")
            await settle_brackets(up_signal_refs(tracked))
            for t in tracked:
                assert t.client.reconnects == 1, (t.watcher.symbol, t.client.reconnects)
                assert t.watcher.gap_fills > 0 and t.duplicates() == 0 and t.gaps() == 0
                check_exact(gw, t)
            # the watchers keep streaming (and trading) meanwhile: every up-signal seen so far gets its bracket,
            # and every bracket the gateway holds belongs to an up-signal seen by then
            def up_refs() -> set[str]:
                return {order_ref_for(t.watcher.symbol, s) for t in tracked for s in t.live_signals
                        if s.direction == "up"}

            wanted = up_refs()
            await until(first.client.ib.updateEvent, lambda: wanted <= set(gateway_brackets(gw)),
                        what=lambda: f"brackets for {sorted(wanted - set(gateway_brackets(gw)))}")
            brackets = gateway_brackets(gw)
            assert refs_before <= set(brackets) <= up_refs(), (sorted(brackets), sorted(up_refs()))
            assert all(n == 1 for n in brackets.values()), brackets
            assert not [e for t in tracked for e in t.watcher.trade_errors]
            assert gw.faults.injected["nightly_restart"] == 1
        finally:
            await stop_all(tracked)
