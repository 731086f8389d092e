"""The gateway's fairness: the worst event-loop stall while it serves the heaviest history requests.

``gateway_loop_stall``: an in-process ``PaperGateway`` and a raw socket client (no decoding here, so only the
gateway's work counts) ask, cold, for ten years of monthly bars, one year of daily bars and one year of 5-minute
bars of different symbols, one after the other; a 1 ms ticker on the same loop records the longest gap between its
turns. Answers are computed a trading day at a time (``gateway.sim.history.answer_in_slices``), so the stall is one
slice, not one answer.
"""

from __future__ import annotations

import asyncio
import time

from breakout_kit.bench.cpu import Measurement
from breakout_kit.gateway.wire import probe

# (symbol, duration, bar size): the heaviest answers a client can ask for, each on a cold symbol
HEAVY = [("MSFT", "10 Y", "1 month"), ("AAPL", "1 Y", "1 day"), ("NVDA", "1 Y", "5 mins")]


async def _stall(quick: bool) -> dict[str, Measurement]:
    from breakout_kit.gateway import PaperGateway

    loop = asyncio.get_running_loop()
    worst, worst_cpu, per_request = 0.0, 0.0, {}

    async def ticker():
        # worst_cpu: this thread's CPU time during the worst gap; far below the gap, the process was waiting for
        # a core (a loaded machine), not the loop for the gateway's work
        nonlocal worst, worst_cpu
        last, last_cpu = loop.time(), time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now, cpu = loop.time(), time.thread_time()
            if now - last - 0.001 > worst:
                worst, worst_cpu = now - last - 0.001, cpu - last_cpu
            last, last_cpu = now, cpu

    requests = HEAVY[:2] if quick else HEAVY
    async with PaperGateway(port=0, speed=1.0, pacing="off") as gw:
        reader, writer, _version = await probe.start_api(gw.port, 1)
        tick = asyncio.create_task(ticker())
        try:
            for req_id, (symbol, duration, bar_size) in enumerate(requests, start=1):
                con_id = gw.universe.by_key[symbol].con_id
                before, began = (worst, worst_cpu), loop.time()
                worst = worst_cpu = 0.0
                writer.write(probe.frame(20, req_id, con_id, symbol, "STK", "", 0.0, "", "", "SMART", "", "USD", "", "",
                                    0, "", bar_size, duration, 0, "TRADES", 1, 0, ""))
                await probe.read_until(reader, 17, 120)     # raw frames until the history answer
                per_request[f"{duration} of {bar_size}"] = {"stall_ms": round(worst * 1000, 1),
                                                            "stall_cpu_ms": round(worst_cpu * 1000, 1),
                                                            "answer_s": round(loop.time() - began, 2)}
                worst, worst_cpu = max((worst, worst_cpu), before)
        finally:
            tick.cancel()
            await asyncio.gather(tick, return_exceptions=True)
            writer.close()
            await writer.wait_closed()
    return {"gateway_loop_stall_max_ms": Measurement(worst * 1000, worst * 1000, unit="ms", details=per_request)}


def gateway_loop_stall(quick: bool) -> dict[str, Measurement]:
    """Worst event-loop stall (ms) while the gateway answers the heaviest history requests."""
    return asyncio.run(_stall(quick))
