"""Download IB history to a Parquet dataset, in IB-sized chunks, paced, resumable.

Layout (hive partitioning, :mod:`breakout_kit.core.layout`):
``dest/symbol=<SYMBOL>/bar_size=<bar size, spaces as _>/part-<first>-<last>.parquet`` (UTC bar start times, index
``time``), so ``pd.read_parquet(dest)``, ``dask.dataframe.read_parquet(dest)`` and DuckDB's
``read_parquet('dest/**/*.parquet', hive_partitioning = true)`` read the whole dataset in one line, with ``symbol``
and ``bar_size`` columns. The resume bookkeeping is ``_ingest.json`` in each partition (Parquet readers skip names
starting with ``_`` or ``.``; parts are written as ``.part-*.tmp`` and renamed). A second run only asks IB for what
is missing at either end of what is already on disk.

Damage (a truncated or empty part, what a crash or a full disk leaves): ``load`` names the damaged file instead of
failing with pyarrow's message; ``ingest`` moves it aside (``.damaged-<name>``, which dataset readers skip),
re-fetches the span its name records and writes a good part in its place. The bookkeeping file is written
atomically (a temporary file, then a rename). Several symbols download at once (``concurrency``), each its chunks
in order, within IB's pacing rules (the client's pacer) and its 50 open requests.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from breakout_kit.client.errors import ContractError
from breakout_kit.core import bars, calendar
from breakout_kit.core.layout import BOOKKEEPING, partition, symbol_of, tidy_bars

#: the longest duration IB serves in one request per bar size (IB's historical-data limits)
MAX_CHUNK = {
    "1 secs": "1800 S", "5 secs": "3600 S", "10 secs": "14400 S", "15 secs": "14400 S", "30 secs": "28800 S",
    "1 min": "1 D", "2 mins": "2 D", "3 mins": "1 W", "5 mins": "1 W", "10 mins": "1 W", "15 mins": "2 W",
    "20 mins": "2 W", "30 mins": "1 M", "1 hour": "1 M", "2 hours": "1 M", "3 hours": "1 M", "4 hours": "1 M",
    "8 hours": "1 M", "1 day": "1 Y", "1 week": "2 Y", "1 month": "2 Y",
}
COLUMNS = ["open", "high", "low", "close", "volume"]
#: per partition: the earliest time a run has searched back to (so a resume does not search the same gap again)
COVERED_FILE = BOOKKEEPING
NEW_YORK = "America/New_York"


def span_start(last: pd.Timestamp, duration: str) -> pd.Timestamp:
    """Earliest bar time a ``duration`` ending at bar ``last`` covers.

    Like IB, ``D`` and ``W`` count trading sessions of the NYSE calendar (``core.calendar``, the one the paper
    gateway uses; ``W`` = 5), so "3 D" on a Monday reaches back to Thursday's session instead of into the weekend,
    and skips holidays; ``S`` is seconds, ``M``/``Y`` are 30/365 calendar days.
    """
    number, unit = bars.parse_duration(duration)
    if unit not in "DW":
        return last - pd.Timedelta(seconds=bars.duration_seconds(duration))
    sessions = number if unit == "D" else 5 * number
    first_day = calendar.sessions_back(last.tz_convert(NEW_YORK).date(), sessions)
    return pd.Timestamp(first_day).tz_localize(NEW_YORK).tz_convert(last.tz)


def bar_label(t: pd.Timestamp, bar_size: str) -> pd.Timestamp | date:
    """How a bar is named to people: its start time, or for daily and longer bars its session date."""
    if bars.bar_seconds(bar_size) >= 86_400:
        return t.tz_convert(NEW_YORK).date()
    return t


def dataset_dir(dest: str | Path, symbol: str, bar_size: str, rth: bool = False) -> Path:
    """The partition folder of one symbol and bar size: ``dest/symbol=AAPL/bar_size=1_min``."""
    return Path(dest).joinpath(*partition(symbol, bars.bar_size(bar_size), rth))


def _time_filter(start, end) -> list | None:
    where = []
    if start is not None:
        where.append(("time", ">=", _utc(start)))
    if end is not None:
        where.append(("time", "<=", _utc(end)))
    return where or None


def _utc(when) -> pd.Timestamp:
    t = pd.Timestamp(when)
    return t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")


def _adopt_legacy(dest, symbol: str, bar_size: str) -> None:
    """Move a folder of the first layout (``dest/AAPL/1_min`` + ``covered_from.txt``) into its partition."""
    old = Path(dest) / symbol.upper() / bar_size.replace(" ", "_")
    new = dataset_dir(dest, symbol, bar_size)
    if new.exists() or not old.is_dir() or not any(old.glob("part-*.parquet")):
        return
    new.parent.mkdir(parents=True, exist_ok=True)
    old.replace(new)
    marker = new / "covered_from.txt"
    if marker.is_file():
        _set_covered_from(new, pd.Timestamp(marker.read_text().strip()))
        marker.unlink()
    if not any(old.parent.iterdir()):
        old.parent.rmdir()


class DamagedPart(ValueError):
    """A part file of the dataset that cannot be read (``path``); ``ingest`` replaces it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"damaged part {path}: {reason}; run ingest again for this symbol to re-fetch it")
        self.path = path


