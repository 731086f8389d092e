"""iblib picks the IB client library: BREAKOUT_KIT_IB is honoured, bad values fail with one clear ImportError, and
no other module of the package or the tests imports ib_insync / ib_async / eventkit behind its back."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from breakout_kit.client import iblib

PACKAGE = Path(iblib.__file__).parents[1]          # breakout_kit/
ROOT = PACKAGE.parent
OTHER = next(n for n in iblib.CHOICES if n != iblib.NAME)


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _import_in_child(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != iblib.ENV}
    if value is not None:
        env[iblib.ENV] = value
    code = "from breakout_kit.client import iblib; print(iblib.NAME, iblib.IB.__module__)"
    return subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=60)


def test_env_var_is_honoured_at_import():
    done = _import_in_child(iblib.NAME)
    assert done.returncode == 0, done.stderr
    name, ib_module = done.stdout.split()
    assert name == iblib.NAME and ib_module.startswith(iblib.NAME + ".")


def test_unset_env_uses_the_installed_library():
    done = _import_in_child(None)
    assert done.returncode == 0, done.stderr
    expected = "ib_insync" if _installed("ib_insync") else "ib_async"       # ib_insync first when both are there
    assert done.stdout.split()[0] == expected


@pytest.mark.parametrize("value", ["ib-insync", "IB_ASYNC", "ibapi", "ib_insync,ib_async"])
def test_bad_value_is_one_clear_import_error(value):
    with pytest.raises(ImportError, match=r"^BREAKOUT_KIT_IB='.*' is not one of ib_insync, ib_async$"):
        iblib.choose(value)
    done = _import_in_child(value)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"ImportError: BREAKOUT_KIT_IB={value!r} is not one of ib_insync, ib_async")


def test_blank_value_means_unset():
    assert iblib.choose("  ") is iblib.choose(None)


@pytest.mark.skipif(_installed(OTHER), reason=f"{OTHER} is installed here too")
def test_naming_a_library_that_is_not_installed_says_so():
    with pytest.raises(ImportError, match=rf"^BREAKOUT_KIT_IB={OTHER} but {OTHER} is not installed"):
        iblib.choose(OTHER)


def test_no_library_at_all(monkeypatch):
    def missing(name, *a):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    monkeypatch.setattr(iblib.importlib, "import_module", missing)
    with pytest.raises(ImportError, match="^breakout_kit needs ib_insync or ib_async: pip install"):
        iblib.choose(None)


def test_missing_eventkit_says_how_to_repair(monkeypatch):
    def no_eventkit(name, *a):
        raise ModuleNotFoundError("No module named 'eventkit'", name="eventkit")
    monkeypatch.setattr(iblib.importlib, "import_module", no_eventkit)
    for wanted in (iblib.NAME, None):
        first = iblib.NAME if wanted else iblib.CHOICES[0]
        with pytest.raises(ImportError, match=rf"^{first} is installed but its module eventkit is missing: "
                                              rf"pip install --force-reinstall {first}$"):
            iblib.choose(wanted)


def test_a_broken_library_is_not_mistaken_for_a_missing_one(monkeypatch):
    def broken(name, *a):
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")
    monkeypatch.setattr(iblib.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        iblib.choose(iblib.NAME)
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        iblib.choose(None)


def test_names_come_from_the_chosen_library():
    assert iblib.lib is sys.modules[iblib.NAME] and iblib.VERSION
    for name in ("IB", "Contract", "Stock", "Order", "LimitOrder", "MarketOrder", "StopOrder", "Trade", "BarData",
                 "RealTimeBar", "RequestError"):
        assert getattr(iblib, name).__module__.split(".")[0] == iblib.NAME, name
    # the event class is the one the library fires its events with (ib_async ships it as 'aeventkit')
    assert isinstance(iblib.IB().updateEvent, iblib.Event)


def _direct_imports(source: str, where: str) -> list[str]:
    """``where:line module`` for every absolute import of ib_insync / ib_async / eventkit in ``source``."""
    banned = {"ib_insync", "ib_async", "eventkit"}
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{where}:{node.lineno} {n}" for n in names if n.split(".")[0] in banned]
    return found


def test_only_iblib_imports_the_client_library():
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    offenders = [hit for p in sorted(files) if p != PACKAGE / "client" / "iblib.py"
                 for hit in _direct_imports(p.read_text(), str(p.relative_to(ROOT)))]
    assert offenders == [], "import these names from breakout_kit.client.iblib instead"


def test_the_import_check_catches_offenders():
    src = ("import ib_insync\nfrom eventkit import Event\nimport os, ib_async.util\n"
           "from .iblib import IB\nfrom eventkitten import x\n\ndef f():\n    import eventkit.util\n")
    assert _direct_imports(src, "m.py") == ["m.py:1 ib_insync", "m.py:2 eventkit", "m.py:3 ib_async.util",
                                            "m.py:8 eventkit.util"]


def test_install_recipe_uses_the_declared_extra():
    # the README recipe and CI build the ib_async venv from this extra; a renamed extra would install nothing
    # (pip only warns "does not provide the extra") and CI would test ib_insync twice
    import tomllib
    root = ROOT
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [r.split(">")[0] for r in extras["ib-async"]] == ["ib_async"]
    for doc in ("README.md", ".ci/run"):
        text = (root / doc).read_text()
        assert '-e ".[dev,ib-async]"' in text and "pip uninstall -q -y ib_insync eventkit" in text, doc
    assert "BREAKOUT_KIT_IB=ib_async" in (root / ".ci/run").read_text()


@pytest.mark.ib
def test_an_ib_error_prints_once_in_the_kits_words(tmp_path):
    """No logging configured (a notebook, a script): the kit's error says it, the library prints no raw copy."""
    script = tmp_path / "unknown_symbol.py"
    script.write_text(
        "import asyncio\n"
        "from breakout_kit import connect\n"
        "async def main():\n"
        "    client = await connect(say=lambda _line: None)\n"
        "    try:\n"
        "        await client.qualify('ZZZZ')\n"
        "    except Exception as exc:\n"
        "        print('kit:', exc)\n"
        "    finally:\n"
        "        await client.disconnect()\n"
        "asyncio.run(main())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IB_")}
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("kit: ") and "ZZZZ" in done.stdout
    assert "Error 200" not in done.stderr and "ZZZZ" not in done.stderr, done.stderr
