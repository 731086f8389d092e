"""ingest(): chunked, paced download to Parquet with zero pacing violations, exact data, and resume."""

from datetime import date

import pandas as pd
import pytest
from conftest import SESSION_OPEN

from breakout_kit.client.ib_client import IBClient
from breakout_kit.client.ingest import dataset_dir, ingest, load, span_start
from breakout_kit.core.bars import duration_seconds
from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib

SPEED = 600.0


@pytest.fixture
async def paced(client_id):
    """A gateway enforcing IB's pacing rules (on its accelerated clock) and a client pacing itself to match."""
    async with (PaperGateway(port=0, speed=SPEED, pacing="strict", start=SESSION_OPEN) as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=SPEED) as c):
        yield gw, c


async def test_ingest_exact_no_violations_and_resume(paced, tmp_path):
    gw, client = paced
    errors = []
    client.ib.errorEvent += lambda rid, code, msg, contract: errors.append(code)
    summary = await ingest(client, "AAPL, msft,ZZZZQ", duration="3 D", bar_size="1 min", dest=tmp_path,
                           progress=False)
    assert list(summary["symbol"]) == ["AAPL", "MSFT", "ZZZZQ"]
    ok = summary.set_index("symbol")
    assert "ZZZZQ" in ok.loc["ZZZZQ", "error"] and ok.loc["ZZZZQ", "rows"] == 0
    for sym in ("AAPL", "MSFT"):
        assert ok.loc[sym, "error"] == "" and not ok.loc[sym, "resumed"]
        assert ok.loc[sym, "requests"] >= 3                     # 1-minute bars come one day per request
        df = load(tmp_path, sym, "1 min")
        assert df.index.is_unique and df.index.is_monotonic_increasing and str(df.index.tz) == "UTC"
        assert ok.loc[sym, "rows"] == len(df) and ok.loc[sym, "first"] == df.index[0]
        truth = gw.history(sym, 60, df.index[0].to_pydatetime(), df.index[-1].to_pydatetime() + pd.Timedelta("1min"))
        assert [b.time for b in truth] == [int(t.timestamp()) for t in df.index]   # no gap, no extra bar
        assert [b.close for b in truth] == pytest.approx(df["close"].tolist())
        assert df.index[-1] - df.index[0] >= pd.Timedelta(days=2)
    assert 162 not in errors                                    # zero pacing violations
    assert any(p.suffix == ".parquet" for p in dataset_dir(tmp_path, "AAPL", "1 min").iterdir())

    again = (await ingest(client, ["AAPL"], duration="3 D", bar_size="1 min", dest=tmp_path, progress=False)
             ).set_index("symbol")
    assert again.loc["AAPL", "resumed"]
    assert again.loc["AAPL", "requests"] == 1                   # only the newest chunk is asked for again
    assert again.loc["AAPL", "rows"] >= ok.loc["AAPL", "rows"]
    df2 = load(tmp_path, "AAPL", "1 min")
    assert df2.index.is_unique and df2.index.is_monotonic_increasing
    assert 162 not in errors


@pytest.mark.parametrize("last, duration, first", [
    ("2026-12-01 14:29", "3 D", "2026-11-27 05:00"),     # Tuesday: Tue, Mon, Fri (the weekend is no session)
    ("2026-11-23 14:29", "1 D", "2026-11-23 05:00"),     # Monday: just Monday's session, from New York midnight
    ("2026-11-23 14:29", "1 W", "2026-11-17 05:00"),     # a week = 5 sessions: Tue..Mon
    ("2026-11-23 14:29", "600 S", "2026-11-23 14:19"),   # seconds are seconds
    ("2026-11-30 15:00", "3 D", "2026-11-25 05:00"),     # Mon, Fri, Wed: Thanksgiving is no session (NYSE calendar)
])
def test_span_start_counts_sessions_like_ib(last, duration, first):
    assert span_start(pd.Timestamp(last, tz="UTC"), duration) == pd.Timestamp(first, tz="UTC")


def test_bad_arguments():
    with pytest.raises(ValueError, match="duration"):
        duration_seconds("5 days")
    with pytest.raises(ValueError):
        duration_seconds("0 D")
    assert duration_seconds("2 W") == 14 * 86400
    with pytest.raises(FileNotFoundError, match="AAPL"):
        load("/nonexistent", "AAPL")