def _read_part(path: Path, where) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, filters=where)
    except Exception as e:  # pyarrow raises several types for a truncated or empty file
        raise DamagedPart(path, f"{type(e).__name__}: {e}") from e


def _load_one(dest, symbol: str, bar_size: str, start, end, rth: bool = False) -> pd.DataFrame:
    if not rth:
        _adopt_legacy(dest, symbol, bar_size)
    folder = dataset_dir(dest, symbol, bar_size, rth)
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not parts:
        hours = " regular-hours" if rth else ""
        raise FileNotFoundError(f"no{hours} {bar_size} data for {symbol.upper()} under {Path(dest)}")
    where = _time_filter(start, end)
    return tidy_bars(pd.concat([_read_part(p, where) for p in parts]))


_PART_NAME = re.compile(r"part-(\d{8}T\d{6})-(\d{8}T\d{6})\.parquet$")


def _set_aside_damaged(folder: Path) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Move unreadable parts aside; the (first, last) bar times their names record, to fetch again."""
    import pyarrow.parquet as pq

    spans = []
    for part in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
        try:
            pq.read_metadata(part)
            continue
        except Exception:  # noqa: BLE001 -- any unreadable footer: the part is damaged
            part.replace(part.with_name(f".damaged-{part.name}"))
        m = _PART_NAME.search(part.name)
        if m:
            spans.append((pd.Timestamp(m.group(1), tz="UTC"), pd.Timestamp(m.group(2), tz="UTC")))
    return spans


def load(dest: str | Path, symbol: str | Iterable[str] | None = None, bar_size: str = "1 min", start=None,
         end=None, *, rth: bool = False) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Read bars back: a DataFrame with a UTC ``DatetimeIndex`` named ``time`` (sorted, unique), for one symbol.

    ``symbol=None`` (every symbol with ``bar_size`` bars) or a list of symbols gives ``{symbol: DataFrame}``.
    ``start`` / ``end`` (inclusive; naive times are UTC) keep only bars in that range, read with Parquet filters.
    """
    bar_size = bars.bar_size(bar_size)
    if isinstance(symbol, str):
        return _load_one(dest, symbol, bar_size, start, end, rth)
    if symbol is None:
        wanted = partition("X", bar_size, rth)[1]
        symbol = sorted(symbol_of(p.parent.name.split("=", 1)[1]) for p in Path(dest).glob(f"symbol=*/{wanted}")
                        if any(p.glob("part-*.parquet")))
        if not symbol:
            raise FileNotFoundError(f"no {bar_size} data under {Path(dest)}")
    return {s.upper(): _load_one(dest, s, bar_size, start, end, rth) for s in symbol}


