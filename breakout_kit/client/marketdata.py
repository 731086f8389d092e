"""Market data for ``IBClient``: real-time bars, scanner subscriptions and one-off scans, paced historical bars,
price snapshots, and the benchmark probe. Everything reaches TWS through the client's ``Supervisor``."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from datetime import date, datetime, timezone

import pandas as pd

from breakout_kit.client.contracts import Contracts
from breakout_kit.client.errors import OrderRejected
from breakout_kit.client.iblib import Contract
from breakout_kit.client.pacer import HistoryPacer
from breakout_kit.client.probe import Probe
from breakout_kit.client.realtime import RealTimeBars
from breakout_kit.client.scanner import ScanSubscription, subscription, tag_values
from breakout_kit.client.supervisor import Supervisor
from breakout_kit.client.symbols import what_to_show
from breakout_kit.core import bars
from breakout_kit.core.bars import bar_seconds, whole_numbers

log = logging.getLogger("breakout_kit.client.ib_client")

PACING_VIOLATION = 162
IDENTICAL_RETRY_WAIT = 15.0
_HISTORY_COLUMNS = ["open", "high", "low", "close", "volume"]
# IB's legal historical-data arguments: checked before sending, because TWS answers bad ones with an error that
# the request then swallows (an empty frame), and a non-bool useRTH even breaks the connection's framing.
HISTORY_WHAT = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
                "OPTION_IMPLIED_VOLATILITY", "REBATE_RATE", "FEE_RATE", "YIELD_BID", "YIELD_ASK", "YIELD_BID_ASK",
                "YIELD_LAST", "SCHEDULE", "AGGTRADES")
_END = re.compile(r"^(\d{8}( \d{2}:\d{2}:\d{2}( \S+)?)?|\d{8}-\d{2}:\d{2}:\d{2})$")


def _check_history_args(duration: object, bar_size: object, what: object, use_rth: object,
                        end: object) -> tuple[str, str]:
    """IB's spelling of (duration, bar_size); ValueError/TypeError for anything TWS would refuse."""
    size = bars.bar_size(bar_size)          # type: ignore[arg-type]  # it checks the type itself
    span = bars.duration(duration)          # type: ignore[arg-type]
    if what not in HISTORY_WHAT:
        raise ValueError(f"what must be one of {', '.join(HISTORY_WHAT)}; got {what!r}")
    if not isinstance(use_rth, bool):
        raise TypeError(f"use_rth must be True or False, got {type(use_rth).__name__}")
    if isinstance(end, datetime):
        if end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
    elif not isinstance(end, str) or (end and not _END.match(end)):
        raise ValueError(f"end must be an aware datetime, '' (now) or 'YYYYMMDD HH:MM:SS [TZ]'; got {end!r}")
    return span, size

