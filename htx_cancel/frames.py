"""The wire codec: build the frames the client sends and turn server bytes into typed events.

Anything the server sends that cannot be understood becomes a FrameError, so the engine has
exactly one way to learn that the stream can no longer be trusted.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from typing import Final, NamedTuple

from htx_cancel.models import Credentials, IdKind
from htx_cancel.signing import sign, signed_params

MAX_FRAME_BYTES: Final = 1 << 20
"""Largest decompressed frame accepted: a 25-ID answer is a few kB, so 1 MiB is generous and
keeps a gzip bomb from costing more than that in memory."""

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class FrameError(Exception):
    """A server frame that is not gzip, not JSON, not an object, or too large once inflated."""


class SignedAuth(NamedTuple):
    """The auth frame and the signature inside it, kept apart so the redactor can learn it."""

    text: str
    signature: str

    def __repr__(self) -> str:
        # The signature is a credential for 5 minutes: no repr, traceback or log may show it.
        return "SignedAuth(<redacted>)"


class Ping(NamedTuple):
    """A heartbeat; `market` pings (`{"ping": n}`) are answered in their own form."""

    ts: object
    market: bool


class Notice(NamedTuple):
    """`op: close` or `op: error`: the server speaking about the connection, not about a request."""

    op: str
    code: int | None
    message: str


class Answer(NamedTuple):
    """A reply matched to a request by `cid`, or an `op: auth` answer (HTX documents that form
    without a cid); its meaning depends on which request it answers."""

    cid: str | None
    auth: bool
    ok: bool
    code: int | None
    message: str
    ts: int | None
    data: object


class Other(NamedTuple):
    """A well-formed frame that answers nothing we asked (pushes, unknown ops): logged, not fatal."""

    op: str | None


class Push(NamedTuple):
    """`op: notify` on the notification socket: an order's state changed (SPEC section 7)."""

    topic: str | None
    data: object


Event = Ping | Notice | Answer | Push | Other


class AnswerItem(NamedTuple):
    """One per-order line of a cancel answer, with both ID spellings folded into one."""

    order_id: str | None
    client_order_id: str | None
    code: int | None
    message: str


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def auth_frame(credentials: Credentials, host: str, path: str, timestamp: str, cid: str) -> SignedAuth:
    """Sign and build `op: auth`; `cid` is sent (unsigned) because this socket answers by cid alone."""
    params = signed_params(credentials.access_key, timestamp)
    signature = sign(credentials.secret_key, host, path, params)
    frame = {"op": "auth", "type": "api", "cid": cid, **params, "Signature": signature}
    return SignedAuth(_dumps(frame), signature)


def cancel_frame(cid: str, contract_code: str, kind: IdKind, ids: tuple[str, ...]) -> str:
    """One `cancel_batch_orders` request carrying a single kind of ID, as decimal strings."""
    return _dumps(
        {
            "op": "cancel_batch_orders",
            "cid": cid,
            "data": {"contract_code": contract_code, kind.value: list(ids)},
        }
    )


def subscribe_frame(cid: str, contract_code: str) -> str:
    """Subscribe to the `orders` topic of one contract on the v5 notification socket."""
    return _dumps({"op": "sub", "cid": cid, "topic": "orders", "contract_code": contract_code})


def pong_frame(ping: Ping) -> str:
    """Echo the ping's `ts` exactly as it came (a string stays a string)."""
    if ping.market:
        return _dumps({"pong": ping.ts})
    return _dumps({"op": "pong", "ts": ping.ts})


def inflate(raw: bytes) -> bytes:
    """Gunzip with a hard cap so a tiny frame cannot inflate into hundreds of megabytes."""
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = decompressor.decompress(raw, MAX_FRAME_BYTES + 1)
    except zlib.error as exc:
        raise FrameError(f"binary frame is not gzip ({exc})") from None
    if len(out) > MAX_FRAME_BYTES or decompressor.unconsumed_tail:
        raise FrameError(f"frame inflates beyond {MAX_FRAME_BYTES} bytes")
    return out


