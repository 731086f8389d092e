"""The market scanner through the unmodified IB client: parameters XML, scan rows whose order matches the market's
own numbers (computed here from the gateway's 5-second bars), filters, refreshes while subscribed, errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from breakout_kit.client.iblib import ScannerSubscription, TagValue
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.sim.universe import universe

from .conftest import collect_errors, connect, wait_until

pytestmark = pytest.mark.ib
NY = ZoneInfo("America/New_York")
# 10:00:05 at 6x: the scans below are requested before 10:00:30, so their first answer is as of 10:00:00
START = datetime(2026, 11, 23, 10, 0, 5, tzinfo=NY)
SPEED = 6.0
STRIDE = 6                           # 5-second bars per 30-second scan refresh


def prev_session(d: date, gw) -> date:
    d -= timedelta(days=1)
    while gw.market.day("SPY", d) is None:
        d -= timedelta(days=1)
    return d


class Truth:
    """Per stock: today's close / volume / high at the end of each 30-second block, the previous session's
    16:00 close, its volume by block and its high: straight from the market's 5-second bars."""

    def __init__(self, gw, d: date):
        prev = prev_session(d, gw)
        self.gw, self.d, self.stocks = gw, d, universe().stocks()
        self.rows = {}
        for inst in self.stocks:
            today = gw.market.day(inst.key, d, cache=False)
            before = gw.market.day(inst.key, prev, cache=False)
            ends = np.arange(STRIDE - 1, today.end, STRIDE)
            self.rows[inst.key] = (today.c[ends], np.cumsum(today.v)[ends], np.maximum.accumulate(today.h)[ends],
                                   int(before.c[before.rth_hi - 1]), np.cumsum(before.v)[ends],
                                   int(before.h[:before.end].max()))

    def at(self, boundary: datetime) -> dict[str, dict[str, float]]:
        k = int((boundary - datetime(self.d.year, self.d.month, self.d.day, 4, tzinfo=NY)).total_seconds()) // 30 - 1
        out = {}
        for inst in self.stocks:
            c, v, h, prev_close, prev_v, prev_high = self.rows[inst.key]
            out[inst.key] = {"last": c[k] / 100, "volume": float(v[k]), "change": c[k] / prev_close - 1,
                             "rel_volume": v[k] / max(prev_v[k], 100), "high": max(h[k], prev_high) / 100,
                             "cap": inst.market_cap, "etf": inst.stock_type == "ETF", "primary": inst.primary}
        return out


def expected(numbers, key, descending, rows, keep=lambda n: True):
    names = [s for s, n in numbers.items() if keep(n)]
    names.sort(key=lambda s: (-numbers[s][key] if descending else numbers[s][key], s))
    return names[:rows]


def symbols(data) -> list[str]:
    return [d.contractDetails.contract.symbol for d in sorted(data, key=lambda d: d.rank)]


def sub(code, rows=10, **kw) -> ScannerSubscription:
    return ScannerSubscription(numberOfRows=rows, instrument="STK", locationCode="STK.US.MAJOR", scanCode=code, **kw)