class MarketData:
    """Streams, scans, history and snapshots on one supervised connection."""

    def __init__(self, conn: Supervisor, contracts: Contracts, pacer: HistoryPacer) -> None:
        self._conn = conn
        self._contracts = contracts
        self.pacer = pacer

    def subscribe_bars(self, contract: Contract, what: str | None = None, use_rth: bool = False) -> RealTimeBars:
        """Subscribe to IB's 5-second real-time bars for a qualified contract (see ``qualify``); ``what`` None:
        MIDPOINT for forex (IDEALPRO has no trades), TRADES otherwise.

        Returns a ``RealTimeBars`` whose ``bar_event`` emits each ``Bar``; ``cancel()`` ends it. After a reconnect
        or error 1101 (``resubscribe_event``) subscriptions are gone at TWS: ``detach()`` the old one and subscribe
        again.
        """
        self._conn.require_connection()
        return RealTimeBars(self._conn.ib, contract, what or what_to_show(contract), use_rth)

    def probe(self) -> Probe:
        """Measurement hooks on this connection for benchmarks: socket reads before decoding, every bar message,
        pausing the socket, raw library subscriptions (``client/probe.py``). ``close()`` it when done."""
        return Probe(self._conn.ib)

    # ---- scanner ------------------------------------------------------------------------------------------------
    def subscribe_scan(self, scan_code: str, rows: int = 10, *, above_price: float | None = None,
                       below_price: float | None = None, above_volume: float | None = None,
                       market_cap_above: float | None = None, market_cap_below: float | None = None,
                       location: str = "STK.US.MAJOR", stock_type: str = "ALL",
                       filters: dict[str, float] | None = None) -> ScanSubscription:
        """Subscribe to a market scan (``"TOP_PERC_GAIN"``, ``"MOST_ACTIVE"`` ...; see ``client.scanner``): its
        ``update_event`` emits a DataFrame[rank, symbol, con_id, currency, market_name] every time TWS refreshes
        it (about every 30 s). Limits are in USD / shares; ``filters`` are TWS's advanced filter tags
        (e.g. ``{"changePercAbove": 2}``). Re-requested after a reconnect; ``cancel()`` ends it."""
        sub = subscription(scan_code, rows, location=location, stock_type=stock_type, above_price=above_price,
                           below_price=below_price, above_volume=above_volume, market_cap_above=market_cap_above,
                           market_cap_below=market_cap_below)
        self._conn.require_connection()
        return ScanSubscription(self._conn.ib, sub, tag_values(filters), self._conn.resubscribe_event)

    async def scan(self, scan_code: str, rows: int = 10, **limits) -> pd.DataFrame:
        """One market scan now, e.g. ``await client.scan("TOP_PERC_GAIN", rows=10, above_price=5)`` ->
        DataFrame[rank, symbol, con_id, currency, market_name], best first. Arguments as ``subscribe_scan``;
        raises ``client.scanner.ScanError`` with TWS's message if TWS refuses the scan. The first scan of a
        session can take seconds (the embedded gateway computes it over ~590 instruments): waits up to 60 s."""
        scan, conn = self.subscribe_scan(scan_code, rows, **limits), self._conn
        try:
            return await asyncio.wait_for(scan.next_rows(), max(conn.timeout, 60.0))
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer to the {scan.subscription.scanCode} scan from {conn.host}:{conn.port} "
                               f"within {max(conn.timeout, 60.0):g} s") from None
        finally:
            scan.cancel()

    # ---- history --------------------------------------------------------------------------------------------
    async def history(self, symbol: str | Contract, duration: str = "1 D", bar_size: str = "1 min",
                      what: str | None = None, use_rth: bool = False, end: datetime | str = "",
                      retries: int = 3) -> pd.DataFrame:
        """Historical bars as a DataFrame (UTC ``DatetimeIndex`` named ``time``; open high low close volume ...).
        ``what`` None: MIDPOINT for forex, TRADES otherwise.

        Paced client-side by IB's rules; a pacing violation (162) anyway is retried after the window clears.
        """
        duration, bar_size = _check_history_args(duration, bar_size, what or "TRADES", use_rth, end)
        contract = await self._contracts.qualify(symbol)
        what = what or what_to_show(contract)
        identity = (contract.conId, str(end), duration, bar_size, what, bool(use_rth))
        for attempt in range(retries + 1):
            self._conn.require_connection()
            paced: list[str] = []

            def on_error(req_id, code, msg, c, paced=paced):
                if code == PACING_VIOLATION and "pacing" in msg.lower():
                    paced.append(msg)

            self._conn.ib.errorEvent += on_error
            try:
                async with self.pacer.slot(identity, (contract.conId, what), small=bar_seconds(bar_size) <= 30,
                                           weight=2 if what == "BID_ASK" else 1):
                    bars = await self._conn.ib.reqHistoricalDataAsync(
                        contract, endDateTime=end, durationStr=duration, barSizeSetting=bar_size,
                        whatToShow=what, useRTH=use_rth, formatDate=2, timeout=max(self._conn.timeout, 60.0))
            finally:
                self._conn.ib.errorEvent -= on_error
            if not paced:
                return bars_to_frame(bars)
            log.warning("pacing violation for %s (%s); retrying", contract.symbol, paced[0])
            await asyncio.sleep(IDENTICAL_RETRY_WAIT / self.pacer.speed)   # let the 15 s identical window pass
        raise RuntimeError(f"history for {contract.symbol}: still paced after {retries} retries")

    async def reference_price(self, symbol: str | Contract) -> float:
        """The last trade price (snapshot), falling back to the mid or close; raises if none is known."""
        contract = await self._contracts.qualify(symbol)
        [ticker] = await self._conn.timed(self._conn.ib.reqTickersAsync(contract), "price snapshot")
        for price in (ticker.last, ticker.marketPrice(), ticker.close):
            if price is not None and math.isfinite(price) and price > 0:
                return float(price)
        raise OrderRejected(f"no price known for {contract.symbol}; pass a limit price (entry=...)")


#: the exchange clock daily bars are dated in (IB sends daily and longer bars as session dates, YYYYMMDD)
SESSION_TZ = "America/New_York"


def bars_to_frame(bars) -> pd.DataFrame:
    """ib_insync ``BarData`` list -> DataFrame indexed by UTC bar start time.

    Daily and longer bars arrive as session dates (``datetime.date``): each is placed at New York midnight of its
    session (so ``index.tz_convert("America/New_York").date`` gives the session dates back), never at midnight UTC
    (which would show as the evening before in New York)."""
    if not bars:
        return pd.DataFrame(columns=_HISTORY_COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="time"),
                            dtype=float)
    dates = [b.date for b in bars]
    index = pd.DatetimeIndex(pd.to_datetime(dates))
    if index.tz is None:
        sessions = all(isinstance(d, date) and not isinstance(d, datetime) for d in dates)
        index = index.tz_localize(SESSION_TZ if sessions else "UTC")
    index = index.tz_convert("UTC")
    frame = pd.DataFrame({
        "open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
        "close": [b.close for b in bars], "volume": [float(b.volume) for b in bars],
        "average": [b.average for b in bars], "barCount": [b.barCount for b in bars],
    }, index=index.rename("time"))
    frame["volume"] = whole_numbers(frame["volume"])  # share counts: 120100, not 120100.0
    return frame


def utc(dt: datetime) -> datetime:
    """An aware datetime in UTC (naive input is rejected: IB times must not be ambiguous)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware time")
    return dt.astimezone(timezone.utc)


__all__ = ["HISTORY_WHAT", "IDENTICAL_RETRY_WAIT", "PACING_VIOLATION", "SESSION_TZ", "MarketData", "bars_to_frame",
           "utc"]
