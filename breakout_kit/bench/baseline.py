"""A straightforward pandas implementation of the breakout scan, used as the benchmark baseline.

Same semantics as :func:`breakout_kit.core.breakout.scan` (and tested to give identical signals), written the obvious
way: ``rolling().max()/min()/sum()`` shifted by one bar, boolean Series for the conditions, and ``groupby`` over
breakout runs for the arming rule. It exists so ``bench`` can report how much the numpy scan gains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breakout_kit.core.breakout import BreakoutRule, frame_arrays


def scan_pandas_baseline(df: pd.DataFrame, rule: BreakoutRule | None = None) -> pd.DataFrame:
    """Signals of ``rule`` in ``df`` as a DataFrame[time, direction, level, price], computed with pandas rolling."""
    rule = BreakoutRule() if rule is None else rule
    times, o, h, lo, c, v = frame_arrays(df)
    bars = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v})
    L = rule.lookback
    if rule.min_rel_volume > 0:
        vol = bars["volume"].where(bars["volume"] >= 0, 0.0)
        # same float operations as the detector: a difference of running totals
        cum = vol.cumsum()
        window_sum = cum.shift(1) - cum.shift(L + 1).fillna(0.0)
        vol_ok = (bars["volume"] >= 0) & (bars["volume"] * L >= rule.min_rel_volume * window_sum)
    else:
        vol_ok = pd.Series(True, index=bars.index)
    frames = []
    for direction in ("up", "down"):
        if rule.direction not in (direction, "both"):
            continue
        if direction == "up":
            level = bars["high"].rolling(L).max().shift(1)
        else:
            level = bars["low"].rolling(L).min().shift(1)
        if direction == "up":
            hit = (bars["close"] if rule.trigger == "close" else bars["high"]) > level
        else:
            hit = (bars["close"] if rule.trigger == "close" else bars["low"]) < level
        run = (hit & ~hit.shift(1, fill_value=False)).cumsum()
        fired = (hit & vol_ok)[hit & vol_ok]
        first = fired.groupby(run[fired.index]).head(1).index
        if rule.trigger == "close":
            price = bars["close"][first]
        elif direction == "up":
            price = np.maximum(bars["open"][first], level[first])
        else:
            price = np.minimum(bars["open"][first], level[first])
        frames.append(pd.DataFrame({"row": first, "rank": 0 if direction == "up" else 1,
                                    "direction": direction, "level": level[first].to_numpy(),
                                    "price": np.asarray(price, dtype=float)}))
    if not frames:
        frames.append(pd.DataFrame(columns=["row", "rank", "direction", "level", "price"]))
    out = pd.concat(frames, ignore_index=True).sort_values(["row", "rank"], kind="stable")
    return pd.DataFrame({
        "time": times[out["row"].to_numpy(dtype=np.int64)],
        "direction": out["direction"].to_numpy(dtype=object),
        "level": out["level"].to_numpy(dtype=float),
        "price": out["price"].to_numpy(dtype=float),
    })
