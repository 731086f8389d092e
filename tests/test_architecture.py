"""The layout of architecture.md v2, checked over the package source (AST), like the async-purity test.

- Layers import one way only: core <- client <- watch <- cli, notebook <- bench; gateway imports only itself and
  core; connection.py joins client and gateway.
- core/ imports numpy/pandas and itself only (a method may import ``breakout_kit.notebook.plots``, plotly or tqdm
  lazily, as pandas' ``.plot()`` does).
- Nothing outside client/ imports ib_insync / ib_async / eventkit or the client's ``iblib``, or reaches through
  ``.ib``.
- No edge hides from these checks: ``importlib.import_module`` / ``__import__`` are allowed only where the module
  is chosen at run time by design (the card's lazy names, iblib's choice of IB library); anywhere else a dynamic
  import is an offence (architecture.md v2.1, "Dependency rules": sanctioned exceptions are plain lazy imports).
- The card: ``from breakout_kit import *`` gives exactly the names of architecture.md's card, and
  ``import breakout_kit`` pulls in no ipywidgets, plotly, IB library (nor even pandas).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "breakout_kit"

# layer -> the breakout_kit layers it may import (itself always allowed)
ALLOWED = {
    "core": set(),
    "client": {"core"},
    "watch": {"core", "client"},
    "connect": {"core", "client", "gateway"},
    "cli": {"core", "client", "watch", "connect"},
    "notebook": {"core", "client", "watch", "connect"},
    "research": {"core"},
    "bench": {"core", "client", "watch", "connect", "cli", "notebook", "gateway", "research"},
    "gateway": {"core"},
}
ALLOWED[""] = set(ALLOWED)       # breakout_kit/__init__.py: the card (lazily, by name; eagerly only for type checkers)
# exchange_calendars: a pure computation library (the NYSE calendar, core/calendar.py), like pandas
THIRD_PARTY_CORE = {"numpy", "pandas", "exchange_calendars"}
LAZY_IN_CORE = {"plotly", "tqdm", "breakout_kit.notebook.plots"}
IB_LIBRARIES = {"ib_insync", "ib_async", "eventkit"}
CARD = ["Bar", "BreakoutRule", "Signal", "BreakoutDetector", "scan", "backtest", "backtest_many", "BacktestResult",
        "IBClient", "ingest", "load", "BreakoutWatcher", "TradeSpec", "Watchlist", "connect", "ControlPanel",
        "LiveChart", "Dashboard", "PaperGateway"]


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    if len(rel) == 1:
        return "connect" if rel[0] == "connection.py" else ""
    return rel[0]


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, absolute module, top-level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level + (1 if path.name == "__init__.py" else 0) or None]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out += [(node.lineno, f"{module}.{a.name}" if f"{module}.{a.name}" in LAZY_IN_CORE else module,
                     id(node) in top) for a in node.names[:1]]
    return out


# file (relative to the package) -> why it may import by computed name
DYNAMIC_IMPORTS_ALLOWED = {
    "__init__.py": "the card: PEP 562 lazy names, any layer",
    "client/iblib.py": "ib_insync or ib_async, chosen by BREAKOUT_KIT_IB",
}


def dynamic_imports(path: Path) -> list[int]:
    """Lines of ``importlib.import_module(...)``, ``import_module(...)`` and ``__import__(...)`` calls."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                hits.append(node.lineno)
    return hits


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_offences(path: Path) -> list[str]:
    layer = layer_of(path)
    where = path.relative_to(ROOT)
    found = []
    if str(path.relative_to(PACKAGE)) not in DYNAMIC_IMPORTS_ALLOWED:
        found += [f"{where}:{line} imports by computed name (hidden edge: write a plain import)"
                  for line in dynamic_imports(path)]
    for line, module, top_level in imports(path):
        parts = module.split(".")
        if parts[0] in IB_LIBRARIES and layer != "client":
            found.append(f"{where}:{line} imports {module} (only client/ may)")
        if parts[0] != "breakout_kit":
            if layer == "core" and parts[0] not in THIRD_PARTY_CORE and parts[0] in _THIRD_PARTY \
                    and (top_level or parts[0] not in LAZY_IN_CORE):
                found.append(f"{where}:{line} core imports {module}")
            continue
        target = "connect" if parts[1:2] == ["connection"] else (parts[1] if len(parts) > 1 else "")
        if module == "breakout_kit.client.iblib" and layer != "client":
            found.append(f"{where}:{line} imports client.iblib (use IBClient / client.events)")
        if target in ("", layer):
            continue
        if layer in ("core", "cli") and module == "breakout_kit.notebook.plots" and not top_level:
            continue  # the one breakout figure, imported inside .plot() / the demo's --html writer
        if layer == "cli" and module == "breakout_kit.bench.main" and not top_level:
            continue  # `breakout-kit bench` dispatches to bench.main (sanctioned, lazy)
        if layer == "core" and module in LAZY_IN_CORE and not top_level:
            continue
        if target not in ALLOWED.get(layer, set()):
            found.append(f"{where}:{line} {layer or 'breakout_kit'} imports {module}")
    return found


