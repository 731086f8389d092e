"""The paper gateway's simulated world: clock, universe, market, history, market data, contracts, orders, fills,
portfolio, scanner, pacing and the state file.

Sim code takes decoded requests and produces messages (field tuples and TWS error codes) for a ``outbound.Client``;
it never frames bytes and never imports ``gateway.wire`` (tests/test_architecture.py checks this).
"""
