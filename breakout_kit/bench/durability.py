"""The cost of durability: orders/s a client gets from a gateway with ``--state`` (every order event journaled and
fsynced before it is acknowledged) against the same gateway without a state file, in the same run.

Two gateway processes (``python -m breakout_kit.gateway``, one with ``--state`` in a fresh folder on the machine's
disk) and one trading ``IBClient`` each; batches of resting limit orders (``place_order_async``, which waits for
TWS's acknowledgement of each) alternate between the two so both see the same machine noise. Rate = orders / wall
seconds of the best batch per side; the ratio is with-state / without.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time

from breakout_kit.bench.cpu import Measurement
from breakout_kit.bench.live import gateway_process
from breakout_kit.client.ib_client import IBClient

SYMBOL = "AAPL"


@contextlib.asynccontextmanager
async def _trader(port: int):
    client = IBClient("127.0.0.1", port, 1, trading=True, reconnect=False, timeout=30.0, throttle=False)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


async def _batch(client: IBClient, price: float, n: int) -> float:
    """Seconds for ``n`` acknowledged orders placed one after the other."""
    t = time.perf_counter()
    for _ in range(n):
        await client.place_order_async(SYMBOL, "BUY", 1, limit=price)
    return time.perf_counter() - t


async def _orders_rate(quick: bool) -> dict[str, Measurement]:
    batch, rounds = (50, 3) if quick else (200, 5)
    with tempfile.TemporaryDirectory(prefix="bk-bench-state-") as folder:
        state = f"{folder}/gw.json"
        async with (gateway_process(1.0) as plain_port, gateway_process(1.0, extra=("--state", state)) as state_port,
                    _trader(plain_port) as plain, _trader(state_port) as durable):
            best = {"plain": float("inf"), "state": float("inf")}
            clients = {"plain": plain, "state": durable}
            prices = {k: round(await c.reference_price(SYMBOL) * 0.5, 2) for k, c in clients.items()}
            for c in clients.values():       # warm both paths (contract cache, first journal file)
                await _batch(c, prices["plain"], 5)
            for r in range(rounds):
                order = ("plain", "state") if r % 2 == 0 else ("state", "plain")
                for side in order:
                    best[side] = min(best[side], await _batch(clients[side], prices[side], batch))
    with_state, without = batch / best["state"], batch / best["plain"]
    details = {"orders_per_batch": batch, "rounds": rounds, "best_batch_seconds_state": best["state"],
               "best_batch_seconds_no_state": best["plain"]}
    return {
        "gateway_orders_per_s_state": Measurement(with_state, with_state, unit="orders/s", details=details),
        "gateway_state_cost_ratio": Measurement(with_state / without, with_state, without, unit="orders/s",
                                                baseline_label="no --state", details=details),
    }


def orders_with_state(quick: bool) -> dict[str, Measurement]:
    """Acknowledged orders/s with ``--state`` (fsync per event) and its ratio to the same gateway without state."""
    return asyncio.run(_orders_rate(quick))


__all__ = ["orders_with_state"]
