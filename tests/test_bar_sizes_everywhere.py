"""One bar-size vocabulary behind every front end: the CLI, the panel, the watcher and ingest accept the same
spellings and refuse with the same one-line message (architecture.md: core/bars.py is its one home)."""

from __future__ import annotations

import pytest

from breakout_kit import BreakoutWatcher, ControlPanel, ingest
from breakout_kit.cli.commands import Console


class _Client:
    """Knows every symbol; enough for the CLI's breakout command (watchers here never reach it)."""

    trading = False

    async def qualify(self, symbol):
        return symbol


class _Watcher(BreakoutWatcher):
    def start(self):           # validate like the real watcher, but no task: nothing to connect to
        return None


async def _cli(text: str) -> str:
    session = Console(_Client(), out=lambda _line: None, watcher_factory=_Watcher)
    try:
        return (await session.execute(f"breakout AAPL bar={text!r}")).text
    finally:
        await session.aclose()


def _message(make) -> str:
    with pytest.raises(ValueError) as err:
        make()
    return str(err.value)


@pytest.mark.parametrize("text", ["7m", "1s", "1w", "2 hours"])
async def test_refused_sizes_say_the_same_everywhere(text, tmp_path):
    expected = _message(lambda: BreakoutWatcher(object(), "AAPL", bar_size=text))
    assert (await _cli(text)) == f"error: {expected}"
    assert _message(lambda: ControlPanel(None, bar_size=text)) == expected
    if text == "7m":      # not an IB size at all: history refuses it too, with the same words
        with pytest.raises(ValueError) as err:
            await ingest(object(), ["AAPL"], bar_size=text, dest=tmp_path, progress=False)
        assert str(err.value) == expected


@pytest.mark.parametrize("text,ib", [("5m", "5 mins"), ("5 mins", "5 mins"), ("30s", "30 secs"), ("1h", "1 hour")])
async def test_accepted_sizes_mean_the_same_everywhere(text, ib):
    assert BreakoutWatcher(object(), "AAPL", bar_size=text).bar_size == ib
    assert f"on {ib} bars" in await _cli(text)
    assert ControlPanel(None, bar_size=text).bar_size.value == ib