def decode(raw: bytes | str) -> dict[str, object]:
    """Bytes or text off the socket -> a JSON object, or FrameError naming what was wrong."""
    if isinstance(raw, bytes):
        raw = inflate(raw) if raw[:2] == b"\x1f\x8b" else raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("binary frame is neither gzip nor UTF-8 JSON") from None
    else:
        text = raw
    if len(text) > MAX_FRAME_BYTES:
        raise FrameError(f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("frame is not valid JSON") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame is JSON {type(message).__name__}, not an object")
    return message


ANSWER_OPS: Final = (None, "auth", "cancel_batch_orders", "sub")
"""Ops whose frames answer a request of ours; a push (`notify`) or anything else that happens to
carry our cid answers nothing."""

_CODE: Final = re.compile(r"-?[0-9]{1,15}")
_ID: Final = re.compile(r"[0-9]{1,19}")


def as_code(value: object) -> int | None:
    """Codes (and `ts`) arrive as numbers or strings; anything else, including a number too large
    to be a code or a time, is no code at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**15 else None
    if isinstance(value, str) and _CODE.fullmatch(value.strip()):
        return int(value.strip())
    return None


def as_id(value: object) -> str | None:
    """IDs arrive as numbers or strings of ASCII digits; a float cannot be exact, so it is no ID."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return value.strip()
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _first(message: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        if message.get(key) is not None:
            return message[key]
    return None


def classify(message: Mapping[str, object]) -> Event:
    """Sort a decoded frame into the few things the engine reacts to."""
    op = message.get("op")
    if op == "ping" or (op is None and "ping" in message):
        market = op is None
        return Ping(message.get("ping") if market else message.get("ts"), market)
    code = as_code(_first(message, "err-code", "err_code", "code"))
    text = _text(_first(message, "err-msg", "err_msg", "message", "msg"))
    if op in ("close", "error"):
        return Notice(str(op), code, text)
    if op == "notify":
        topic = message.get("topic")
        return Push(topic if isinstance(topic, str) else None, message.get("data"))
    cid = message.get("cid")
    has_cid = isinstance(cid, (str, int)) and not isinstance(cid, bool)
    if (has_cid and op in ANSWER_OPS) or op == "auth":
        failed = message.get("status") == "error" or (code is not None and code not in (0, 200))
        ok = not failed and (code is not None or message.get("status") == "ok")
        return Answer(
            str(cid) if has_cid else None,
            op == "auth",
            ok,
            code,
            text,
            as_code(message.get("ts")),
            message.get("data"),
        )
    return Other(op if isinstance(op, str) else None)


def cancel_items(data: object) -> tuple[AnswerItem, ...] | None:
    """Per-order results of a cancel answer in either spelling; None when `data` is not a list."""
    if not isinstance(data, list):
        return None
    items = []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        items.append(
            AnswerItem(
                order_id=as_id(_first(entry, "orderId", "order_id", "order_id_str")),
                client_order_id=as_id(_first(entry, "clientOrderId", "client_order_id")),
                code=as_code(_first(entry, "code", "err-code", "err_code")),
                message=_text(_first(entry, "message", "err-msg", "err_msg", "msg")),
            )
        )
    return tuple(items)


class OrderUpdate(NamedTuple):
    """An order as a push, the order query or the open-orders listing describes it; volumes stay
    decimal text as the exchange wrote them."""

    order_id: str | None
    client_order_id: str | None
    contract_code: str | None
    side: str | None
    state: str | None
    volume: str | None
    trade_volume: str | None
    updated_time: int | None


STATE_NUMBERS: Final = {
    1: "new",
    2: "new",
    3: "new",
    4: "partially_filled",
    5: "partially_canceled",
    6: "filled",
    7: "canceled",
    11: "canceling",
}
"""HTX's older numeric order status (its open-orders example shows `"state": 3`), as words."""

_DECIMAL: Final = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")


def as_volume(value: object) -> str | None:
    """A volume as decimal text, exactly as written when it came as a string (or as a Decimal, as
    the REST client decodes fractions); a float is written back in Python's shortest form."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = value if isinstance(value, str) else str(value)
    return text.strip() if _DECIMAL.fullmatch(text.strip()) else None


def _state(value: object) -> str | None:
    if isinstance(value, str) and value.isascii() and value.replace("_", "").isalpha():
        return value.lower()
    code = as_code(value)
    return STATE_NUMBERS.get(code) if code is not None else None


def _word(value: object) -> str | None:
    return value if isinstance(value, str) and value.isascii() and value.isprintable() else None


def order_updates(data: object) -> tuple[OrderUpdate, ...]:
    """Orders in a push, a query answer or a listing page: `data` as one object or a list of them
    (HTX's example shows an object, its SDK a list). Entries that are not objects are skipped."""
    entries = data if isinstance(data, list) else [data]
    updates = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        updates.append(
            OrderUpdate(
                order_id=as_id(_first(entry, "order_id_str", "order_id", "orderId")),
                client_order_id=as_id(_first(entry, "client_order_id", "clientOrderId")),
                contract_code=_word(entry.get("contract_code")),
                side=_word(entry.get("side")),
                state=_state(entry.get("state")),
                volume=as_volume(entry.get("volume")),
                trade_volume=as_volume(entry.get("trade_volume")),
                updated_time=as_code(entry.get("updated_time")),
            )
        )
    return tuple(updates)
