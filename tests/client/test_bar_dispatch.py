"""BarDispatch: the kit's real-time bar subscriptions bypass the library's per-message objects; everything else
keeps the library's path, and a route never outlives the library's own subscription (ids are reused after a
reconnect). In-process, through the library's real decoder."""

from __future__ import annotations

from breakout_kit.client import iblib
from breakout_kit.client.bar_dispatch import BarDispatch

T = 1_795_000_020


def subscribe(ib, req_id: int):
    bars = iblib.lib.RealTimeBarList()
    bars.reqId = req_id
    ib.wrapper.startSubscription(req_id, bars, iblib.Stock("AAPL", "SMART", "USD"))
    return bars


def message(ib, req_id: int, t: int = T, close: float = 101.5) -> None:
    ib.client.decoder.interpret(["50", "3", str(req_id), str(t), "100.0", "102.0", "99.5", repr(close), "300",
                                 "100.7", "12"])


def test_a_routed_subscription_gets_plain_fields_and_the_library_keeps_nothing():
    ib = iblib.IB()
    library_updates = []
    ib.barUpdateEvent += lambda bars, new: library_updates.append(bars.reqId)
    ours, theirs = subscribe(ib, 7), subscribe(ib, 8)
    got = []
    BarDispatch.of(ib).route(ours, lambda *fields: got.append(fields))
    message(ib, 7)
    message(ib, 8)
    assert got == [(T, 100.0, 102.0, 99.5, 101.5, 300.0)] and isinstance(got[0][0], int)
    assert len(ours) == 0                             # no RealTimeBar kept per message
    assert [b.close for b in theirs] == [101.5]       # the library's own path, unchanged
    assert library_updates == [8]
    assert BarDispatch.of(ib) is BarDispatch.of(ib)   # one per connection


def test_a_route_ends_with_the_library_subscription_it_was_made_for():
    ib = iblib.IB()
    old = subscribe(ib, 7)
    got = []
    dispatch = BarDispatch.of(ib)
    dispatch.route(old, lambda *fields: got.append(fields))
    ib.wrapper.reset()                                # a disconnect: the library forgets its subscriptions
    reused = subscribe(ib, 7)                         # and hands the same id to a new one
    message(ib, 7, close=99.0)
    assert got == [] and [b.close for b in reused] == [99.0]
    dispatch.route(reused, lambda *fields: got.append(fields))
    dispatch.unroute(old)                             # a late unroute of the old list leaves the new route
    message(ib, 7, T + 5)
    assert [f[0] for f in got] == [T + 5]
    dispatch.unroute(reused)
    message(ib, 7, T + 10)
    assert len(got) == 1 and reused[-1].time.timestamp() == T + 10


def test_the_probe_tap_sees_routed_messages_before_their_handler():
    ib = iblib.IB()
    order = []
    dispatch = BarDispatch.of(ib)
    dispatch.route(subscribe(ib, 3), lambda *fields: order.append(("handler", fields[0])))
    dispatch.tap = lambda req_id, t: order.append(("tap", req_id, t))
    message(ib, 3)
    assert order == [("tap", 3, T), ("handler", T)]


def test_empty_fields_read_as_zero_and_malformed_messages_take_the_librarys_path(caplog):
    ib = iblib.IB()
    bars = subscribe(ib, 5)
    got = []
    BarDispatch.of(ib).route(bars, lambda *fields: got.append(fields))
    ib.client.decoder.interpret(["50", "3", "5", str(T), "100.0", "102.0", "99.5", "101.5", "", "", ""])
    assert got == [(T, 100.0, 102.0, 99.5, 101.5, 0.0)]        # the library reads an empty field as 0 too
    ib.client.decoder.interpret(["50", "3", "5", str(T + 5), "x", "102.0", "99.5", "101.5", "1", "1", "1"])
    ib.client.decoder.interpret(["50", "3", "5"])                # cut short
    assert len(got) == 1 and len(bars) == 0                      # neither reached anyone
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR"]   # the library logged both, as always


def test_a_probe_leaves_a_bare_connection_on_the_librarys_own_handler():
    """The bare baseline must decode through the library alone: a probe installs no dispatch, and a dispatch made
    after the probe (the first kit subscription) takes the probe's tap over; closing the probe removes it."""
    from breakout_kit.client.probe import Probe

    ib = iblib.IB()
    library_handler = ib.client.decoder.handlers[50]
    probe = Probe(ib)
    assert BarDispatch.installed(ib) is None and ib.client.decoder.handlers[50] is library_handler
    seen = []
    probe.bar_message_event += lambda req_id, t: seen.append((req_id, t))
    dispatch = BarDispatch.of(ib)
    dispatch.route(subscribe(ib, 4), lambda *fields: None)
    message(ib, 4)
    assert seen == [(4, T)]
    probe.close()
    assert dispatch.tap is None
