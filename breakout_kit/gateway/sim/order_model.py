"""What the order book tracks: ``Order`` and ``Execution`` records, TWS's rejection texts and field checks.

Prices are integer cents inside the gateway (the synthetic market's unit); the client's raw fields are kept in
``Order.fields`` so openOrder can echo everything back (order_codec.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .clock import NEW_YORK
from .contracts import TIME_ZONE_ID, Instrument
from .order_messages import UNSET_DOUBLE

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
TIFS = ("DAY", "GTC")
DONE = ("Filled", "Cancelled", "Inactive")
SEC_TYPES = ("STK", "OPT", "FUT", "CASH", "IND", "BOND", "FOP", "WAR", "CFD", "CMDTY", "FUND", "CRYPTO", "NEWS",
             "IOPT", "BILL", "ICU", "ICS")

ERR_READONLY = "Error validating request.-'bN' : cause - The API interface is currently in Read-Only mode."
ERR_TICK = "The price does not conform to the minimum price variation for this contract."
ERR_DUPLICATE = "Duplicate order id"
ERR_ORDER_TYPE = "Unsupported order type for this exchange and security type."
ERR_CANCELLED = "Order Canceled - reason:"


def invalid(cause: str) -> str:
    """TWS's 321 wording for a request that fails validation."""
    return f"Error validating request.-'bW' : cause - {cause}"


@dataclass(eq=False)
class Order:
    """One order as the gateway tracks it (prices in cents)."""

    client_id: int
    order_id: int
    perm_id: int
    inst: Instrument
    exchange: str
    account: str
    fields: dict
    action: str
    quantity: int
    order_type: str
    limit: int | None
    stop: int | None
    tif: str
    outside_rth: bool
    parent_id: int
    oca_group: str
    oca_type: int
    status: str = "Held"           # Held = sent with transmit=False, not live yet
    filled: int = 0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    fill_value: float = 0.0
    commission_paid: float = 0.0
    stop_triggered: bool = False
    eligible_from: float = 0.0     # simulated epoch: bars ending after this may fill the order
    expires_at: float = math.inf
    why_held: str = ""
    parent_perm_id: int = 0
    completed_time: str = ""
    completed_status: str = ""
    children: list = field(default_factory=list)

    @property
    def buy(self) -> bool:
        return self.action == "BUY"

    # the client library's names, for tests and notebooks inspecting the book
    @property
    def orderId(self) -> int:
        return self.order_id

    @property
    def parentId(self) -> int:
        return self.parent_id

    @property
    def orderRef(self) -> str:
        return self.fields.get("orderRef", "")

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def live(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")


@dataclass(eq=False)
class Execution:
    order: Order
    exec_id: str
    epoch: float
    side: str           # BOT / SLD
    shares: int
    price: float
    cum_qty: int
    avg_price: float
    exchange: str
    commission: float
    realized_pnl: float | None
    last_liquidity: int

    @property
    def time_text(self) -> str:
        return f"{datetime.fromtimestamp(self.epoch, NEW_YORK):%Y%m%d %H:%M:%S} {TIME_ZONE_ID}"


class Rejected(Exception):
    """An order TWS would refuse: ``code`` and ``message`` go out as error (4) with the order id."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def price_cents(text: str, what: str) -> int | None:
    """A price field in cents (None if unset); raises Rejected for junk or non-positive prices."""
    if text in ("", None):
        return None
    try:
        v = float(text)
    except ValueError:
        raise Rejected(321, invalid(f"Invalid {what} {text!r}")) from None
    if not math.isfinite(v) or v >= UNSET_DOUBLE:
        return None
    if v <= 0:
        raise Rejected(321, invalid(f"The {what} must be positive, got {text}"))
    return round(v * 100)


def check_tick(text: str, inst: Instrument) -> None:
    v = float(text)
    ticks = v / inst.min_tick
    if abs(ticks - round(ticks)) > 1e-6:
        raise Rejected(110, ERR_TICK)