# third-party top-level names seen in the package (the stdlib is always fine); computed once
_THIRD_PARTY = {name for name in {"numpy", "pandas", "plotly", "ipywidgets", "anywidget", "tqdm", "pyarrow",
                                  "prompt_toolkit", "psutil", "dask", "distributed", "IPython", "nest_asyncio",
                                  "nest_asyncio2", "exchange_calendars", "pandas_market_calendars", "vectorbt",
                                  *IB_LIBRARIES}}


def test_layers_import_one_way_only():
    offenders = [hit for p in sources() for hit in layer_offences(p)]
    assert offenders == []


def test_nothing_outside_client_reaches_through_dot_ib():
    offenders = []
    for path in sources():
        if layer_of(path) == "client":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "ib":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "ask IBClient for it instead"


def test_the_checks_catch_offenders(tmp_path, monkeypatch):
    fake = tmp_path / "breakout_kit"
    (fake / "watch").mkdir(parents=True)
    (fake / "core").mkdir()
    (fake / "watch" / "w.py").write_text("import ipywidgets\nfrom breakout_kit.notebook import chart\n"
                                         "from breakout_kit.client.iblib import IB\nimport ib_insync\n")
    (fake / "core" / "c.py").write_text("import socket\nimport plotly\nfrom breakout_kit.client import x\n"
                                        "def plot():\n    import plotly\n    from breakout_kit.notebook import plots\n"
                                        "import importlib\nm = importlib.import_module('breakout_kit.cli')\n"
                                        "n = __import__('breakout_kit.watch')\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    hits = layer_offences(fake / "watch" / "w.py")
    assert [h.split(" ", 1)[0].rsplit(":", 1)[1] for h in hits] == ["2", "3", "4"]
    assert any("ib_insync" in h for h in hits) and any("notebook" in h for h in hits)
    hits = layer_offences(fake / "core" / "c.py")
    assert sorted(int(h.split(" ", 1)[0].rsplit(":", 1)[1]) for h in hits) == [2, 3, 8, 9]
    assert sum("computed name" in h for h in hits) == 2


def test_the_card_is_the_architecture_card():
    import breakout_kit

    assert set(CARD) <= set(breakout_kit.__all__)       # later additions join the card (and docs/api.md)
    namespace: dict = {}
    exec("from breakout_kit import *", namespace)  # noqa: S102  (what a notebook cell does)
    missing = [n for n in CARD if n not in namespace]
    assert missing == []
    assert all(namespace[n] is getattr(breakout_kit, n) for n in breakout_kit.__all__)
    with pytest.raises(AttributeError, match="no attribute 'NotAName'"):
        breakout_kit.NotAName  # noqa: B018


def test_card_names_are_documented_in_api_md():
    import breakout_kit

    api = (ROOT / "docs" / "api.md").read_text()
    undocumented = [n for n in breakout_kit.__all__ if f"`{n}" not in api]
    assert undocumented == []


def test_import_breakout_kit_is_light():
    code = ("import sys; before = set(sys.modules); import breakout_kit; "
            "print(' '.join(sorted(m.split('.')[0] for m in set(sys.modules) - before)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    heavy = {"ipywidgets", "plotly", "ib_insync", "ib_async", "eventkit", "pandas", "numpy", "anywidget"}
    assert loaded & heavy == set()
    assert "breakout_kit" in loaded


def test_card_names_survive_their_modules_being_imported():
    """A submodule named like a card name would replace it on the package once imported (``import a.b`` sets
    ``a.b``): after every module is imported, each card name must still be the function/class, not a module."""
    code = ("import importlib, pkgutil, types, breakout_kit\n"
            "for m in pkgutil.walk_packages(breakout_kit.__path__, 'breakout_kit.'):\n"
            "    if '.bench' not in m.name and not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "ns = {}\nexec('from breakout_kit import *', ns)\n"
            "print([n for n in breakout_kit.__all__ if isinstance(ns[n], types.ModuleType)])")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


# ---- inside the gateway: sim/ (the simulated world) never reaches wire/ (the protocol); neither reaches the ------
# ---- joining modules (server.py, faults.py) that import both --------------------------------------------------------
GATEWAY = "breakout_kit.gateway"
#: the gateway's joining modules (they import both halves): sim may name them in annotations only
GATEWAY_ROOTS = {f"{GATEWAY}.server", f"{GATEWAY}.faults", f"{GATEWAY}.__main__", GATEWAY}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers of imports inside ``if TYPE_CHECKING:`` blocks (annotations only, no runtime edge)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)
                      if isinstance(n, ast.ImportFrom | ast.Import)}
    return lines


