"""The client-side pacing rules, on a fake clock: each rule delays exactly as long as IB's limit requires."""

import asyncio

import pytest

from breakout_kit.client.pacer import MARGIN, HistoryPacer


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def admit(pacer, identity, contract):
    pacer._recent.append((pacer._now(), identity, contract))


def test_identical_request_waits_15_seconds():
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    admit(p, "req", "SPY")
    clock.t += 5
    assert p.delay("req", "SPY") == pytest.approx(10 + MARGIN)
    assert p.delay("other", "QQQ") == 0


def test_sixth_request_for_a_contract_within_2_seconds_waits():
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    for i in range(5):
        admit(p, f"r{i}", "SPY")
        clock.t += 0.1
    assert p.delay("r5", "SPY") == pytest.approx(2 - 0.5 + MARGIN)
    assert p.delay("x", "QQQ") == 0


def test_sixty_one_in_ten_minutes_waits_for_the_oldest():
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    for i in range(60):
        admit(p, i, i)
        clock.t += 1
    assert p.delay("new", "new") == pytest.approx(600 - 60 + MARGIN)


def test_speed_scales_windows():
    clock = FakeClock()
    p = HistoryPacer(speed=60, clock=clock)
    admit(p, "req", "SPY")
    assert p.delay("req", "SPY") == pytest.approx(15 / 60 + MARGIN)
    with pytest.raises(ValueError):
        HistoryPacer(speed=0)


async def test_slot_counts_requests_and_waits():
    p = HistoryPacer(speed=600)
    loop = asyncio.get_running_loop()
    admitted = []
    for _ in range(2):
        async with p.slot("same", "SPY"):
            admitted.append(loop.time())
    # an identical request waits out IB's 15 s window (600x faster here), counted from the first one's reply
    assert p.requests == 2 and p.waited > 0 and admitted[1] - admitted[0] >= 15 / 600


async def test_windows_count_from_the_reply():
    # the server stamps a request when it reads it, at the latest when it replies: pacing from our send time
    # undercuts its windows whenever the earlier request was delivered more slowly than the later one
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    async with p.slot("req", "SPY"):
        clock.t += 3.0                      # the reply takes 3 s
    assert p.delay("req", "SPY") == pytest.approx(15 + MARGIN)


def test_a_request_in_flight_counts_as_made_now():
    # The server stamps a request when it arrives, which may be as late as its reply: five unanswered requests
    # sent 1.9 s ago still block a sixth for the whole 2 s window.
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    for i in range(5):
        admit(p, f"r{i}", "SPY")
        p._open[id(p._recent[-1])] = p._recent[-1]
    clock.t += 1.9
    assert p.delay("r5", "SPY") == pytest.approx(2 + MARGIN)
    p._open.clear()                               # answered (and so dated) 1.9 s ago
    assert p.delay("r5", "SPY") == pytest.approx(0.1 + MARGIN)


def test_bars_over_30_seconds_are_not_paced_and_bid_ask_counts_twice():
    clock = FakeClock()
    p = HistoryPacer(clock=clock)
    for i in range(60):
        admit(p, i, i)
    assert p.delay("new", "new", small=False) == 0                       # 1-minute bars: no hard pacing rule
    assert p.delay("new", "new") == pytest.approx(600 + MARGIN)          # a 61st small request waits
    q = HistoryPacer(clock=clock)
    for i in range(4):
        admit(q, f"r{i}", "SPY")
    assert q.delay("r4", "SPY") == 0                                      # the 5th TRADES request may go
    assert q.delay("r4", "SPY", weight=2) == pytest.approx(2 + MARGIN)   # a BID_ASK one would be the 5th and 6th


async def test_large_bars_are_only_capped_at_fifty_open():
    p = HistoryPacer(speed=1)
    async with p.slot("a", "SPY", small=False), p.slot("a", "SPY", small=False):   # identical, at once: allowed
        assert p.requests == 2 and len(p._recent) == 0
