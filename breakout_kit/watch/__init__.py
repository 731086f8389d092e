"""Live logic on the running loop, no UI: ``BreakoutWatcher`` and ``Watchlist`` (a set of watchers)."""