async def test_bad_ingest_arguments(tmp_path):
    with pytest.raises(ValueError, match="symbol"):
        await ingest(None, [], dest=tmp_path)
    with pytest.raises(ValueError, match="bar size"):
        await ingest(None, ["AAPL"], bar_size="7 mins", dest=tmp_path)


async def test_daily_ingest_names_session_dates(client_id, tmp_path):
    """`ingest AAPL duration=1 Y bar=1d` on 2026-12-01: the summary spans session dates 2025-12-01 .. 2026-11-30
    (not New York evenings of the day before), and the bars sit at New York midnight of their sessions."""
    start = pd.Timestamp("2026-12-01 09:30", tz="America/New_York").to_pydatetime()
    async with (PaperGateway(port=0, speed=60.0, pacing="off", start=start) as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=60.0) as client):
        summary = await ingest(client, "AAPL", duration="1 Y", bar_size="1d", dest=tmp_path, progress=False)
    row = summary.iloc[0]
    assert row["error"] == ""
    assert (row["first"], row["last"]) == (date(2025, 12, 1), date(2026, 11, 30))
    df = load(tmp_path, "AAPL", "1 day")
    sessions = df.index.tz_convert("America/New_York")
    assert (sessions == sessions.normalize()).all()               # New York midnight of each session
    assert date(2026, 11, 26) not in set(sessions.date)           # Thanksgiving
    assert set(sessions.date) >= {date(2026, 11, 25), date(2026, 11, 27)}


async def test_a_damaged_part_is_named_then_replaced(paced, tmp_path):
    from breakout_kit.client.ingest import DamagedPart

    _gw, client = paced
    first = await ingest(client, ["AAPL", "MSFT"], duration="2 D", bar_size="5 mins", dest=tmp_path,
                         progress=False, concurrency=2)
    assert (first["error"] == "").all() and (first["rows"] > 0).all()
    good = load(tmp_path, "AAPL", "5 mins")
    part = min(dataset_dir(tmp_path, "AAPL", "5 mins").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:100])                    # what a crash mid-write on a full disk leaves
    with pytest.raises(DamagedPart, match=f"damaged part {part}"):
        load(tmp_path, "AAPL", "5 mins")
    again = (await ingest(client, ["AAPL", "MSFT"], duration="2 D", bar_size="5 mins", dest=tmp_path,
                          progress=False)).set_index("symbol")
    assert again.loc["AAPL", "repaired"] == 1 and again.loc["MSFT", "repaired"] == 0
    assert again.loc["AAPL", "error"] == ""
    repaired = load(tmp_path, "AAPL", "5 mins")
    pd.testing.assert_frame_equal(repaired.loc[good.index], good)  # every bar back, the same bars
    whole = pd.read_parquet(tmp_path)                               # the dataset reads as one again
    assert set(whole["symbol"].astype(str)) == {"AAPL", "MSFT"}
    assert not list(dataset_dir(tmp_path, "AAPL", "5 mins").glob(".*.tmp"))


async def test_regular_hours_ingest_lives_apart(paced, tmp_path):
    _gw, client = paced
    await ingest(client, "AAPL", duration="2 D", bar_size="5m", dest=tmp_path, progress=False)
    summary = await ingest(client, "AAPL", duration="2 D", bar_size="5m", dest=tmp_path, rth=True, progress=False)
    assert summary.loc[0, "error"] == "" and summary.loc[0, "rows"] > 0
    every = load(tmp_path, "AAPL", "5m")
    regular = load(tmp_path, "AAPL", "5m", rth=True)
    minutes = regular.index.tz_convert("America/New_York")
    minutes = minutes.hour * 60 + minutes.minute
    assert ((minutes >= 9 * 60 + 30) & (minutes < 16 * 60)).all()           # IB's useRTH: 09:30-16:00 only
    both = regular.index.intersection(every.index)
    assert len(both) > 0 and not every.index.difference(regular.index).empty   # all hours has more than RTH
    pd.testing.assert_frame_equal(regular.loc[both], every.loc[both])              # the same bars where both have them
    assert dataset_dir(tmp_path, "AAPL", "5m", rth=True).name == "bar_size=5_mins_rth"
