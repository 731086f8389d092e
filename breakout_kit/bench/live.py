"""Live benchmark probes: the real ib_insync client (through ``IBClient``) against the real embedded gateway.

The gateway runs in its own process (``python -m breakout_kit.gateway``), as TWS would, so the client's event loop
does client work only and "client-side processing rate" can be read off this process's CPU clock.

* ``watchers_dispatch``: one gateway, two clients with the same 100 real-time bar subscriptions: one raw (ib_insync
  decode + dispatch into its bar lists, nobody listening), one feeding 100 ``BreakoutWatcher``s. Both let a backlog
  queue up in their socket buffers, then drain it in alternating segments, so both are saturated and see the same
  machine noise. Rate = bar messages / CPU seconds of the event-loop thread.
* ``signal_latency``: 100 watchers under a moderate load; time from the socket read that brought the bar's last
  5-second piece to the watcher's ``on_signal`` callback, against the same time to a bare client-library handler
  with the same subscriptions on a connection of its own (alternating rounds against one gateway, each side alone
  in the client process); and one watcher alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import socket
import statistics
import struct
import sys
import time

from breakout_kit.bench.cpu import Measurement
from breakout_kit.client.ib_client import IBClient
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.gateway.sim.universe import CORE_SYMBOLS

#: every benchmark gateway starts at this Monday's session open (New York), so runs see the same market
BENCH_START = "2026-11-23T09:30"
SYMBOLS = list(CORE_SYMBOLS)
#: set to a logging level (e.g. INFO) to see the benchmark gateways' log, e.g. which pacing rule was hit
GATEWAY_LOG_ENV = "BREAKOUT_KIT_BENCH_GATEWAY_LOG"
SUBSCRIPTIONS = 100            # IB's default market-data line limit
PIECE = 5                      # IB real-time bars are 5 seconds


@contextlib.asynccontextmanager
async def gateway_process(speed: float, pacing: str = "off", extra: tuple[str, ...] = ()):
    """Run ``python -m breakout_kit.gateway`` on a free loopback port (``extra``: more of its flags); yields the
    port, terminates it after."""
    log_level = os.environ.get(GATEWAY_LOG_ENV, "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--speed", repr(float(speed)),
        "--start", BENCH_START, "--pacing", pacing, "--log-level", log_level or "ERROR",
        "--max-message-rate", "0",          # the benchmark's client runs unthrottled (see connected())
        *extra,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=None if log_level else asyncio.subprocess.DEVNULL)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30.0)).decode(errors="replace")
        m = re.match(r"paper gateway listening on (\S+):(\d+)", line)
        if m is None:
            raise RuntimeError(f"benchmark gateway did not start (first line {line.strip()!r})")
        yield int(m.group(2))
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.communicate(), 10.0)
        except asyncio.TimeoutError:       # it ignored SIGTERM: don't leave it behind
            proc.kill()
            await proc.communicate()


@contextlib.asynccontextmanager
async def connected(port: int, speed: float, client_id: int = 1):
    """A connected ``IBClient`` for a benchmark gateway (client pacing scaled to the gateway's clock)."""
    # throttle=False: the client library limits its own requests to 45/s (TWS's 50 msg/s limit); the benchmark's
    # gateway runs with --max-message-rate 0, and 300 start-up requests would otherwise take 7 s
    client = IBClient("127.0.0.1", port, client_id, clock_speed=speed, reconnect=False, timeout=30.0,
                      throttle=False)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


class _Warmup:
    """Counts real-time bar messages (a probe's ``bar_message_event``); ``warm`` resolves once ``ready()`` holds and ``warmup``
    more messages went by (the start-up backlog drained); ``started`` is set by ``arm()``."""

    def __init__(self, ready, warmup: int) -> None:
        self.ready = ready
        self.warmup = warmup
        self.n = 0
        self.started = False
        self._ready_at: int | None = None
        self.warm = asyncio.get_running_loop().create_future()

    def arm(self) -> None:
        self.started = True

    def on_bar(self, _req_id, _time) -> None:
        self.n += 1
        if self.started:
            return
        if self._ready_at is None:
            if self.n % 128 == 0 and self.ready():
                self._ready_at = self.n
        elif self.n - self._ready_at >= self.warmup and not self.warm.done():
            self.warm.set_result(None)


async def _wait(fut: asyncio.Future, timeout: float, what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(fut), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"{what} within {timeout:g} s") from None


def _watchers(client, rule: BreakoutRule, on_signal=None, n: int = SUBSCRIPTIONS):
    """``n`` watchers over the gateway's universe (symbols repeat), 1-minute bars, short backfill."""
    from breakout_kit.watch.watcher import BreakoutWatcher

    watchers = [BreakoutWatcher(client, SYMBOLS[k % len(SYMBOLS)], rule=rule, bar_size="1 min",
                                backfill="1800 S", on_signal=on_signal) for k in range(n)]
    live_at: dict[int, int] = {}

    def on_state(w, state):
        if state == "live":
            live_at[id(w)] = w.bars_seen

    for w in watchers:
        w.state_event += on_state
        w.start()

    def ready() -> bool:
        # every watcher live, and past its first live bar (which may wait for a gap fill from history)
        return len(live_at) == len(watchers) and all(w.bars_seen >= live_at[id(w)] + 2 for w in watchers)

    return watchers, ready


async def _close_all(watchers) -> None:
    await asyncio.gather(*(w.aclose() for w in watchers))
    for w in watchers:
        if w.error is not None:
            raise RuntimeError(f"watcher {w.symbol} failed during the benchmark: {w.error}")


#: The dispatch runs' gateway speed: 100 subscriptions x 300 boundaries/s = 30 k messages/s, which the client
#: keeps up with while 100 watchers start (a faster stream would bury their history replies in a backlog).
DISPATCH_SPEED = 1500.0
#: socket receive buffer for the measured connection (Linux doubles it, up to net.core.rmem_max)
RECEIVE_BUFFER = 8 << 20


class _Boundaries:
    """A second connection following one real-time bar stream (``RealTimeBars``): it tells how many 5-second
    boundaries the gateway has served (the gateway serves every subscription at each boundary, so the paused
    client's backlog grows by 100 messages per boundary)."""

    def __init__(self, bars) -> None:
        self.bars = bars
        self.n = 0
        self._target = 0
        self._reached: asyncio.Future | None = None
        bars.bar_event += self._on_bar

    def _on_bar(self, _bar) -> None:
        self.n += 1
        if self._reached is not None and self.n >= self._target and not self._reached.done():
            self._reached.set_result(None)

    async def more(self, n: int, timeout: float) -> None:
        """Wait until ``n`` more boundaries have been served."""
        self._target = self.n + n
        self._reached = asyncio.get_running_loop().create_future()
        await _wait(self._reached, timeout, f"the gateway served fewer than {n} boundaries")


class _Counter:
    """Counts the real-time bar messages one client decodes (its probe's ``bar_message_event``); ``until`` resolves
    when a count is reached, optionally pausing the client's socket right there so it reads nothing more."""

    def __init__(self, client) -> None:
        self.probe = client.probe()
        self.n = 0
        self.msgs = 0                 # messages and CPU seconds of the timed segments
        self.cpu = 0.0
        self._target = 0
        self._check = None
        self._pause = False
        self._reached: asyncio.Future | None = None
        self.probe.bar_message_event += self._on_bar

    def _on_bar(self, _req_id, _time) -> None:
        self.n += 1
        if self._reached is None or self.n < self._target or self._reached.done():
            return
        if self._check is not None and (self.n % 128 or not self._check()):
            return
        if self._pause:
            self.probe.pause_reading()         # the rest of the current read is still decoded, and counted
        self._reached.set_result(None)

    async def until(self, target: int, timeout: float, what: str, check=None, pause: bool = False) -> None:
        self._target, self._check, self._pause = target, check, pause
        self._reached = asyncio.get_running_loop().create_future()
        try:
            await _wait(self._reached, timeout, what)
        finally:
            self._reached = None

    def close(self) -> None:
        self.probe.close()


async def _dispatch_run(speed: float, count: int, timeout: float) -> dict:
    """One gateway, two clients with the same 100 subscriptions: one raw, one feeding 100 watchers.

    When both are live they stop reading until the gateway has queued more than ``count`` messages for each (a
    third connection counts the boundaries served); then they drain their backlogs in alternating segments, each
    timed on this thread's CPU clock. Saturated (full socket reads, no waiting for the gateway), same moment, same
    machine noise for both sides."""
    segments = 4
    seg = count // segments
    async with gateway_process(speed) as port, connected(port, speed, 1) as raw_client, \
            connected(port, speed, 2) as watch_client, connected(port, speed, 3) as observer:
        spy = await observer.qualify("SPY")
        boundaries = _Boundaries(observer.subscribe_bars(spy))
        raw, watched = _Counter(raw_client), _Counter(watch_client)
        watchers, ready = _watchers(watch_client, BreakoutRule(lookback=20))
        try:
            await watched.until(128, timeout, "watchers not live", check=ready)
            await watched.until(watched.n + 5_000, timeout, "watchers: no live data")
            contracts = {s: await raw_client.qualify(s) for s in SYMBOLS}
            for k in range(SUBSCRIPTIONS):
                raw.probe.raw_bars(contracts[SYMBOLS[k % len(SYMBOLS)]])     # nobody listens: decode + list
            await raw.until(5_000, timeout, "raw client: no live data")
            for side in (raw, watched):
                # room for the whole backlog in the kernel, so draining it never waits for the gateway process
                side.probe.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                side.probe.pause_reading()
            # each segment may run past its count by one socket read (~4 k messages)
            await boundaries.more((count + segments * 4_000) // SUBSCRIPTIONS + 2, timeout)
            queued = [_bytes_queued(side.probe.socket) for side in (raw, watched)]
            for k in range(2 * segments):
                side = (raw, watched)[k % 2]
                # As timeit does: no cyclic GC while timing. The raw client keeps every bar (ib_insync's lists
                # grow), so a full collection costs more each time and lands on whichever side triggers it.
                gc.collect()
                gc.disable()
                try:
                    n0, cpu0 = side.n, time.thread_time()
                    side.probe.resume_reading()
                    await side.until(n0 + seg, timeout, "backlog ran dry", pause=True)
                    for _ in range(2):
                        await asyncio.sleep(0)     # let the watchers' tasks take the bars of the last read
                    side.msgs += side.n - n0
                    side.cpu += time.thread_time() - cpu0
                finally:
                    gc.enable()
            bars_seen = sum(w.bars_seen for w in watchers)
        finally:
            raw.close()
            watched.close()
            await _close_all(watchers)
    if bars_seen == 0:
        raise AssertionError("the watchers saw no bars")
    return {"raw_rate": raw.msgs / raw.cpu, "watchers_rate": watched.msgs / watched.cpu,
            "ratio": (watched.msgs / watched.cpu) / (raw.msgs / raw.cpu), "queued_bytes": queued}


def _bytes_queued(sock) -> int:
    """Bytes waiting in a socket's receive buffer (-1 where the platform can't tell)."""
    try:
        import fcntl
        import termios

        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except (ImportError, OSError):
        return -1


async def _watchers_dispatch(quick: bool) -> dict[str, Measurement]:
    runs = [await _dispatch_run(DISPATCH_SPEED, 60_000, timeout=60.0) for _ in range(1 if quick else 3)]
    mid = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]      # the median run, both sides from it
    return {"watchers_100_dispatch_ratio": Measurement(
        mid["ratio"], mid["watchers_rate"], mid["raw_rate"], unit="msgs/cpu-s", baseline_label="raw ib_insync",
        details={"messages_per_side": 60_000, "runs": len(runs), "ratios": [r["ratio"] for r in runs],
                 "raw_msgs_per_cpu_s": [r["raw_rate"] for r in runs],
                 "watchers_msgs_per_cpu_s": [r["watchers_rate"] for r in runs],
                 "queued_bytes_at_drain": [r["queued_bytes"] for r in runs], "gateway_speed": DISPATCH_SPEED})}


def watchers_dispatch(quick: bool) -> dict[str, Measurement]:
    """100 watchers fed through the real client vs raw ib_insync decode + dispatch, same gateway setup."""
    return asyncio.run(_watchers_dispatch(quick))


# ---- signal latency -------------------------------------------------------------------------------------------------
class _GcPauses:
    """Durations (ms) of the cyclic garbage collections while active, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._t) * 1e3))

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


async def _watcher_latencies(port: int, speed: float, client_id: int, n_watchers: int, wanted: int) -> dict:
    """``n_watchers`` live watchers on their own connection until ``wanted`` live signals: socket read -> on_signal
    and decode -> on_signal times (ms), signals on bars that came from history instead of the stream, GC pauses and
    the length (s) of the timed window."""
    # req_id -> (start of the bar's last 5-second piece, socket read stamp, decode stamp): one entry per
    # subscription, overwritten (a dict growing by every bar would resize inside the measured bursts)
    arrivals: dict[int | None, tuple[int, float, float]] = {}
    latencies: list[float] = []
    from_decode: list[float] = []
    unmatched = [0]
    read_at = [0.0]                  # perf_counter of the connection's last socket read
    clock = time.perf_counter
    async with connected(port, speed, client_id) as client:
        done = asyncio.get_running_loop().create_future()
        probe = client.probe()

        def on_signal(watcher, signal):
            if not meter.started:
                return
            now = clock()
            last_piece = int(signal.time.timestamp()) + watcher.seconds - PIECE
            got = arrivals.get(watcher.subscription_id)
            if got is None or got[0] != last_piece:   # a bar recovered from history, not from the stream
                unmatched[0] += 1
                return
            latencies.append((now - got[1]) * 1e3)
            from_decode.append((now - got[2]) * 1e3)
            if len(latencies) >= wanted and not done.done():
                done.set_result(None)

        def on_read(_nbytes):
            read_at[0] = clock()

        def on_bar(req_id, piece):
            meter.on_bar(req_id, piece)
            if (piece + PIECE) % 60 == 0:    # the last piece of a 1-minute bar: the one that can signal
                arrivals[req_id] = (piece, read_at[0], clock())

        # the probe's read_event fires before the client library decodes the read
        probe.read_event += on_read
        probe.bar_message_event += on_bar
        try:
            watchers, ready = _watchers(client, BreakoutRule(lookback=5, direction="both"), on_signal, n_watchers)
            # ~1 s of messages after every watcher is live: the start-up backlog drains before anything is timed
            meter = _Warmup(ready, warmup=int(n_watchers * speed / PIECE))
            try:
                await _wait(meter.warm, 60.0, f"latency run ({n_watchers} watchers): not live")
                with _GcPauses() as collections:
                    t0 = clock()
                    meter.arm()
                    await _wait(done, 90.0, f"latency run ({n_watchers} watchers): fewer than {wanted} live "
                                            "signals")
                    seconds = clock() - t0
            finally:
                await _close_all(watchers)
        finally:
            probe.close()
    return {"lat": latencies, "dec": from_decode, "unmatched": unmatched[0], "gc": collections.pauses,
            "seconds": seconds}


async def _bare_latencies(port: int, speed: float, client_id: int, seconds: float) -> dict:
    """The same 100 subscriptions straight through the client library (``Probe.raw_bars``), a bare handler each, on
    a connection of their own for ``seconds``: socket read -> handler times (ms) of the messages that carry a
    1-minute bar's last 5-second piece (the ones a watcher signals on)."""
    latencies: list[float] = []
    read_at = [0.0]
    clock = time.perf_counter
    async with connected(port, speed, client_id) as client:
        probe = client.probe()

        def on_read(_nbytes):
            read_at[0] = clock()

        def on_bar(_req_id, bar_time):
            now = clock()
            if meter.started and (int(bar_time.timestamp()) + PIECE) % 60 == 0:
                latencies.append((now - read_at[0]) * 1e3)

        probe.read_event += on_read
        try:
            contracts = {s: await client.qualify(s) for s in SYMBOLS}
            meter = _Warmup(lambda: True, warmup=int(SUBSCRIPTIONS * speed / PIECE))
            probe.bar_message_event += meter.on_bar
            for k in range(SUBSCRIPTIONS):
                probe.raw_bars(contracts[SYMBOLS[k % len(SYMBOLS)]], on_bar)
            await _wait(meter.warm, 60.0, "latency run (bare handlers): no live data")
            meter.arm()
            await asyncio.sleep(seconds)          # the timed window: as long as the watchers' one
        finally:
            probe.close()
    if not latencies:
        raise AssertionError("the bare client library handlers saw no bars")
    return {"bare": latencies}


def _pct(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0 < q < 100, steps of 0.1) of sorted values."""
    return statistics.quantiles(ordered, n=1000, method="inclusive")[round(q * 10) - 1]


LATENCY_SPEED = 300.0
#: the 100-watcher latency alternates this many watcher and bare rounds (one each in quick mode)
LATENCY_ROUNDS = 4
#: live signals the 100 watchers' p99 is taken from: the top 1 % is 40 signals (20 with 2000 moved the ratio by
#: +-0.25 from run to run, the bare side's p99 from ~6x as many messages)
LATENCY_SIGNALS = 4000


async def _signal_latency(quick: bool) -> dict[str, Measurement]:
    # 100 watchers at 300x: 6 k messages/s in bursts of 100 every 16 ms (IB sends every subscription's bar at the
    # same 5-second boundary). Each side has the client process to itself: the watchers, then the bare handlers on
    # a connection of their own, as long again, against the same gateway, in alternating rounds so both meet the
    # same machine. (Sharing one loop, each side's figure hung on the other's socket reads: which connection the
    # gateway served first at a boundary decided how its burst was cut into reads.)
    rounds = 1 if quick else LATENCY_ROUNDS
    wanted = (400 if quick else LATENCY_SIGNALS) // rounds
    lat: list[float] = []
    dec: list[float] = []
    bare: list[float] = []
    gcs: list[tuple[int, float]] = []
    unmatched = 0
    async with gateway_process(LATENCY_SPEED) as port:
        for r in range(rounds):
            ours = await _watcher_latencies(port, LATENCY_SPEED, 2 * r + 1, SUBSCRIPTIONS, wanted)
            base = await _bare_latencies(port, LATENCY_SPEED, 2 * r + 2, ours["seconds"])
            lat += ours["lat"]
            dec += ours["dec"]
            bare += base["bare"]
            gcs += ours["gc"]
            unmatched += ours["unmatched"]
    lat.sort()
    dec.sort()
    bare.sort()
    p99, bare_p99 = _pct(lat, 99.0), _pct(bare, 99.0)
    details = {"watchers": SUBSCRIPTIONS, "rounds": rounds, "signals": len(lat), "p50_ms": _pct(lat, 50.0),
               "p90_ms": _pct(lat, 90.0), "max_ms": lat[-1], "p50_from_decode_ms": _pct(dec, 50.0),
               "p99_from_decode_ms": _pct(dec, 99.0), "bare_messages": len(bare), "bare_p50_ms": _pct(bare, 50.0),
               "bare_max_ms": bare[-1], "history_bars_skipped": unmatched,
               # full collections of a big heap stall the loop: the usual cause of the tail
               "gc_full_collections": sum(1 for g, _ in gcs if g == 2),
               "gc_longest_pause_ms": max((ms for _, ms in gcs), default=0.0),
               "gateway_speed": LATENCY_SPEED}
    # one watcher: no burst to wait behind, 100 bars/s
    async with gateway_process(6000.0) as port:
        one = await _watcher_latencies(port, 6000.0, 1, 1, 150 if quick else 300)
    one_lat = sorted(one["lat"])
    one_p99 = _pct(one_lat, 99.0)
    one_details = {"signals": len(one_lat), "p50_ms": _pct(one_lat, 50.0), "max_ms": one_lat[-1],
                   "p99_from_decode_ms": _pct(sorted(one["dec"]), 99.0), "gateway_speed": 6000.0,
                   "gc_full_collections": sum(1 for g, _ in one["gc"] if g == 2)}
    return {"signal_latency_vs_raw_ratio": Measurement(p99 / bare_p99, p99, bare_p99, unit="ms",
                                                       baseline_label="bare library handler, p99",
                                                       details=details),
            "signal_latency_1w_p99_ms": Measurement(one_p99, one_p99, unit="ms", details=one_details)}


def signal_latency(quick: bool) -> dict[str, Measurement]:
    """Socket read (bar's last piece) -> on_signal, p99: 100 watchers vs bare library handlers on the same stream
    (alternating rounds, each side alone on the client), and one watcher alone; real client and gateway."""
    return asyncio.run(_signal_latency(quick))
