"""What became of each accepted cancel (SPEC section 7): order pushes and order queries in, the
report's confirmation fields out. No I/O, no clock of its own, like the ledger.

A 200 (or 1062) only says the exchange accepted the cancel: the order may still fill before the
cancel takes effect. An accepted order is confirmed by its latest final push (by
`updated_time`), or, when none came within the wait after its answer, by one order query.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final, NamedTuple

from htx_cancel.frames import OrderUpdate
from htx_cancel.models import IdKind, OrderRef, OrderResult, State

FINAL_STATES: Final = frozenset({"canceled", "partially_canceled", "filled"})
ACCEPTED_CODES: Final = frozenset({200, 1062})
FILLED_MESSAGE: Final = "the order filled before the cancel took effect"
UNCONFIRMED: Final = "final state not confirmed: "
"""Appended (in parentheses, with the reason) to the message of an accepted, unconfirmed cancel."""

Key = tuple[IdKind, str]


class Lookup(NamedTuple):
    """An order query to make: by order ID where the run knows it (HTX keeps client order IDs
    for a few hours only), else by client order ID."""

    key: Key
    order_id: str | None
    client_order_id: str | None


class Confirmations:
    """Final states for the orders of one run, from pushes and queries, kept apart from the ledger
    so a push that arrives before its cancel's answer is not lost."""

    def __init__(self, orders: Sequence[OrderRef], wait: float) -> None:
        self._wait = wait
        self._order_ids = {ref.value for ref in orders if ref.kind is IdKind.ORDER}
        self._client_ids = {ref.value for ref in orders if ref.kind is IdKind.CLIENT}
        self._by_order: dict[str, OrderUpdate] = {}
        self._by_client: dict[str, OrderUpdate] = {}
        self._accepted: dict[Key, tuple[float, OrderResult]] = {}
        self._pending: deque[Key] = deque()
        """Accepted keys in the order they were accepted (so by when their wait ends); the settled
        ones are dropped from the front as they come up, so no call scans the whole run."""
        self._queried: dict[Key, OrderUpdate | None] = {}
        self._reasons: dict[Key, str] = {}

    # --- what came in --------------------------------------------------------------------

    def pushed(self, update: OrderUpdate) -> None:
        """Keep the latest final state per order; a later push with an older `updated_time` (HTX
        warns a final state may be pushed again, with a lower filled volume) does not win."""
        if update.state not in FINAL_STATES:
            return
        if update.order_id is not None and update.order_id in self._order_ids:
            _keep_latest(self._by_order, update.order_id, update)
        if update.client_order_id is not None and update.client_order_id in self._client_ids:
            _keep_latest(self._by_client, update.client_order_id, update)

    def accepted(self, result: OrderResult, kind: IdKind, now: float) -> None:
        """A cancel the exchange accepted (200 or 1062) at `now`: it needs a final state."""
        if result.code in ACCEPTED_CODES and result.state in (State.CANCELLED, State.CANCELLING):
            value = result.order_id if kind is IdKind.ORDER else result.client_order_id
            if value is not None and (kind, value) not in self._accepted:
                self._accepted[(kind, value)] = (now, result)
                self._pending.append((kind, value))
            if kind is IdKind.CLIENT and result.order_id:
                self._order_ids.add(result.order_id)  # pushes may name it by its order ID

    def queried(self, key: Key, update: OrderUpdate | None, failure: str | None = None) -> None:
        """The one order query of `key`: its answer (final or not), or None with why it failed."""
        self._queried[key] = update
        if update is None or update.state not in FINAL_STATES:
            self._reasons[key] = failure or f"the order query says '{update.state if update else None}'"

    # --- what to do next -----------------------------------------------------------------

    def lookups_due(self, now: float) -> list[Lookup]:
        """Accepted orders with no final push `wait` seconds after their answer, not yet queried."""
        self._trim()
        due = []
        for key in self._pending:
            at, result = self._accepted[key]
            if at + self._wait > now:
                break
            if not self._settled(key):
                due.append(Lookup(key, result.order_id, result.client_order_id))
        return due

    def next_lookup_at(self) -> float | None:
        """When the next order query falls due; None when nothing is waiting for a push."""
        self._trim()
        return self._accepted[self._pending[0]][0] + self._wait if self._pending else None

    def waiting(self) -> bool:
        return self.next_lookup_at() is not None

    def give_up(self, reason: str) -> None:
        """Stop waiting (Ctrl-C, or no way to ask): what has no final state says why."""
        for key in self._pending:
            if not self._settled(key):
                self._queried[key] = None
                self._reasons[key] = reason
        self._pending.clear()

    # --- the report ----------------------------------------------------------------------

    def merge(self, ref: OrderRef, result: OrderResult) -> OrderResult:
        """SPEC 7.4: accepted and then canceled/partially canceled -> `cancelled`, confirmed;
        then filled -> `filled`, code kept, message says so; no final state -> unchanged,
        `confirmed: false`. Answers that were already final are not touched (confirmed null)."""
        key = (ref.kind, ref.value)
        if key not in self._accepted:
            return result
        update = self._final(key, result)
        if update is None:
            reason = self._reasons.get(key, "no final push or order query answer")
            message = f"{result.message or ''} ({UNCONFIRMED}{reason})".lstrip()
            return result._replace(confirmed=False, message=message)
        confirmed = result._replace(
            confirmed=True,
            final_state=update.state,
            filled_volume=update.trade_volume,
            volume=update.volume,
            order_id=result.order_id or update.order_id,
        )
        if update.state == "filled":
            return confirmed._replace(state=State.FILLED, message=FILLED_MESSAGE)
        return confirmed._replace(state=State.CANCELLED)

    # --- inside --------------------------------------------------------------------------

    def _settled(self, key: Key) -> bool:
        """Queried already, or a final state is known: nothing more to wait for."""
        return key in self._queried or self._final(key, self._accepted[key][1]) is not None

    def _trim(self) -> None:
        while self._pending and self._settled(self._pending[0]):
            self._pending.popleft()

    def _final(self, key: Key, result: OrderResult) -> OrderUpdate | None:
        kind, value = key
        found = None
        if kind is IdKind.ORDER:
            found = self._by_order.get(value)
        else:
            found = self._by_client.get(value) or (
                self._by_order.get(result.order_id) if result.order_id else None
            )
        if found is None:
            queried = self._queried.get(key)
            if queried is not None and queried.state in FINAL_STATES:
                found = queried
        return found


def _keep_latest(table: dict[str, OrderUpdate], key: str, update: OrderUpdate) -> None:
    known = table.get(key)
    if known is None or (update.updated_time or 0) >= (known.updated_time or 0):
        table[key] = update
