"""Checks of a state file's content before anything is loaded: every key present, every value of its type, every
number finite. A problem comes back as one phrase naming where it is (``book.orders[3].cash is NaN``), so the
refusal names the file and what is wrong instead of surfacing later as a KeyError."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

from .order_checks import check_fields
from .order_model import DONE, Execution, Order, Rejected

_LIVE = ("Held", "PreSubmitted", "Submitted")


def _kinds(cls, skip: set[str]) -> dict[str, tuple[str, ...]]:
    # the dataclass annotations are strings ("int | None"): their parts name the JSON kinds a record may carry
    return {f.name: tuple(p.strip() for p in str(f.type).split("|"))
            for f in dataclasses.fields(cls) if f.name not in skip}


ORDER_KINDS = {**_kinds(Order, {"inst", "children", "fields"}), "con_id": ("int",), "fields": ("dict",)}
ORDER_KINDS["expires_at"] = ("float", "None")          # math.inf ("never") is stored as null
EXECUTION_KINDS = {**_kinds(Execution, {"order"}), "order": ("list",)}


class _Bad(ValueError):
    pass


def _is(value, kind: str) -> bool:
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    raise AssertionError(kind)


def _value(where: str, value, *kinds: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"{where} is {value!r} (not a finite number)")
    if not any(_is(value, k) for k in kinds):
        raise _Bad(f"{where} should be {' or '.join(kinds)}, not {type(value).__name__} {str(value)[:40]!r}")


def _get(where: str, obj: dict, key: str, *kinds: str):
    if key not in obj:
        raise _Bad(f"{where}.{key} is missing" if where else f"{key} is missing")
    value = obj[key]
    _value(f"{where}.{key}" if where else key, value, *kinds)
    return value


def _record(where: str, rec, kinds: dict[str, tuple[str, ...]]) -> None:
    _value(where, rec, "dict")
    for key, k in kinds.items():
        _get(where, rec, key, *k)


def _order(where: str, rec) -> None:
    _record(where, rec, ORDER_KINDS)
    if rec["status"] not in (*DONE, *_LIVE):
        raise _Bad(f"{where}.status {rec['status']!r} is not an order status")
    for k, v in rec["fields"].items():
        if not isinstance(v, str):
            raise _Bad(f"{where}.fields.{k} should be str, not {type(v).__name__}")
    try:        # what no client could decode in openOrder (an older gateway stored fields unchecked)
        check_fields(rec["fields"])
    except Rejected as e:
        raise _Bad(f"{where}.fields: {e.message}") from None


def _execution(where: str, rec) -> None:
    _record(where, rec, EXECUTION_KINDS)
    key = rec["order"]
    if len(key) != 2 or not all(_is(x, "int") for x in key):
        raise _Bad(f"{where}.order should be [clientId, orderId]")


def _account(where: str, p: dict) -> None:
    for key in ("cash", "commissions"):
        _get(where, p, key, "float")
    for i, pos in enumerate(_get(where, p, "positions", "list")):
        w = f"{where}.positions[{i}]"
        _value(w, pos, "list")
        if len(pos) != 4:
            raise _Bad(f"{w} should be [conId, quantity, avgCost, realized]")
        for j, kind in enumerate(("int", "int", "float", "float")):
            _value(f"{w}[{j}]", pos[j], kind)


def _ids(where: str, obj: dict) -> None:
    for k, v in _get(where, obj, "max_order_id", "dict").items():
        if not k.lstrip("-").isdigit():
            raise _Bad(f"{where}.max_order_id has the key {k!r} (not a clientId)")
        _value(f"{where}.max_order_id.{k}", v, "int")
    _get(where, obj, "next_perm", "int")
    if "exec_seq" in obj:
        _get(where, obj, "exec_seq", "int")
    _get(where, obj, "last_boundary", "int", "float", "None")
    if "reserve" in obj:
        reserve = _get(where, obj, "reserve", "dict")
        for key in ("order", "perm", "exec"):
            _get(f"{where}.reserve", reserve, key, "int")


def _state(data: dict) -> None:
    _get("", data, "seed", "int")
    try:
        datetime.fromisoformat(_get("", data, "start", "str"))
    except ValueError:
        raise _Bad(f"start {data['start']!r} is not an ISO time") from None
    _get("", data, "clock", "float")
    accounts = _get("", data, "accounts", "list")
    if not accounts or not all(isinstance(a, str) and a for a in accounts):
        raise _Bad("accounts should be a list of account ids")
    _get("", data, "next_order_id", "int")
    if "plant_breakouts" in data:
        _get("", data, "plant_breakouts", "bool")
    for i, plant in enumerate(_get("", data, "plants", "list")):
        _value(f"plants[{i}]", plant, "list")
        if len(plant) != 4:
            raise _Bad(f"plants[{i}] should be [symbol, date, index, size]")
        for j, kind in enumerate(("str", "str", "int", "float")):
            _value(f"plants[{i}][{j}]", plant[j], kind)
    p = _get("", data, "portfolio", "dict")
    _get("portfolio", p, "initial_cash", "float")
    _account("portfolio", p)
    if "journal" in data:
        _get("", data, "journal", "int", "None")
    b = _get("", data, "book", "dict")
    _ids("book", b)
    keys = set()
    for i, rec in enumerate(_get("book", b, "orders", "list")):
        _order(f"book.orders[{i}]", rec)
        keys.add((rec["client_id"], rec["order_id"]))
    for i, rec in enumerate(_get("book", b, "executions", "list")):
        _execution(f"book.executions[{i}]", rec)
        if tuple(rec["order"]) not in keys:
            raise _Bad(f"book.executions[{i}] belongs to order {rec['order']}, which the file does not have")


def check_state(data: dict) -> str | None:
    """What is wrong with the state ``data`` (one phrase), or None."""
    try:
        _state(data)
    except _Bad as e:
        return str(e)
    return None


def check_journal_record(rec: dict) -> str | None:
    """What is wrong with one journal record, or None."""
    try:
        for i, o in enumerate(_get("", rec, "orders", "list")):
            _order(f"orders[{i}]", o)
        for i, ex in enumerate(_get("", rec, "executions", "list")):
            _execution(f"executions[{i}]", ex)
        _account("portfolio", _get("", rec, "portfolio", "dict"))
        _get("", rec, "next_order_id", "int")
        _get("", rec, "clock", "float")
        _ids("", rec)
        _get("", rec, "reserve", "dict")
    except _Bad as e:
        return str(e)
    return None


__all__ = ["check_journal_record", "check_state"]
