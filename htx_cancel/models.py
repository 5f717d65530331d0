"""Immutable data shared by every layer, so each step of the flow hands the next plain values.

Records are NamedTuples rather than frozen dataclasses: just as immutable, but about seven times
cheaper to define at import and to construct, and this module is on the path to the first cancel
(100,000 OrderRefs are built for a large file). Credentials stays a dataclass for `repr=False`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, NamedTuple

DEFAULT_URL: Final = "wss://api.hbdm.com/linear-swap-trade"
AWS_URL: Final = "wss://api.hbdm.vn/linear-swap-trade"


class IdKind(str, enum.Enum):
    """Which field of the cancel request an ID travels in; one kind per request keeps answers unambiguous."""

    ORDER = "order_id"
    CLIENT = "client_order_id"


class State(str, enum.Enum):
    """The seven final states of SPEC section 2; every requested ID ends in exactly one."""

    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    CANCELLING = "cancelling"
    NOT_FOUND = "not_found"
    FILLED = "filled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


DONE_STATES: Final = frozenset({State.CANCELLED, State.ALREADY_CANCELLED, State.CANCELLING})


class OrderRef(NamedTuple):
    """One ID to cancel, as the user gave it (exact decimal text, never a float)."""

    kind: IdKind
    value: str


class Batch(NamedTuple):
    """IDs of one kind that travel in one request."""

    kind: IdKind
    ids: tuple[str, ...]


class CancelRequest(NamedTuple):
    """Validated input: everything needed to build frames, and nothing the network decides."""

    contract_code: str
    orders: tuple[OrderRef, ...]
    duplicates_dropped: int = 0


@dataclass(frozen=True)
class Credentials:
    """API key pair; the secret stays out of repr so a stray print or traceback cannot show it."""

    access_key: str
    secret_key: str = field(repr=False)


class RunSettings(NamedTuple):
    """How one run talks to the exchange; defaults are SPEC section 1's."""

    url: str = DEFAULT_URL
    timeout: float = 10.0
    retries: int = 3
    batch_size: int = 10
    max_rate: int = 60
    ca_bundle: str | None = None
    confirm: bool = False


class OrderResult(NamedTuple):
    """The report line for one ID: the exchange's own code and message beside the state it decided.

    The last four fields are SPEC section 7's (`--confirm`): `confirmed` is None when the answer
    was already final or no confirmation was asked for; volumes are decimal text exactly as the
    exchange wrote them."""

    order_id: str | None
    client_order_id: str | None
    state: State
    code: int | None
    message: str | None
    attempts: int
    confirmed: bool | None = None
    final_state: str | None = None
    filled_volume: str | None = None
    volume: str | None = None


class Report(NamedTuple):
    """What one run learned; partial outcomes (unknown, interrupted) are as much a report as success."""

    contract_code: str
    url: str
    simulated: bool
    elapsed_ms: int
    duplicates_dropped: int
    results: tuple[OrderResult, ...]
    interrupted: bool = False
    problems: tuple[str, ...] = ()
    confirm: bool = False
    """--confirm was asked for: renderers show the confirmation columns."""
    still_open: tuple[str, ...] = ()
    """--all: orders of the contract still listed open after the last round."""
    recheck_failed: str | None = None
    """--all: why the listing after the cancels could not be read (what is open is not known)."""

    def summary(self) -> dict[str, int]:
        """Count per state, all seven present, so scripts can index any state without a default."""
        counts = {state.value: 0 for state in State}
        for result in self.results:
            counts[result.state.value] += 1
        return counts


class FrameEvent(NamedTuple):
    """A frame that crossed the wire, already redacted, for -v, --log-file and the audit trail."""

    direction: str  # "sent" or "received"
    text: str
    wall_time: float
    elapsed: float
    channel: str = "trade"
    """Which connection: "trade", "notify" (the order push socket) or "rest" (order queries)."""


class ProgressEvent(NamedTuple):
    """Counts for a progress display: requests written and answered, IDs with a final state."""

    requests_sent: int
    requests_queued: int
    requests_answered: int
    resolved: int
    total: int


class NoteEvent(NamedTuple):
    """Something a user watching stderr should hear about now (a reconnect, a retry, a bad frame)."""

    text: str
