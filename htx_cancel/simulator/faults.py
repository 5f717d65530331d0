"""What the simulated exchange does wrong, or differently: one dataclass, read live by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from htx_cancel.simulator.book import SimOrder

HOSTILE_KINDS: frozenset[str] = frozenset(
    {
        "garbage",
        "invalid_json",
        "shape",
        "bomb",
        "close",
        "error",
        "oversized",
        "drip",
        "endless_fragments",
    }
)


@dataclass
class Faults:
    """What the simulated exchange does wrong, or differently; the defaults behave like HTX.

    Each field exists because the client has to survive it in production: latency (pipelining
    and timeouts), both ping and auth answer forms, clock skew (the 5-minute window), both field
    spellings and number types, the per-request and per-account limits, dropped connections,
    silence, partial answers, hostile frames, order pushes that are late, missing, repeated or
    shaped differently, and REST answers that fail or lie about their shape.

    The simulator reads these fields live, so a test may flip one mid-run; the queues
    (`hostile`, `request_errors`) and `add_after_first_listing` are copied when the simulator is
    built, so one Faults can configure several simulators without being used up.
    """

    # ------------------------------------------------------------------ both sockets
    latency: float = 0.0
    """One-way seconds, each direction, on every socket and REST call; never blocks receiving,
    never reorders."""
    ping_interval: float = 5.0
    """Seconds between server pings on both sockets; 0 disables them."""
    clock_skew: float = 0.0
    """Seconds added to the simulator's clock: every `ts` and the signature window use it."""

    # ------------------------------------------------------------------ trade socket
    market_ping: bool = False
    """Trade socket: send `{"ping": <int>}` instead of `{"op": "ping", "ts": "<str>"}`."""
    ping_before_auth_answer: bool = False
    """Trade socket: ping first on auth, and answer the auth only once the matching pong is in."""
    auth_form: str = "cid"
    """Trade socket: "cid" answers `{"code": 200, "cid": ...}`; "op" answers
    `{"op": "auth", "err-code": 0, ...}` with no cid, as HTX documents it."""
    auth_error: int | None = None
    """Refuse every trade-socket auth with this code (the notification socket has its own)."""
    spelling: str = "camel"
    """Per-order fields "orderId"/"clientOrderId", or "snake": "order_id"/"client_order_id"."""
    numbers: bool = False
    """Per-order IDs as JSON numbers instead of strings."""
    string_codes: bool = False
    """Codes (per-order and whole-request) as JSON strings instead of numbers."""
    max_ids: int = 25
    """More IDs than this in one request: whole-request 1052, nothing applied."""
    rate_limit: int = 72
    """Cancel requests per account in any sliding `rate_window`, counted on arrival: 1032 above."""
    rate_window: float = 3.0
    drop_after_cancel: int | None = None
    """Close TCP without answering right after applying the Nth cancel request (1-based, once)."""
    silent: bool = False
    """Never answer cancel_batch_orders, and apply nothing."""
    silent_auth: bool = False
    """Never answer a trade-socket auth."""
    omit_id_once: bool = False
    """The first normal cancel answer leaves out its last ID (which is applied all the same)."""
    hostile: list[str] = field(default_factory=list)
    """One per applied cancel request, instead of its answer (the cancel is applied all the same):
    "garbage" (undecodable bytes), "invalid_json", "shape" (a JSON list), "bomb" (300 kB of gzip
    inflating to 300 MB), "close" (`op: close`, then a close), "error" (`op: error`),
    "oversized" (a raw binary frame whose header declares 300 MB, streamed until the client
    leaves), "drip" (the real answer, one byte every `drip_interval`) or "endless_fragments"
    (a text message whose continuation frames never end)."""
    drip_interval: float = 0.2
    """Seconds between the bytes of a "drip" answer: a client must bound a whole read, not each
    recv, or a trickle keeps it waiting for ever."""
    fragment_interval: float = 0.02
    """Seconds between the continuation frames of "endless_fragments"."""
    message_text: str | None = None
    """Every per-order message replaced by this text: exchange text is not to be trusted on a
    terminal (escapes, carriage returns, bidi overrides, a line that looks like another row)."""
    request_errors: list[int] = field(default_factory=list)
    """One per authenticated cancel request: answer the whole request with this code, apply nothing."""

    # ------------------------------------------------------------------ notification socket
    notify_auth_error: int | None = None
    """Refuse every notification-socket auth with this err-code: `--confirm` must fall back to
    the order query and still cancel."""
    push_delay: float = 0.05
    """Seconds from the change (a cancel applied, or a cancel in progress completing) to the
    order's final-state push: pushes come after the cancel's answer, as at HTX."""
    no_pushes: bool = False
    """Change orders but push nothing: every confirmation must come from the order query."""
    duplicate_pushes: bool = False
    """Push each final state twice, the second copy with an older `updated_time` and a lower
    `trade_volume` (HTX warns a final state can repeat): the client must keep the latest by
    `updated_time`, not the last received."""
    push_as_list: bool = False
    """`data` as a one-element list, as HTX's Java SDK models it, instead of an object."""
    notify_gzip: bool = False
    """Notification frames as gzip binary (HTX's older pages) instead of plain JSON text (its
    2026 notes)."""
    sub_error: int | None = None
    """Refuse every subscription with this err-code (and its err-msg)."""
    sub_silent: bool = False
    """Never acknowledge a subscription, and do not subscribe: the client's wait must end."""

    # ------------------------------------------------------------------ REST
    read_rate_limit: int = 72
    """REST reads per account in any sliding `read_rate_window`: 1032 above. A budget of its
    own, apart from the cancels'."""
    read_rate_window: float = 3.0
    query_error: int | None = None
    """Answer every order query (after its signature is checked) with this non-200 code."""
    query_http_status: int | None = None
    """Answer every order query with this HTTP status and a text body, like a failing gateway."""
    list_error: int | None = None
    """Answer every open-orders listing (after its signature is checked) with this code."""
    list_http_status: int | None = None
    """Answer every listing with this HTTP status and a text body."""
    list_body: bytes | None = None
    """Serve these raw bytes (as application/json) as every listing answer, after the signature
    is checked: garbage, huge bodies, IDs as floats, wrong types."""
    list_state_number: bool = False
    """Listed `state` as HTX's example writes it (3 for new, 4 partly filled), not as a word."""
    add_after_first_listing: list[SimOrder] = field(default_factory=list)
    """Orders placed while a run goes on: added to the book right after the page that ends the
    first listing (the first page shorter than its limit) has been answered, so they show up only
    in the next listing."""
