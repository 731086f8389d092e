"""The async path never blocks the loop: scan breakout_kit's source (AST) for calls that would.

Forbidden: ``IB.run`` / ``ib.run``, ``ib.sleep``, ``util.run``, ``util.startLoop``, ``time.sleep``, bare
``input(...)``, and the sync twin of every ``*Async`` IB method (``qualifyContracts`` next to
``qualifyContractsAsync`` ...). The twin list is derived from the IB class itself, so new ones are caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from breakout_kit.client.iblib import IB

PACKAGE = Path(__file__).resolve().parents[1] / "breakout_kit"

SYNC_TWINS = frozenset(
    name[: -len("Async")] for name in dir(IB)
    if name.endswith("Async") and hasattr(IB, name[: -len("Async")])
)
# ib_insync's IB.connect is the sync twin of connectAsync; our own IBClient.connect is async, so `.connect(` on
# anything but an IB instance is fine. We flag attribute calls on names that look like an IB instance.
IB_NAMES = {"ib", "IB", "_ib", "self.ib", "client.ib", "self.client.ib", "self._ib"}
ALWAYS = {("IB", "run"), ("util", "run"), ("util", "startLoop"), ("time", "sleep"), ("asyncio", "run_until_complete")}


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for Name/Attribute chains, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def offences(source: str, filename: str = "<src>") -> list[str]:
    """Every forbidden call in ``source`` as 'file:line: text'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{filename}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id == "input":
            found.append(f"{where}: bare input() blocks the loop (use asyncio.to_thread or prompt_async)")
            continue
        if not isinstance(func, ast.Attribute):
            continue
        owner, attr = dotted(func.value), func.attr
        if (owner.split(".")[-1], attr) in ALWAYS or (owner, attr) in ALWAYS:
            found.append(f"{where}: {owner}.{attr}() blocks or nests the event loop")
        elif owner in IB_NAMES or owner.endswith(".ib"):
            if attr in ("run", "sleep", "waitOnUpdate", "loopUntil"):
                found.append(f"{where}: {owner}.{attr}() runs the loop synchronously")
            elif attr in SYNC_TWINS:
                found.append(f"{where}: {owner}.{attr}() is the sync twin of {attr}Async")
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_twin_list_is_derived_from_the_client_library():
    assert {"qualifyContracts", "reqHistoricalData", "connect", "reqPositions", "accountSummary",
            "reqMatchingSymbols", "reqTickers", "whatIfOrder", "reqContractDetails"} <= SYNC_TWINS


@pytest.mark.parametrize("snippet, what", [
    ("ib.qualifyContracts(c)", "sync twin"),
    ("self.ib.reqHistoricalData(c, '', '1 D', '1 min', 'TRADES', False)", "sync twin"),
    ("client.ib.connect('127.0.0.1', 7497, 1)", "sync twin"),
    ("ib.sleep(1)", "synchronously"),
    ("IB.run()", "blocks"),
    ("util.run(main())", "blocks"),
    ("util.startLoop()", "blocks"),
    ("time.sleep(0.1)", "blocks"),
    ("line = input('> ')", "bare input"),
])
def test_checker_catches_each_forbidden_call(snippet, what):
    found = offences(snippet)
    assert len(found) == 1 and what in found[0]


@pytest.mark.parametrize("snippet", [
    "await ib.qualifyContractsAsync(c)",
    "await client.connect()",
    "await asyncio.to_thread(input, '> ')",
    "await asyncio.sleep(0.5)",
    "ib.reqRealTimeBars(c, 5, 'TRADES', False)",   # a subscription request, not a blocking call
])
def test_checker_allows_async_forms(snippet):
    assert offences(f"async def f():\n    {snippet}\n") == []


def test_package_has_no_blocking_calls():
    files = package_files()
    assert len(files) > 20
    found = []
    for path in files:
        found += offences(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert found == [], "\n".join(found)
