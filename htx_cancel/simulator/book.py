"""The simulator's orders: what one order is, the words HTX uses for its state, and the demo book.

Pure data; no I/O. The exchange (`exchange.py`) owns a copy of a book and changes it by the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

OPEN: Final = "open"
"""Live: cancellable. HTX calls it `new`, or `partially_filled` once something has filled."""
CANCELLED: Final = "cancelled"
"""HTX calls it `canceled`, or `partially_canceled` when something had filled first."""
FILLED: Final = "filled"
CANCELLING: Final = "cancelling"
"""A cancel is already under way: a cancel answers 1062, and the order ends `canceled` after the
push delay. Still live until then, so it is listed as open and its state word is still `new`."""

STATUSES: Final = frozenset({OPEN, CANCELLED, FILLED, CANCELLING})
SIDES: Final = frozenset({"buy", "sell"})

FINAL_STATES: Final = frozenset({"canceled", "partially_canceled", "filled"})
"""The state words after which an order never changes again (htx-protocol.md, the v5 order push)."""

DEFAULT_CONTRACT: Final = "BTC-USDT"

BIG_ID_START: Final = 1_329_854_623_927_160_832
"""Where `open_book` numbers from by default: a real-looking HTX order ID, above 2**53, so a client
that lets an ID pass through a float gets it visibly wrong."""


@dataclass
class SimOrder:
    """One order in the simulator's book.

    `status` is "open", "cancelled", "filled" or "cancelling" (the constants above). Volumes are
    decimal strings, as HTX writes them; a `filled` order whose `trade_volume` is left at "0" is
    taken as wholly filled. `fills_on_cancel` makes a cancel of the open order answer 200 while
    the order fills instead (the race HTX warns about: a 200 only means the cancel was accepted).
    Times are milliseconds; left None, the exchange stamps them when the book is loaded.
    """

    order_id: str
    client_order_id: str | None
    status: str
    contract_code: str = DEFAULT_CONTRACT
    side: str = "buy"
    volume: str = "1"
    trade_volume: str = "0"
    fills_on_cancel: bool = False
    price: str = "60000"
    created_time: int | None = None
    updated_time: int | None = None


def decimal_of(text: str) -> Decimal:
    """A volume or price as a Decimal; ValueError (naming it) when it is not a finite decimal."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError(f"not a decimal string: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a finite, non-negative decimal: {text!r}")
    return value


def check_order(order: SimOrder) -> None:
    """Refuse a book entry the exchange could never hold, so a test's typo fails loudly."""
    if not order.order_id.isdigit() or int(order.order_id) <= 0:
        raise ValueError(f"order_id must be a positive decimal string: {order.order_id!r}")
    if order.client_order_id is not None and not order.client_order_id.isdigit():
        raise ValueError(f"client_order_id must be a decimal string: {order.client_order_id!r}")
    if order.status not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}: {order.status!r}")
    if order.side not in SIDES:
        raise ValueError(f"side must be buy or sell: {order.side!r}")
    if decimal_of(order.trade_volume) > decimal_of(order.volume):
        raise ValueError(f"order {order.order_id}: trade_volume above volume")
    decimal_of(order.price)


def has_fills(order: SimOrder) -> bool:
    return decimal_of(order.trade_volume) > 0


def state_word(order: SimOrder) -> str:
    """HTX's state word for the order, as its v5 push and order query write it."""
    if order.status == FILLED:
        return "filled"
    if order.status == CANCELLED:
        return "partially_canceled" if has_fills(order) else "canceled"
    return "partially_filled" if has_fills(order) else "new"


def state_number(order: SimOrder) -> int:
    """HTX's older numeric state (3 submitted, 4 partly filled, 5 partly cancelled, 6 filled,
    7 cancelled), which its open-orders example shows where the field table lists words."""
    return {"new": 3, "partially_filled": 4, "partially_canceled": 5, "filled": 6, "canceled": 7}[
        state_word(order)
    ]


def is_live(order: SimOrder) -> bool:
    """Listed by the open-orders query: open, partly filled, or with a cancel under way."""
    return order.status in (OPEN, CANCELLING)


def _side(n: int) -> str:
    """Odd IDs buy, even IDs sell, so any range of the demo book shows both sides."""
    return "buy" if n % 2 else "sell"


def demo_book() -> list[SimOrder]:
    """A book in which a first run shows every state (the README names these IDs).

    | order IDs | client IDs | contract | what a cancel gets |
    | 101-110 | 5101-5110 | BTC-USDT | 200, pushed `canceled` |
    | 111 | 5111 | BTC-USDT | 200; had filled 4 of 10, pushed `partially_canceled` |
    | 112 | 5112 | BTC-USDT | 200, but it fills: pushed `filled` (5 of 5) |
    | 113 | 5113 | BTC-USDT | 1062 (a cancel is under way), then pushed `canceled` |
    | 201-202 | 5201-5202 | BTC-USDT | 1071, already cancelled |
    | 301-302 | 5301-5302 | BTC-USDT | 1063, already filled |
    | 501-503 | 5501-5503 | ETH-USDT | open on another contract: a BTC-USDT `--all` leaves them |
    | anything else (404, say) | | | 1061, no such order |

    Odd IDs are buy orders and even IDs sell orders.
    """
    book = [SimOrder(str(n), str(5000 + n), OPEN, side=_side(n)) for n in range(101, 111)]
    book += [
        SimOrder("111", "5111", OPEN, side=_side(111), volume="10", trade_volume="4"),
        SimOrder("112", "5112", OPEN, side=_side(112), volume="5", fills_on_cancel=True),
        SimOrder("113", "5113", CANCELLING, side=_side(113)),
    ]
    book += [SimOrder(str(n), str(5000 + n), CANCELLED, side=_side(n)) for n in (201, 202)]
    book += [SimOrder(str(n), str(5000 + n), FILLED, side=_side(n), trade_volume="1") for n in (301, 302)]
    book += [
        SimOrder(str(n), str(5000 + n), OPEN, contract_code="ETH-USDT", side=_side(n), price="3000")
        for n in (501, 502, 503)
    ]
    return book


def open_book(n: int, contract: str = DEFAULT_CONTRACT, start: int = BIG_ID_START) -> list[SimOrder]:
    """`n` open orders on `contract`, order IDs `start`, `start + 1`, ... (odd buy, even sell).

    For tests of `--all` paging: 130 orders take two pages of 100. The client order ID is the
    order ID, as HTX sets it when an order is placed without one; pass a different `start` per
    contract to keep two books apart.
    """
    return [
        SimOrder(str(number), str(number), OPEN, contract_code=contract, side=_side(number))
        for number in range(start, start + n)
    ]
