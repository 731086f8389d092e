"""Pure research core: bars, the breakout rule and detector, the vectorized scan and the backtest.

No I/O, no asyncio, no IB library, no UI: bars in, signals and trades out.
"""