def _write(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    first, last = frame.index[0], frame.index[-1]
    name = f"part-{first:%Y%m%dT%H%M%S}-{last:%Y%m%dT%H%M%S}.parquet"
    frame = frame.copy()
    frame.index.name = "time"
    tmp = folder / f".{name}.tmp"                 # a leading dot: readers of the dataset skip it
    frame.to_parquet(tmp)
    tmp.replace(folder / name)                    # never leave a half-written part behind


async def _fetch_back(client, contract, bar_size: str, end: datetime | str, stop_at: datetime | None,
                      limit: datetime, bar: pd.Timedelta, counter: dict, bar_progress,
                      rth: bool = False) -> list[pd.DataFrame]:
    """Chunks going back from ``end`` until ``stop_at`` (exclusive: already on disk) or ``limit`` is reached."""
    chunk = MAX_CHUNK[bar_size]
    frames = []
    while True:
        df = await client.history(contract, duration=chunk, bar_size=bar_size, end=end, use_rth=rth)
        counter["requests"] += 1
        bar_progress.update(1)
        if stop_at is not None:
            df = df[df.index > stop_at]
        df = df[df.index >= limit]
        if df.empty:
            break
        frames.append(df[COLUMNS])
        earliest = df.index[0]
        if (stop_at is not None and earliest <= stop_at + bar) or earliest <= limit:
            break
        end = earliest.to_pydatetime()
    return frames


async def ingest(client, symbols: str | Iterable[str], duration: str = "5 D", bar_size: str = "1 min",
                 dest: str | Path = "data/", *, rth: bool = False, progress: bool = True,
                 concurrency: int = 8) -> pd.DataFrame:
    """Download ``duration`` of ``bar_size`` TRADES bars for each symbol into ``dest`` (Parquet), resuming.

    Returns one summary row per symbol: symbol, bar_size, rows (on disk), new_rows, first, last (bar start times;
    session dates for daily and longer bars), requests, resumed, repaired (damaged parts re-fetched), error. An
    unknown symbol is reported in its row; the others still download. ``concurrency`` symbols download at once.
    ``rth=True`` asks IB for regular trading hours only (useRTH) and keeps those bars in their own partition
    (``bar_size=1_min_rth``; ``load(..., rth=True)`` reads them), never mixed with all-hours bars.
    """
    from tqdm.auto import tqdm

    if isinstance(symbols, str):
        symbols = [s for s in re.split(r"[,\s]+", symbols) if s]
    symbols = list(dict.fromkeys(s.strip().upper() for s in symbols))
    if not symbols:
        raise ValueError("ingest needs at least one symbol")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    bar_size = bars.bar_size(bar_size)                    # "5m" -> "5 mins"; validate before any request
    duration = bars.duration(duration)
    gate = asyncio.Semaphore(concurrency)
    with tqdm(total=len(symbols), desc="ingest", unit="symbol", disable=not progress) as sym_bar, \
            tqdm(desc="requests", unit="req", disable=not progress, leave=False) as req_bar:

        async def one(symbol: str) -> dict:
            async with gate:
                row = await _ingest_symbol(client, symbol, duration, bar_size, dest, req_bar, rth)
            sym_bar.set_postfix_str(symbol)
            sym_bar.update(1)
            return row

        rows = await asyncio.gather(*(one(s) for s in symbols))
    return pd.DataFrame(rows, columns=["symbol", "bar_size", "rows", "new_rows", "first", "last", "requests",
                                       "resumed", "repaired", "error"])


async def _ingest_symbol(client, symbol: str, duration: str, bar_size: str, dest, req_bar, rth: bool) -> dict:
    bar = pd.Timedelta(seconds=bars.bar_seconds(bar_size))
    counter = {"requests": 0}
    row = {"symbol": symbol, "bar_size": bar_size, "rows": 0, "new_rows": 0, "first": pd.NaT,
           "last": pd.NaT, "requests": 0, "resumed": False, "repaired": 0, "error": ""}
    try:
        contract = await client.qualify(symbol)
        folder = dataset_dir(dest, symbol, bar_size, rth)
        if not rth:
            _adopt_legacy(dest, symbol, bar_size)
        damaged = _set_aside_damaged(folder)
        row["repaired"] = len(damaged)
        try:
            have = _load_one(dest, symbol, bar_size, None, None, rth)
        except FileNotFoundError:
            have = None
        row["resumed"] = have is not None
        # newest part: back from now to what we have (or to the start of the span)
        latest = await client.history(contract, duration=MAX_CHUNK[bar_size], bar_size=bar_size, use_rth=rth)
        counter["requests"] += 1
        req_bar.update(1)
        latest = latest.iloc[:-1]          # the newest bar may still be forming: next run gets it whole
        if latest.empty:
            raise ValueError(f"IB returned no {bar_size} bars for {symbol}")
        limit = span_start(latest.index[-1], duration)
        frames = []
        stop_at = have.index[-1] if have is not None else None
        head = latest[latest.index >= limit]
        if stop_at is not None:
            head = head[head.index > stop_at]
        if not head.empty:
            frames.append(head[COLUMNS])
            reached = head.index[0] <= limit or (stop_at is not None and head.index[0] <= stop_at + bar)
            if not reached:
                frames += await _fetch_back(client, contract, bar_size, head.index[0].to_pydatetime(),
                                            stop_at, limit, bar, counter, req_bar, rth)
        # older part: before what we have, back to the start of the span (unless an earlier run already
        # searched that far: markets have gaps, so the first bar on disk may lie after the span's start)
        covered = _covered_from(folder)
        if have is not None and have.index[0] > limit + bar and (covered is None or covered > limit):
            frames += await _fetch_back(client, contract, bar_size, have.index[0].to_pydatetime(),
                                        None, limit, bar, counter, req_bar, rth)
        # damaged parts: the span each one held, again
        for first, last in damaged:
            got = await _fetch_back(client, contract, bar_size, (last + bar).to_pydatetime(), None, first, bar,
                                    counter, req_bar, rth)
            frames += [f[(f.index >= first) & (f.index <= last)] for f in got]
        frames = [f for f in frames if not f.empty]
        if frames:
            new = pd.concat(frames)
            new = new[~new.index.duplicated()].sort_index()
            if have is not None:
                new = new[~new.index.isin(have.index)]
            if not new.empty:
                _write(folder, new)
            row["new_rows"] = len(new)
        if frames or have is not None:
            _set_covered_from(folder, limit if covered is None else min(limit, covered))
        total = _load_one(dest, symbol, bar_size, None, None, rth) if frames or have is not None else None
        if total is not None:
            row.update(rows=len(total), first=bar_label(total.index[0], bar_size),
                       last=bar_label(total.index[-1], bar_size))
    except (ContractError, ValueError, TimeoutError, ConnectionError) as e:
        row["error"] = str(e)
    row["requests"] = counter["requests"]
    return row


def _covered_from(folder: Path) -> pd.Timestamp | None:
    marker = folder / COVERED_FILE
    if not marker.is_file():
        return None
    return pd.Timestamp(json.loads(marker.read_text())["covered_from"])


def _set_covered_from(folder: Path, when: pd.Timestamp) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{COVERED_FILE}.tmp"
    tmp.write_text(json.dumps({"covered_from": when.isoformat()}))
    os.replace(tmp, folder / COVERED_FILE)        # a crash leaves the old file or the new one, never half of one
