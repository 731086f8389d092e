"""``breakout-kit bench``: benchmarks through public APIs (``main`` in ``breakout_kit.bench.main``)."""
