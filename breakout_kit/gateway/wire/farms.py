"""TWS's data-farm status messages: every client is greeted with the "connection is OK" ones, and
``gw.faults.farm_status`` sends the "broken" ones."""

from __future__ import annotations

#: farm kind -> (code when broken, code when OK, TWS's farm label, farm name)
FARMS = {
    "market": (2103, 2104, "Market data farm", "usfarm"),
    "hmds": (2105, 2106, "HMDS data farm", "ushmds"),
    "secdef": (2157, 2158, "Sec-def data farm", "secdefnj"),
}


def farm_message(farm: str, ok: bool) -> tuple[int, str]:
    """TWS's informational farm message, e.g. ``(2104, "Market data farm connection is OK:usfarm")``."""
    broken, fine, label, name = FARMS[farm]
    return (fine, f"{label} connection is OK:{name}") if ok else (broken, f"{label} connection is broken:{name}")