async def test_scan_rows_match_the_markets_own_numbers_filters_and_refreshes(client_id):
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=START, pacing="off") as gw, \
            connect(gw, client_id) as ib:
        requests = {
            "gain": sub("TOP_PERC_GAIN"),
            "lose": sub("TOP_PERC_LOSE", 5),
            "active": sub("MOST_ACTIVE", 8),
            "hot": sub("HOT_BY_VOLUME"),
            "high": sub("HIGH_VS_13W_HI", 5),
            "gain_filtered": sub("TOP_PERC_GAIN", 10, abovePrice=50.0, belowPrice=300.0, aboveVolume=200_000,
                                 marketCapAbove=20e9),
            "etf_active": sub("MOST_ACTIVE", 5, stockTypeFilter="ETF"),
        }
        lists = {name: ib.reqScannerSubscription(s) for name, s in requests.items()}
        lists["nyse_gain"] = ib.reqScannerSubscription(
            ScannerSubscription(numberOfRows=6, instrument="STK", locationCode="STK.NYSE", scanCode="TOP_PERC_GAIN"),
            [], [TagValue("changePercAbove", "0.5"), TagValue("priceBelow", "200")])
        assert gw.now() < START.replace(second=30), "requests sent too late for the first boundary"
        answers: dict[str, list[list[str]]] = {name: [] for name in lists}
        for name, x in lists.items():     # the list itself is refreshed in place: keep every answer
            x.updateEvent += lambda data, name=name: answers[name].append(symbols(data))
        await wait_until(ib, lambda: all(answers.values()), timeout=240, what="first scans")
        first = {name: got[0] for name, got in answers.items()}

        boundary = START.replace(second=0)
        truth = Truth(gw, START.date())
        n = truth.at(boundary)
        assert first["gain"] == expected(n, "change", True, 10, lambda x: x["change"] > 0)
        assert first["lose"] == expected(n, "change", False, 5, lambda x: x["change"] < 0)
        assert first["active"] == expected(n, "volume", True, 8)
        assert first["hot"] == expected(n, "rel_volume", True, 10)
        assert first["gain_filtered"] == expected(
            n, "change", True, 10, lambda x: x["change"] > 0 and 50 <= x["last"] <= 300 and x["volume"] >= 200_000
            and x["cap"] >= 20e9)
        assert first["gain_filtered"] != first["gain"][:len(first["gain_filtered"])]     # the filters did bite
        assert first["etf_active"] == expected(n, "volume", True, 5, lambda x: x["etf"])
        assert first["nyse_gain"] == expected(n, "change", True, 6, lambda x: x["primary"] == "NYSE" and
                                              x["change"] > 0.005 and x["last"] <= 200)
        # 13-week high: the 65 sessions' opens come from the market's level curve (one number per session)
        d, ratios = START.date(), {}
        for s in first["high"]:
            opens, day = [], d
            while len(opens) < 65:
                day -= timedelta(days=1)
                if gw.market.day("SPY", day) is not None:
                    opens.append(gw.market.day_open(s, day) / 100)
            ratios[s] = n[s]["last"] / max(max(opens), n[s]["high"])
        assert list(ratios.values()) == sorted(ratios.values(), reverse=True)

        # refreshes while subscribed: the next answers are as of later 30-second boundaries
        seen = answers["active"]
        await wait_until(ib, lambda: len(seen) >= 3, timeout=120, what="two refreshes")
        last = gw.now()
        candidates = []
        b = boundary + timedelta(seconds=30)
        while b <= last:
            candidates.append(expected(truth.at(b), "volume", True, 8))
            b += timedelta(seconds=30)
        assert seen[1] in candidates and seen[2] in candidates
        for lst in lists.values():
            ib.cancelScannerSubscription(lst)
        await wait_until(ib, lambda: not gw.scanner.subs, what="subscriptions cancelled")


async def test_parameters_xml_lists_what_clients_read(gateway, ib):
    root = ET.fromstring(await ib.reqScannerParametersAsync())
    codes = [e.text for e in root.findall(".//scanCode")]
    assert {"TOP_PERC_GAIN", "TOP_PERC_LOSE", "MOST_ACTIVE", "HOT_BY_VOLUME", "HIGH_VS_13W_HI"} <= set(codes)
    assert "STK.US.MAJOR" in [e.text for e in root.findall(".//locationCode")]
    assert [e.text for e in root.findall(".//Instrument/type")] == ["STK"]
    assert "priceAbove" in [e.text for e in root.findall(".//AbstractField/code")]


async def test_bad_scans_answer_error_321_and_the_connection_lives(gateway, ib):
    errors = collect_errors(ib)
    bad = [sub("NOT_A_SCAN"), ScannerSubscription(numberOfRows=5, instrument="FUT", locationCode="STK.US.MAJOR",
                                                  scanCode="MOST_ACTIVE"),
           ScannerSubscription(numberOfRows=5, instrument="STK", locationCode="MARS", scanCode="MOST_ACTIVE")]
    lists = [ib.reqScannerSubscription(s) for s in bad]
    lists.append(ib.reqScannerSubscription(sub("MOST_ACTIVE"), [], [TagValue("shoeSizeAbove", "3")]))
    await wait_until(ib, lambda: len(errors) >= 4, what="four errors")
    assert [(e[0], e[1]) for e in errors] == [(x.reqId, 321) for x in lists]
    assert "unknown scan code 'NOT_A_SCAN'" in errors[0][2] and "shoeSizeAbove" in errors[3][2]
    assert await ib.reqCurrentTimeAsync()               # still connected and answering
