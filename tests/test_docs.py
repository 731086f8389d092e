"""The docs run: every ``python`` block of the README and docs/api.md, and every documented signature.

The blocks of one page run in order in one namespace (a notebook session), against the embedded paper gateway that
``connect()`` starts when no ``IB_PORT`` is set; the working directory is a temporary folder (``ingest`` writes
``data/`` there). The signature check reads bullets written ``- `name(params)` `` and compares them with
``inspect.signature`` (see ``tests/doc_examples.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_examples import Block, documented_signatures, python_blocks, run_blocks, signature_drift

import breakout_kit

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "api.md"]


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    for name in ("IB_PORT", "IB_HOST", "IB_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def _close_everything(namespace: dict) -> None:
    """What a page's blocks left open if one raised half-way: watchers, watchlists, clients (and their gateways)."""
    from breakout_kit import BreakoutWatcher, IBClient, Watchlist

    values = list(namespace.values())
    for v in values:
        if isinstance(v, (Watchlist, BreakoutWatcher)):
            await v.aclose()
    for v in values:
        if isinstance(v, IBClient) and v.connected:
            await v.disconnect()


@pytest.mark.ib
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
async def test_every_python_block_runs(page, docs_env):
    blocks = python_blocks(page.read_text())
    assert blocks, f"{page.name} has no python blocks"
    namespace: dict = {"__name__": "__docs__"}
    try:
        await run_blocks(blocks, namespace, str(page.relative_to(ROOT)))
    finally:
        await _close_everything(namespace)


def _resolve(name: str):
    obj = breakout_kit
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_documented_signatures_match_the_code():
    text = (ROOT / "docs" / "api.md").read_text()
    documented = documented_signatures(text)
    names = {n for n, _ in documented}
    # every card name that is callable has a checked signature on the page
    missing = [n for n in breakout_kit.__all__ if callable(getattr(breakout_kit, n)) and n not in names]
    assert missing == []
    drift = [problem for name, params in documented for problem in signature_drift(name, params, _resolve(name))]
    assert drift == []


def test_the_signature_check_catches_drift():
    def f(a, b=1, *, c, d=None, **kw):
        return a

    assert signature_drift("f", "a, b=1, *, c, d=None, **kw", f) == []
    assert signature_drift("f", "a, ..., **kw", f) == []
    problems = signature_drift("f", "a, b=2, *, d=None, c, **kw", f)   # wrong default, keywords swapped
    assert any("default 2" in p for p in problems) and any("`c`" in p and "earlier" in p for p in problems)
    assert signature_drift("f", "a, b=1", f)[0].startswith("f: undocumented parameter(s) ['c', 'd', 'kw']")
    assert "documented positional but is keyword" in signature_drift("f", "a, b=1, c=0, ...", f)[0]
    # the real IBClient: readonly's default is None (read-only unless trading=True), not True
    from breakout_kit import IBClient

    assert any("readonly" in p for p in signature_drift("IBClient", "host=None, *, readonly=True, ...", IBClient))


async def test_a_failing_example_names_its_page_and_line():
    text = "intro\n\n```python\nx = 1\n```\n\ntext\n```python\nawait undefined_name()\n```\n"
    blocks = python_blocks(text)
    assert blocks == [Block(4, "x = 1\n"), Block(9, "await undefined_name()\n")]
    namespace: dict = {}
    with pytest.raises(AssertionError, match=r"page\.md:9: the example raised NameError"):
        await run_blocks(blocks, namespace, "page.md")
    assert namespace["x"] == 1
