"""Scanner requests: reqScannerParameters (24) -> scannerParameters (19), reqScannerSubscription (22) ->
scannerData (20) now and on every refresh, cancelScannerSubscription (23). The decoder lives here; the scans are
sim/scanner.py."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..sim.scanner import (
    FILTER_TAGS,
    LOCATIONS,
    MAX_ROWS,
    SCAN_TYPES,
    STOCK_TYPES,
    UNSET_DOUBLE,
    UNSET_INTEGER,
    ScanError,
    ScanRequest,
    parameters_xml,
)
from .protocol import Fields
from .versions import BASE

if TYPE_CHECKING:
    from .session import Session


def _number(text: str, what: str) -> float | None:
    if text in ("", None):
        return None
    try:
        v = float(text)
    except ValueError:
        raise ScanError(f"Error validating request.-'bS' : cause - {what} is not a number: {text!r}") from None
    if not math.isfinite(v) or v >= UNSET_DOUBLE or v == UNSET_INTEGER:
        return None
    return v


def parse_tag_values(text: str) -> list[tuple[str, str]]:
    """``"tag=value;tag=value;"`` (how clients send a TagValue list) -> pairs."""
    out = []
    for part in text.split(";"):
        if part.strip():
            tag, sep, value = part.partition("=")
            if not sep:
                raise ScanError(f"Error validating request.-'bS' : cause - bad filter option {part!r}")
            out.append((tag.strip(), value.strip()))
    return out


def parse_request(f: Fields, version: int = BASE) -> tuple[int, ScanRequest]:
    """reqScannerSubscription (22): [version below 143,] reqId, the subscription's 21 fields, filter options (143+),
    subscription options. Raises ScanError (after reading the reqId) for anything TWS would refuse."""
    if version < 143:
        f.int()  # the message version (SCANNER_GENERIC_OPTS dropped it and added the filter options)
    req_id = f.int()
    rows = f.int(-1)
    instrument, location, code = f.str(), f.str(), f.str().upper()
    above_price, below_price, above_volume = f.str(), f.str(), f.str()
    cap_above, cap_below = f.str(), f.str()
    f.skip(8)                       # moody/sp ratings, maturity dates, coupon rates
    f.str()                         # excludeConvertible
    f.str()                         # averageOptionVolumeAbove
    f.str()                         # scannerSettingPairs
    stock_type = (f.str() or "ALL").upper()
    options = f.str() if f.pos < len(f.fields) and version >= 143 else ""
    if instrument != "STK":
        raise ScanError(f"Error validating request.-'bS' : cause - instrument {instrument!r} is not supported "
                        "(the paper gateway scans STK)")
    if location not in LOCATIONS:
        raise ScanError(f"Error validating request.-'bS' : cause - unknown location code {location!r}; use one of "
                        f"{', '.join(LOCATIONS)}")
    if code not in SCAN_TYPES:
        raise ScanError(f"Error validating request.-'bS' : cause - unknown scan code {code!r}; use one of "
                        f"{', '.join(SCAN_TYPES)}")
    if stock_type not in STOCK_TYPES:
        raise ScanError(f"Error validating request.-'bS' : cause - stockTypeFilter {stock_type!r}: use one of "
                        f"{', '.join(STOCK_TYPES)}")
    limits: list[tuple[str, str, float]] = []
    for text, what, bound in ((above_price, "last", "min"), (below_price, "last", "max"),
                              (above_volume, "volume", "min"), (cap_above, "market_cap", "min"),
                              (cap_below, "market_cap", "max")):
        v = _number(text, what)
        if v is not None:
            limits.append((what, bound, v))
    for tag, value in parse_tag_values(options):
        if tag not in FILTER_TAGS:
            raise ScanError(f"Error validating request.-'bS' : cause - unknown filter {tag!r}; use one of "
                            f"{', '.join(FILTER_TAGS)}")
        _, what, bound, unit = FILTER_TAGS[tag]
        v = _number(value, tag)
        if v is not None:
            limits.append((what, bound, v * unit))
    rows = MAX_ROWS if rows <= 0 or rows == UNSET_INTEGER else min(rows, MAX_ROWS)
    return req_id, ScanRequest(code, location, rows, tuple(limits), stock_type)


def req_scanner_parameters(session: Session, f: Fields) -> None:
    """reqScannerParameters(version) -> scannerParameters (19, version 1, XML)."""
    session.send(19, 1, parameters_xml())


def req_scanner_subscription(session: Session, f: Fields) -> None:
    """reqScannerSubscription -> scannerData (20) now and every REFRESH_SECONDS of the gateway clock."""
    peek = Fields(f.fields, f.pos)
    if session.server_version < 143:
        peek.int()
    req_id = peek.int()
    try:
        req_id, req = parse_request(f, session.server_version)
    except ScanError as e:
        session.error(req_id, 321, str(e))
        return
    session.gateway.scanner.subscribe(session, req_id, req)


def cancel_scanner_subscription(session: Session, f: Fields) -> None:
    """cancelScannerSubscription(version, reqId)."""
    f.int()
    session.gateway.scanner.cancel(session, f.int())


def drop_scans(session: Session) -> None:
    session.gateway.scanner.drop_session(session)


