"""Market scans (IB's scanner) as DataFrames: ``IBClient.scan`` (one answer) and ``IBClient.subscribe_scan`` (a
``ScanSubscription`` whose ``update_event`` emits every refresh TWS sends, about every 30 s).

A scan's rows carry the rank and the contract only, as TWS sends them; ask for prices separately if needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import pandas as pd

from breakout_kit.client.iblib import Event, ScannerSubscription, TagValue

#: scan codes the embedded gateway computes (TWS has many more; any code TWS lists in its parameters works there)
SCAN_CODES = ("TOP_PERC_GAIN", "TOP_PERC_LOSE", "MOST_ACTIVE", "HOT_BY_VOLUME", "HIGH_VS_13W_HI")
COLUMNS = ["rank", "symbol", "con_id", "currency", "market_name"]
MAX_ROWS = 50
_NUMBER_FILTERS = ("above_price", "below_price", "above_volume", "market_cap_above", "market_cap_below")


def _limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def subscription(scan_code: str, rows: int = 10, *, location: str = "STK.US.MAJOR", instrument: str = "STK",
                 stock_type: str = "ALL", **limits: float | None) -> ScannerSubscription:
    """An IB ``ScannerSubscription`` for ``scan_code`` (case-insensitive) with at most ``rows`` rows (1..50) and
    the limits ``above_price``, ``below_price``, ``above_volume``, ``market_cap_above``, ``market_cap_below``
    (USD; None = no limit). Raises ValueError / TypeError for anything TWS would refuse."""
    if not isinstance(scan_code, str) or not scan_code.strip():
        raise ValueError(f"scan_code must be a scan code like 'TOP_PERC_GAIN', got {scan_code!r}")
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be an int in 1..{MAX_ROWS}, got {rows!r}")
    unknown = set(limits) - set(_NUMBER_FILTERS)
    if unknown:
        raise TypeError(f"unknown scan filter(s) {', '.join(sorted(unknown))}; use {', '.join(_NUMBER_FILTERS)}")
    sub = ScannerSubscription(numberOfRows=rows, instrument=instrument, locationCode=location,
                              scanCode=scan_code.strip().upper(), stockTypeFilter=stock_type)
    fields = {"above_price": "abovePrice", "below_price": "belowPrice", "above_volume": "aboveVolume",
              "market_cap_above": "marketCapAbove", "market_cap_below": "marketCapBelow"}
    for name, value in limits.items():
        v = _limit(name, value)
        if v is not None:
            setattr(sub, fields[name], int(v) if name == "above_volume" else v)
    return sub


def rows_frame(data: list) -> pd.DataFrame:
    """The library's scan rows (``ScanData``) -> DataFrame[rank, symbol, con_id, currency, market_name]."""
    rows = [(d.rank, d.contractDetails.contract.symbol, d.contractDetails.contract.conId,
             d.contractDetails.contract.currency, d.contractDetails.marketName) for d in data]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("rank", kind="stable").reset_index(drop=True)


class ScanError(ValueError):
    """TWS refused a scan (unknown scan code, location, filter ...): the message is TWS's."""


class ScanSubscription:
    """A subscribed scan. ``update_event`` emits a DataFrame (see ``rows_frame``) for every refresh; ``rows`` is
    the latest one; ``error_event`` emits ``(code, message)`` if TWS refuses the scan (it is then inactive).

    After a reconnect (``resubscribe_event``: ``IBClient.resubscribe_event``) the scan is requested again, since
    TWS forgot it with the connection. ``cancel()`` ends it.
    """

    def __init__(self, ib: Any, sub: ScannerSubscription, filters: list | None = None,
                 resubscribe_event: Any = None) -> None:
        self.subscription = sub
        self.filters = list(filters or [])
        self.update_event = Event("scan")
        self.error_event = Event("scan_error")
        self.rows = pd.DataFrame(columns=COLUMNS)
        self.updates = 0
        self.error: ScanError | None = None
        self._ib = ib
        self._list: Any = None
        self._resubscribe_event = resubscribe_event
        self._ib.errorEvent += self._on_error
        if resubscribe_event is not None:
            resubscribe_event += self.resubscribe
        self._request()

    def _request(self) -> None:
        self._list = self._ib.reqScannerSubscription(self.subscription, [], self.filters)
        self._list.updateEvent += self._on_update

    @property
    def req_id(self) -> int | None:
        return self._list.reqId if self._list is not None else None

    @property
    def active(self) -> bool:
        return self._list is not None

    def _on_update(self, data: list) -> None:
        self.rows = rows_frame(data)
        self.updates += 1
        self.update_event.emit(self.rows)

    def _on_error(self, req_id: int, code: int, msg: str, contract: Any = None) -> None:
        if self._list is not None and req_id == self._list.reqId and not 2100 <= code < 2200:
            self.error = ScanError(f"scan {self.subscription.scanCode}: {msg} (error {code})")
            self.detach()
            self.error_event.emit(code, msg)

    def resubscribe(self) -> None:
        """Request the scan again (the connection was re-established and TWS forgot it)."""
        if self._list is None:
            return
        self._list.updateEvent -= self._on_update
        self._request()

    def detach(self) -> None:
        """Stop listening without telling TWS."""
        data, self._list = self._list, None
        if data is not None:
            data.updateEvent -= self._on_update
            self._ib.errorEvent -= self._on_error
            if self._resubscribe_event is not None:
                self._resubscribe_event -= self.resubscribe

    def cancel(self) -> None:
        """Stop listening and cancel the scan at TWS (when still connected)."""
        data = self._list
        self.detach()
        if data is not None and self._ib.isConnected():
            with contextlib.suppress(Exception):
                self._ib.cancelScannerSubscription(data)

    async def next_rows(self) -> pd.DataFrame:
        """Wait for the next refresh and return its rows; raises ``ScanError`` if TWS refuses the scan."""
        if self.error is not None:
            raise self.error
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def on_rows(rows):
            if not done.done():
                done.set_result(rows)

        def on_error(code, msg):
            if not done.done():
                done.set_exception(self.error or ScanError(msg))

        self.update_event += on_rows
        self.error_event += on_error
        try:
            return await done
        finally:
            self.update_event -= on_rows
            self.error_event -= on_error


def tag_values(pairs: dict[str, float] | None) -> list:
    """``{"changePercAbove": 2}`` -> the library's TagValue list (TWS's advanced filter options)."""
    return [TagValue(str(k), str(v)) for k, v in (pairs or {}).items()]


__all__ = ["COLUMNS", "SCAN_CODES", "ScanError", "ScanSubscription", "rows_frame", "subscription", "tag_values"]
