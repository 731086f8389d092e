"""Parsing command arguments: ``key=value`` options, symbols, numbers, bar sizes, durations (pure functions)."""

from __future__ import annotations

import math
import re

from breakout_kit.client import symbols
from breakout_kit.client.errors import ContractError
from breakout_kit.core import bars

# Longer input lines are refused before any parsing: shlex is superlinear (a 1 MB line once stalled the loop ~24 s)
MAX_LINE = 4096


class LineTooLong(str):
    """What a reader hands over instead of a line longer than ``MAX_LINE``: its start, and its real ``length``."""

    length: int

    def __new__(cls, head: str, length: int):
        self = super().__new__(cls, head[:40])
        self.length = length
        return self


def too_long(line: str) -> int:
    """The length of ``line`` when it is over ``MAX_LINE`` (or a ``LineTooLong``), else 0."""
    if isinstance(line, LineTooLong):
        return line.length
    return len(line) if len(line) > MAX_LINE else 0


class CommandError(ValueError):
    """Bad input for a command; its message is shown as ``error: <message>``."""



def split_args(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split tokens into positionals and ``key=value`` options (keys lower-cased).

    A bare duration unit right after ``duration=N`` is glued back on, so ``duration=5 D`` works unquoted.
    Repeating a key is an error.
    """
    positional: list[str] = []
    options: dict[str, str] = {}
    last_key = None
    for tok in tokens:
        if tok.lower() == "--force":   # the flag spelling of force=1
            tok = "force=1"
        if "=" in tok:
            key, _, value = tok.partition("=")
            key = key.strip().lower()
            if not key:
                raise CommandError(f"bad option {tok!r} (expected key=value)")
            if key in options:
                raise CommandError(f"option {key!r} given twice")
            options[key] = value.strip()
            last_key = key
        elif last_key == "duration" and re.fullmatch(r"[SDWMYsdwmy]", tok) and options["duration"].isdigit():
            options["duration"] += " " + tok
            last_key = None
        else:
            positional.append(tok)
            last_key = None
    return positional, options


def parse_symbol(text: str) -> str:
    """An upper-cased symbol in the kit's one grammar (``client/symbols.py``): ``AAPL``, ``BRK.B`` or IB's
    ``BRK B``, ``EURUSD``, ``/ES``, ``ESZ6``, ``"ES 202612"``, ``SPX``; anything else is a CommandError."""
    sym = " ".join(text.upper().split())
    try:
        symbols.parse_symbol(sym)
    except ContractError as e:
        raise CommandError(f"bad symbol {text!r}: {e}") from None
    return sym


def parse_float(name: str, text: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = True) -> float:
    """A finite float for option ``name`` within (low, high); a CommandError names the option otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise CommandError(f"{name} must be a finite number, got {text!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise CommandError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {text}")
    if high is not None and value >= high:
        raise CommandError(f"{name} must be < {high:g}, got {text}")
    return value


def parse_int(name: str, text: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer for option ``name`` in [low, high]."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise CommandError(f"{name} must be {bound}, got {value}")
    return value


_YES, _NO = ("1", "yes", "y", "true", "on"), ("0", "no", "n", "false", "off")


def parse_flag(name: str, text: str) -> bool:
    """``force=1`` / ``short=yes`` ... -> True; ``0`` / ``no`` -> False."""
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise CommandError(f"{name} must be 1 or 0, got {text!r}")


def parse_bar_size(text: str, *, live: bool = False) -> str:
    """``5m`` / ``30s`` / ``1h`` / ``1d`` / ``5 mins`` -> IB's barSizeSetting (``live``: one a watcher can build)."""
    try:
        return bars.live_bar_size(text) if live else bars.bar_size(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_duration(text: str) -> str:
    """``5 D`` / ``5D`` / ``2w`` -> IB durationStr ``5 D``."""
    try:
        return bars.duration(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
