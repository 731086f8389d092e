"""Opt-in: let notebook cells call the *sync* ib_insync methods (``ib.reqCurrentTime()``, ``ib.sleep()``, ...).

The kernel already runs an asyncio loop, and a sync IB method wants to run that same loop until its answer arrives,
which asyncio forbids unless the loop is patched to be re-entrant. breakout_kit itself never needs this (it only uses
``await``); it is the user's choice. ``nest_asyncio2`` is used because plain ``nest_asyncio`` 1.6 breaks "Run All"
on ipykernel 7 (``RuntimeError: cannot enter context``).
"""

from __future__ import annotations

import asyncio

_enabled = False


def enable_sync_calls() -> bool:
    """Patch the running (kernel) loop so blocking ib_insync calls work in cells. Idempotent.

    Returns True if this call applied the patch, False if it was already on. Call it from a notebook cell, once.
    """
    global _enabled
    if _enabled:
        return False
    import nest_asyncio2

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None  # a plain script: patch the default loop (nest_asyncio2 picks it)
    nest_asyncio2.apply(loop)
    _enabled = True
    return True


def sync_calls_enabled() -> bool:
    """True once enable_sync_calls() has been applied in this process."""
    return _enabled