def sim_offences(path: Path) -> list[str]:
    """Imports in a gateway/sim or gateway/wire module of the gateway's joining modules (server, faults; at run
    time), and, for sim, of wire/ (ever)."""
    in_wire = "wire" in path.relative_to(ROOT).parts
    where = path.relative_to(ROOT)
    tree = ast.parse(path.read_text(), str(path))
    annotations_only = _type_checking_lines(tree)
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level + (1 if path.name == "__init__.py" else 0) or None]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from .. import wire`` names the module in the alias; ``from ..wire.x import y`` in the module
            targets = [f"{module}.{a.name}" for a in node.names] if module == GATEWAY else [module]
        else:
            continue
        for target in targets:
            if not in_wire and (target == f"{GATEWAY}.wire" or target.startswith(f"{GATEWAY}.wire.")):
                found.append(f"{where}:{node.lineno} sim imports {target} (give sim an outbound interface instead)")
            elif target in GATEWAY_ROOTS and node.lineno not in annotations_only:
                found.append(f"{where}:{node.lineno} imports {target} at run time")
    return found


def test_gateway_sim_never_imports_wire():
    sim = sorted((PACKAGE / "gateway" / "sim").rglob("*.py"))
    assert sim, "gateway/sim/ is missing"
    assert [hit for p in sim for hit in sim_offences(p)] == []


def test_gateway_wire_imports_only_sim_and_itself():
    wire = sorted((PACKAGE / "gateway" / "wire").rglob("*.py"))
    assert wire, "gateway/wire/ is missing"
    assert [hit for p in wire for hit in sim_offences(p)] == []


def test_the_sim_check_catches_offenders(tmp_path, monkeypatch):
    sim = tmp_path / "breakout_kit" / "gateway" / "sim"
    sim.mkdir(parents=True)
    (sim / "x.py").write_text("from typing import TYPE_CHECKING\nfrom ..wire.session import Session\n"
                              "from ..wire import protocol\nimport breakout_kit.gateway.wire.requests\n"
                              "from .. import server\nfrom .clock import NEW_YORK\n"
                              "if TYPE_CHECKING:\n    from ..server import PaperGateway\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    hits = sim_offences(sim / "x.py")
    assert sorted({int(h.split(" ", 1)[0].rsplit(":", 1)[1]) for h in hits}) == [2, 3, 4, 5]
    wire = tmp_path / "breakout_kit" / "gateway" / "wire"
    wire.mkdir()
    (wire / "y.py").write_text("from ..sim.clock import NEW_YORK\nfrom .protocol import Fields\n"
                               "from ..faults import FARMS\n")
    assert [h.split(" ", 1)[0].rsplit(":", 1)[1] for h in sim_offences(wire / "y.py")] == ["3"]
