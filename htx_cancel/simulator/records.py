"""What the simulator saw and did, as frozen records a test reads from another thread.

Times `t`, `answered_at` are `time.monotonic()` seconds (CLOCK_MONOTONIC, system-wide on Linux,
so a test or benchmark can compare them with its own clock). The server replaces a record under
the simulator's lock when it learns more; it never changes one in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    """One frame as it reached the simulator, before any added latency."""

    t: float
    connection: int
    message: dict[str, object] | None
    raw: str
    socket: str = "trade"
    """"trade" or "notify"; connections are numbered per socket, from 1."""


@dataclass(frozen=True)
class CancelRecord:
    """One cancel_batch_orders request as it reached the wire, and what became of it.

    Replaced (never mutated) as the server gets to it: `applied` when the book was changed,
    `answered_at` and `code` just before its answer is written, `fault` when an injected fault
    took the answer's place.
    """

    t: float
    connection: int
    cid: str
    contract_code: str
    order_ids: tuple[str, ...]
    client_order_ids: tuple[str, ...]
    answered_at: float | None = None
    code: int = 0
    applied: bool = False
    fault: str | None = None
    """Which fault took the place of the answer ("drop", "silent", "hostile:bomb", ...), if any."""


@dataclass(frozen=True)
class SubscriptionRecord:
    """One `op: sub` or `op: unsub` on the notification socket and how it was answered."""

    t: float
    connection: int
    op: str
    cid: str | None
    topic: str | None
    contract_code: str | None
    err_code: int | None
    """0 when acknowledged, the refusal's err-code, or None when never answered (`sub_silent`)."""


@dataclass(frozen=True)
class PushRecord:
    """One order push written to a notification connection."""

    t: float
    """When it was written (after the push delay and the added latency)."""
    connection: int
    order_id: str
    client_order_id: str | None
    contract_code: str
    state: str
    trade_volume: str
    updated_time: int
    stale: bool = False
    """The older, lower duplicate that `Faults.duplicate_pushes` sends after the real one."""


@dataclass(frozen=True)
class RestRecord:
    """One HTTP request on the simulator's port that was not a WebSocket handshake."""

    t: float
    """Arrival, before any added latency."""
    method: str
    path: str
    query: str
    """The raw query string, exactly as sent (Signature still URL-encoded)."""
    params: Mapping[str, str]
    """The query decoded (a later duplicate name wins here; the exchange refuses duplicates)."""
    status: int
    """The HTTP status answered."""
    code: int | None
    """The JSON answer's `code`; None for a text error or a raw `list_body`."""
    answered_at: float | None = None
