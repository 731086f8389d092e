"""Ingest at IB's real speed: how long the S&P 500 x 1 year of 1-minute bars takes, projected from a measured run.

``ingest_speed``: ``ingest`` of a few symbols x sessions of 1-minute bars against a gateway process that enforces
IB's pacing rules on a real-time clock (speed 1, so every window is as long as at IB), ``concurrency`` symbols at
once. From the measured wall time per request it projects the S&P 500 (503 symbols) x 252 sessions: one request
per session and symbol (IB's largest duration for 1-minute bars is one day) plus the newest chunk per symbol.
The gateway answers in milliseconds where IB takes longer, so ``details`` also give the projection for an assumed IB
answer time (``IB_SECONDS_PER_REQUEST``, an assumption, not a measurement) at the same concurrency.
"""

from __future__ import annotations

import asyncio
import tempfile

from breakout_kit.bench.cpu import Measurement
from breakout_kit.bench.live import SYMBOLS, connected, gateway_process
from breakout_kit.client.ib_client import PACING_VIOLATION

SP500_SYMBOLS, SESSIONS_A_YEAR = 503, 252
IB_SECONDS_PER_REQUEST = 1.0     # assumed: one day of 1-minute bars from IB's history farm


async def _ingest_speed(quick: bool) -> dict[str, Measurement]:
    from breakout_kit.client.ingest import ingest

    symbols = SYMBOLS[:4] if quick else SYMBOLS[:8]
    sessions = 5 if quick else 20
    concurrency = 8
    codes: list[int] = []
    async with gateway_process(1.0, pacing="strict") as port, connected(port, 1.0) as client:
        client.error_event += lambda req_id, code, msg: codes.append(code)
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(prefix="bk-bench-") as dest:
            t0 = loop.time()
            summary = await ingest(client, symbols, duration=f"{sessions} D", bar_size="1 min", dest=dest,
                                   progress=False, concurrency=concurrency)
            elapsed = loop.time() - t0
    failed = summary[summary["error"] != ""]
    if len(failed):
        raise RuntimeError(f"ingest failed for {', '.join(failed['symbol'])}: {failed['error'].iloc[0]}")
    requests = int(summary["requests"].sum())
    per_request = elapsed / requests
    total = SP500_SYMBOLS * (SESSIONS_A_YEAR + 1)
    days = total * per_request / 86_400
    ib_days = total * IB_SECONDS_PER_REQUEST / min(concurrency, 50) / 86_400
    violations = codes.count(PACING_VIOLATION)
    details = {"symbols": len(symbols), "sessions": sessions, "requests": requests, "rows": int(summary["rows"].sum()),
               "seconds": round(elapsed, 2), "seconds_per_request": per_request, "projected_requests": total,
               "concurrency": concurrency, "ib_model_days": round(ib_days, 3),
               "ib_model_seconds_per_request": IB_SECONDS_PER_REQUEST}
    return {
        "ingest_sp500_1y_1min_days": Measurement(days, days, unit="days", details=details),
        "ingest_pacing_violations": Measurement(float(violations), float(violations), unit="errors 162",
                                                details={"requests": requests}),
    }


def ingest_speed(quick: bool) -> dict[str, Measurement]:
    """S&P 500 x 1 year of 1-minute bars, projected from a measured paced ingest; and its error 162 count."""
    return asyncio.run(_ingest_speed(quick))
