"""Checks that keep the docs true: run a page's ``python`` blocks, and compare documented signatures with the code.

- ``python_blocks(text)``: the fenced ```` ```python ```` blocks of a Markdown page, with the line each starts on.
- ``run_blocks(blocks, namespace, where)``: run them in order in one namespace, each with top-level ``await`` as a
  notebook cell allows; an exception names the page and line of the block that raised.
- ``documented_signatures(text)``: every bullet of the form ``- `name(params)` `` (wrapped lines joined).
- ``signature_drift(name, params, obj)``: what differs between the written parameter list and ``inspect.signature``
  of the real object; ``...`` in the written list stands for parameters left out there.
"""

from __future__ import annotations

import ast
import inspect
import re
import warnings
from dataclasses import dataclass

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BULLET_SIGNATURE = re.compile(r"^- `([A-Za-z_][\w.]*)\(([^`]*)\)`", re.M)
MORE = "__more__"


@dataclass(frozen=True)
class Block:
    line: int
    source: str


def python_blocks(text: str) -> list[Block]:
    return [Block(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


async def run_blocks(blocks: list[Block], namespace: dict, where: str) -> None:
    for block in blocks:
        # Line numbers in tracebacks point into the page: pad the block to where it starts.
        code = compile("\n" * (block.line - 1) + block.source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)  # e.g. a sweep whose symbols all failed
                result = eval(code, namespace)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            raise AssertionError(f"{where}:{block.line}: the example raised {type(exc).__name__}: {exc}") from exc


def _joined_bullets(text: str) -> str:
    """Bullets with their indented continuation lines joined into one line each."""
    return re.sub(r"\n {2,}(?=\S)", " ", text)


def documented_signatures(text: str) -> list[tuple[str, str]]:
    return BULLET_SIGNATURE.findall(_joined_bullets(text))


@dataclass(frozen=True)
class Param:
    name: str
    kind: str          # "positional", "keyword", "var_positional", "var_keyword", or MORE
    default: object = inspect.Parameter.empty


def parse_params(params: str) -> list[Param]:
    """``a, b=1, *, c, ..., **kw`` -> Params; ``...`` becomes a MORE marker."""
    marked = re.sub(r"(?<![\w.])\.\.\.(?![\w.])", MORE, params)
    args = ast.parse(f"def f({_as_defs(marked)}): pass").body[0].args
    out: list[Param] = []
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(args.args, defaults, strict=True):
        out.append(_param(a.arg, "positional", d))
    if args.vararg:
        out.append(Param(args.vararg.arg, "var_positional"))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(_param(a.arg, "keyword", d))
    if args.kwarg:
        out.append(Param(args.kwarg.arg, "var_keyword"))
    return out


def _as_defs(params: str) -> str:
    # a written `...` may sit after `*` or among defaults: give each marker a unique name and a default
    count = iter(range(1000))
    return re.sub(MORE, lambda m: f"{MORE}{next(count)}={MORE}", params)


def _param(name: str, kind: str, default: ast.expr | None) -> Param:
    if name.startswith(MORE):
        return Param(MORE, MORE)
    return Param(name, kind, inspect.Parameter.empty if default is None else ast.literal_eval(default))


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


def signature_drift(name: str, params: str, obj: object) -> list[str]:
    """Differences between ``name(params)`` as written and ``obj``'s real signature ([] when they agree)."""
    real = list(inspect.signature(obj).parameters.values())
    if real and real[0].name == "self":
        real = real[1:]
    written = parse_params(params)
    problems = []
    position = 0                                  # index into `real` just after the last matched parameter
    gap_allowed = False
    for p in written:
        if p.kind == MORE:
            gap_allowed = True
            continue
        names = [r.name for r in real]
        if p.name not in names[position:]:
            where = "earlier" if p.name in names else "nowhere"
            problems.append(f"{name}: `{p.name}` is documented but the code has it {where} "
                            f"(real: {inspect.signature(obj)})")
            continue
        index = names.index(p.name, position)
        if index > position and not gap_allowed:
            problems.append(f"{name}: undocumented parameter(s) {names[position:index]} before `{p.name}` "
                            "(write them, or `...`)")
        r = real[index]
        if _KINDS[r.kind] != p.kind:
            problems.append(f"{name}: `{p.name}` is documented {p.kind} but is {_KINDS[r.kind]}")
        if p.kind in ("positional", "keyword"):
            if p.default is inspect.Parameter.empty and r.default is not inspect.Parameter.empty:
                problems.append(f"{name}: `{p.name}` is documented as required but defaults to {r.default!r}")
            elif p.default is not inspect.Parameter.empty and p.default != r.default:
                problems.append(f"{name}: `{p.name}` is documented with default {p.default!r}, the code has "
                                f"{'none' if r.default is inspect.Parameter.empty else repr(r.default)}")
        position = index + 1
        gap_allowed = False
    if position < len(real) and not gap_allowed:
        problems.append(f"{name}: undocumented parameter(s) {[r.name for r in real[position:]]} at the end "
                        "(write them, or `...`)")
    return problems
