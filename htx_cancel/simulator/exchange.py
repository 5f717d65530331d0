"""The simulated exchange's rules: requests in, answer dicts out; no I/O, no clock, no asyncio.

Everything HTX decides lives here, so it can be tested fast and deterministically
(tests/test_exchange.py): the book and what a cancel does to each order, signature checks against
a time passed in, the per-account rate windows counted by arrival times passed in, the input
rules (1030, 1052, 1061 for unknown orders and for orders of another contract), the subscription
rules, the REST order query and open-orders listing, and the final-state push an order change
produces.

The server (`server.py`) moves bytes, reads the clocks, applies latency and delays, and injects
the faults that are about the wire rather than the rules (drops, silence, hostile frames,
whole-request errors, HTTP failures). It calls this class under the simulator's one lock: the
exchange itself is not thread-safe.
"""

from __future__ import annotations

import hmac
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Final

from htx_cancel.signing import SIGNATURE_METHOD, SIGNATURE_VERSION, sign, signed_params
from htx_cancel.simulator.book import (
    CANCELLED,
    CANCELLING,
    FILLED,
    OPEN,
    SimOrder,
    check_order,
    decimal_of,
    has_fills,
    is_live,
    state_number,
    state_word,
)
from htx_cancel.simulator.faults import Faults

DEMO_ACCESS_KEY: Final[str] = "demo-access-0000-key1"
"""Long enough (>= 12 chars) that the CLI masks it the way it masks a real key."""

DEMO_SECRET_KEY: Final[str] = "demo-secret-0000-key1"
"""Public on purpose: the simulator only ever runs on loopback with a made-up book."""

DEMO_USER_ID: Final = "12345678"
"""The `user-id` and `uid` every account gets: one made-up user behind the demo keys."""

WS_PATH: Final = "/linear-swap-trade"
"""The exchange's paths, so the signed paths and the URL shapes are the production ones."""
NOTIFY_PATH: Final = "/ws/v5/notification"
ORDER_PATH: Final = "/v5/trade/order"
OPENS_PATH: Final = "/v5/trade/order/opens"
REST_PATHS: Final = frozenset({ORDER_PATH, OPENS_PATH})

AUTH_WINDOW_SECONDS: Final = 300.0
"""HTX accepts a signature Timestamp for 5 minutes either side of its own clock."""

TRADE_BUDGET: Final = "trade"
READ_BUDGET: Final = "read"
"""HTX counts trade calls and queries in separate budgets of 72 per 3 s per account."""

LIST_LIMIT_DEFAULT: Final = 10
LIST_LIMIT_MAX: Final = 100

_CONTRACT_RE: Final = re.compile(r"^[A-Z0-9]{1,20}-[A-Z]{2,10}(-\d{6})?$")
"""Upper case only: the exchange wants it upper-cased, and a client that forgets should notice."""

_TIMESTAMP_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
"""strptime alone would also take single-digit fields; HTX's format is fixed width."""

_DIGITS_RE: Final = re.compile(r"^[0-9]{1,19}$")
"""An ID in a REST query: ASCII digits only (str.isdigit would also take other scripts' digits)."""

MESSAGES: Final[Mapping[int, str]] = {
    200: "Success",
    1000: "System error.",
    1001: "The system is not ready.",
    1002: "Inquiry error. Please try again later.",
    1003: "Redis error.",
    1004: "System busy. Please try again later.",
    1005: "Query timeout, please try again.",
    1017: "Order doesn't exist.",
    1030: "Input error.",
    1031: "Illegal request.",
    1032: "Maximum number of access attempts exceeded.",
    1051: "No cancellable orders.",
    1052: "The number of batch canceling/placing has exceeded the limit.",
    1056: "Settling. Unable to place/cancel orders currently.",
    1059: "Delivering contracts. Unable to place/cancel orders currently.",
    1061: "The order does not exist.",
    1062: "Canceling. Thank you for your patience.",
    1063: "The order has been executed.",
    1066: "{0} cannot be empty.",
    1067: "Illegal parameter {0}.",
    1071: "Repeated cancellation. Your order has been canceled.",
    2001: "Invalid authentication.",
    2002: "Authentication required.",
    2003: "Authentication failed.",
    2004: "Number of visits exceeds limit.",
    2005: "Connection has been authenticated.",
    2010: "Topic error.",
    2011: "Contract doesn't exist.",
    2012: "Topic not subscribed.",
    2013: "Authentication type doesn't exist.",
    2014: "Repeated subscription.",
    2030: "Exceeds connection limit of single user.",
    2040: "Missing required parameter.",
    12001: "Invalid submission time.",
    12002: "Incorrect signature version.",
    12003: "Incorrect signature method.",
    12006: "The submission time cannot be left blank.",
    12008: "Verification failed.",
    12009: "User has been locked or does not exist.",
}
"""Texts copied from htx-error-codes.tsv (socket scope wins for 2xxx), so answers read like HTX's;
the package cannot read that file at run time, and the client must not depend on them anyway."""


def message_for(code: int) -> str:
    return MESSAGES.get(code, "error")


class Verdict(Enum):
    """Why a signature check passed or failed; each surface maps these to its own codes."""

    OK = "ok"
    MISSING = "missing"
    NO_TIMESTAMP = "no timestamp"
    BAD_METHOD = "bad method"
    BAD_VERSION = "bad version"
    BAD_TIMESTAMP = "bad timestamp"
    STALE = "stale"
    UNKNOWN_KEY = "unknown key"
    BAD_SIGNATURE = "bad signature"


_SOCKET_AUTH_CODES: Final[Mapping[Verdict, int]] = {
    Verdict.OK: 0,
    Verdict.MISSING: 2002,
    Verdict.NO_TIMESTAMP: 2002,
}
"""The sockets say 2002 for a missing field and 2003 for anything else wrong."""

_REST_AUTH_CODES: Final[Mapping[Verdict, int]] = {
    Verdict.OK: 0,
    Verdict.MISSING: 2002,
    Verdict.NO_TIMESTAMP: 12006,
    Verdict.BAD_METHOD: 12003,
    Verdict.BAD_VERSION: 12002,
    Verdict.BAD_TIMESTAMP: 12001,
    Verdict.STALE: 12001,
    Verdict.UNKNOWN_KEY: 12009,
    Verdict.BAD_SIGNATURE: 12008,
}
"""HTX's REST gateway codes (htx-error-codes.tsv, 120xx), so a client shows which part was wrong."""


@dataclass(frozen=True)
class CancelResult:
    """What one cancel_batch_orders request came to."""

    code: int
    """The whole-request code: 200 when the request was applied (per-order codes in `answer`)."""
    answer: dict[str, object]
    applied: bool
    rate_limited: bool = False
    """True when `code` is a 1032 from the rate window (not an injected one)."""
    pushes: tuple[dict[str, object], ...] = ()
    """The final-state push data of every order this request changed, in request order."""
    settling: tuple[str, ...] = ()
    """Order IDs answered 1062: `settle` each after the push delay to finish their cancel."""


@dataclass(frozen=True)
class RestAnswer:
    """What one REST call came to: its `code` and the JSON body to send (HTTP 200)."""

    code: int
    body: dict[str, object]
    access_key: str | None = None
    """The account, once the signature checked out."""
    rate_limited: bool = False
    short_page: bool = False
    """A listing page with fewer orders than its limit: the last page of that listing."""


class Exchange:
    """One simulated HTX account's book and rules; every time it needs is passed in.

    `now_ms` is the exchange's wall clock in milliseconds (skew included), used for answer `ts`,
    signature windows and order times; `t` is an arrival time in seconds on any steady clock,
    used only for the rate windows.
    """

    def __init__(
        self,
        orders: Iterable[SimOrder],
        credentials: Mapping[str, str],
        faults: Faults,
        now_ms: int,
    ) -> None:
        self.faults: Final = faults
        self._credentials: Final = dict(credentials)
        self._by_id: Final[dict[str, SimOrder]] = {}
        self._by_client: Final[dict[str, SimOrder]] = {}
        self._arrivals: Final[dict[tuple[str, str], deque[float]]] = {}
        self.add(orders, now_ms)

    # ----------------------------------------------------------------- the book

    def add(self, orders: Iterable[SimOrder], now_ms: int) -> None:
        """Put copies of `orders` in the book (the caller's objects are never changed); an order
        ID already there is replaced. Unstamped times get `now_ms`."""
        for given in orders:
            check_order(given)
            order = replace(given)
            if order.status == FILLED and not has_fills(order):
                order.trade_volume = order.volume
            order.created_time = now_ms if order.created_time is None else order.created_time
            order.updated_time = order.created_time if order.updated_time is None else order.updated_time
            old = self._by_id.get(order.order_id)
            if old is not None and old.client_order_id is not None:
                self._by_client.pop(old.client_order_id, None)
            self._by_id[order.order_id] = order
            if order.client_order_id is not None:
                self._by_client[order.client_order_id] = order

    def order(self, order_id: str) -> SimOrder:
        """A copy of the order's current state; KeyError when the book has no such order."""
        return replace(self._by_id[order_id])

    def orders(self) -> list[SimOrder]:
        """Copies of every order, in order-ID order."""
        return [replace(order) for order in sorted(self._by_id.values(), key=_id_key)]

    # ----------------------------------------------------------------- signatures

    def verify(
        self,
        fields: Mapping[str, object],
        signed: Mapping[str, str] | None,
        host: str,
        path: str,
        now_ms: int,
    ) -> Verdict:
        """Check a signature version 2 request. `fields` holds the five auth fields; `signed` is
        every parameter that was signed (None: just the four auth ones, as on the sockets)."""
        names = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "Signature")
        values = [fields.get(name) for name in names]
        if any(not isinstance(value, str) or not value for value in values):
            return Verdict.MISSING
        access_key, method, version, signature = (str(value) for value in values)
        timestamp = fields.get("Timestamp")
        if not isinstance(timestamp, str) or not timestamp:
            return Verdict.NO_TIMESTAMP
        if method != SIGNATURE_METHOD:
            return Verdict.BAD_METHOD
        if version != SIGNATURE_VERSION:
            return Verdict.BAD_VERSION
        if not _TIMESTAMP_RE.match(timestamp):
            return Verdict.BAD_TIMESTAMP
        try:
            moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return Verdict.BAD_TIMESTAMP
        if abs(moment.timestamp() - now_ms / 1000) > AUTH_WINDOW_SECONDS:
            return Verdict.STALE
        secret = self._credentials.get(access_key)
        if secret is None:
            return Verdict.UNKNOWN_KEY
        params = dict(signed) if signed is not None else signed_params(access_key, timestamp)
        expected = sign(secret, host, path, params)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return Verdict.BAD_SIGNATURE
        return Verdict.OK

    def socket_auth(
        self, message: Mapping[str, object], host: str, path: str, now_ms: int
    ) -> tuple[int, str | None]:
        """An `op: auth` on either socket: (0, the access key) when good, else (code, None)."""
        kind = message.get("type")
        if kind != "api":
            return (2013 if kind is not None else 2002), None
        verdict = self.verify(message, None, host, path, now_ms)
        code = _SOCKET_AUTH_CODES.get(verdict, 2003)
        if code != 0:
            return code, None
        access_key = message["AccessKeyId"]
        return 0, access_key if isinstance(access_key, str) else None

    def trade_auth_answer(self, cid: object, code: int, now_ms: int) -> dict[str, object]:
        """The trade socket's auth answer, in the form `Faults.auth_form` picks."""
        answer: dict[str, object]
        if self.faults.auth_form == "op":
            # As HTX documents it for its private sockets: no cid.
            answer = {"op": "auth", "type": "api", "err-code": code, "ts": now_ms}
            if code == 0:
                answer["data"] = {"user-id": DEMO_USER_ID}
            else:
                answer["err-msg"] = message_for(code)
            return answer
        wire = 200 if code == 0 else code
        answer = {"code": self._code(wire), "message": message_for(wire), "ts": now_ms}
        if cid is not None:
            answer["cid"] = cid
        return answer

    def notify_auth_answer(self, cid: object, code: int, now_ms: int) -> dict[str, object]:
        """The notification socket's auth answer, in HTX's documented form (cid echoed)."""
        answer: dict[str, object] = {"op": "auth"}
        if cid is not None:
            answer["cid"] = cid
        answer.update({"type": "api", "err-code": code, "ts": now_ms})
        if code == 0:
            answer["data"] = {"user-id": DEMO_USER_ID}
        else:
            answer["err-msg"] = message_for(code)
        return answer

    # ----------------------------------------------------------------- rate windows

    def count_arrival(self, budget: str, access_key: str, t: float) -> bool:
        """Count a request arriving at `t` in the account's sliding window for `budget` (trade or
        read); True when it is over that budget's limit. Refused requests count too, as at HTX."""
        if budget == TRADE_BUDGET:
            limit, window = self.faults.rate_limit, self.faults.rate_window
        else:
            limit, window = self.faults.read_rate_limit, self.faults.read_rate_window
        arrivals = self._arrivals.setdefault((budget, access_key), deque())
        arrivals.append(t)
        while arrivals and arrivals[0] <= t - window:
            arrivals.popleft()
        return len(arrivals) > limit

    # ----------------------------------------------------------------- cancel_batch_orders

    def cancel_batch(
        self,
        message: Mapping[str, object],
        access_key: str | None,
        t: float,
        now_ms: int,
        forced_code: int | None = None,
    ) -> CancelResult:
        """Checks in the exchange's order: auth, the rate window (counted even when a forced code
        answers instead), the forced code, 1032, input (1030), the per-request cap (1052); then
        every ID is applied in request order, order IDs first."""
        if access_key is None:
            return self._whole(message, 2002, now_ms)
        over_limit = self.count_arrival(TRADE_BUDGET, access_key, t)
        if forced_code is not None:
            return self._whole(message, forced_code, now_ms)
        if over_limit:
            return replace(self._whole(message, 1032, now_ms), rate_limited=True)
        data = message.get("data")
        if not isinstance(data, dict):
            return self._whole(message, 1030, now_ms)
        contract = data.get("contract_code")
        order_ids = id_list(data.get("order_id"))
        client_ids = id_list(data.get("client_order_id"))
        if (
            not isinstance(contract, str)
            or not _CONTRACT_RE.match(contract)
            or order_ids is None
            or client_ids is None
            or not (order_ids or client_ids)
        ):
            return self._whole(message, 1030, now_ms)
        if len(order_ids) + len(client_ids) > self.faults.max_ids:
            return self._whole(message, 1052, now_ms)
        entries: list[dict[str, object]] = []
        pushes: list[dict[str, object]] = []
        settling: list[str] = []
        for ids, by_order in ((order_ids, True), (client_ids, False)):
            for given in ids:
                order = (self._by_id if by_order else self._by_client).get(given)
                if order is None or order.contract_code != contract:
                    # Another contract's order is as unknown as a missing one, and its other ID
                    # is not given away.
                    known_id, client_id = (given, None) if by_order else (None, given)
                    entries.append(self._entry(known_id, client_id, 1061))
                    continue
                code = self._cancel_one(order, now_ms)
                if code == 200:
                    pushes.append(self._final_data(order))
                elif code == 1062:
                    settling.append(order.order_id)
                entries.append(self._entry(order.order_id, order.client_order_id, code))
        answer = self._envelope(message, 200, now_ms)
        answer["data"] = entries
        return CancelResult(200, answer, True, pushes=tuple(pushes), settling=tuple(settling))

    def _cancel_one(self, order: SimOrder, now_ms: int) -> int:
        if order.status == OPEN:
            if order.fills_on_cancel:
                order.status, order.trade_volume = FILLED, order.volume
            else:
                order.status = CANCELLED
            order.updated_time = now_ms
            return 200
        if order.status == CANCELLING:
            return 1062
        return 1071 if order.status == CANCELLED else 1063

    def settle(self, order_id: str, now_ms: int) -> dict[str, object] | None:
        """A cancel in progress takes effect: the order's final-state push data, or None when it
        was no longer cancelling (settled already)."""
        order = self._by_id.get(order_id)
        if order is None or order.status != CANCELLING:
            return None
        order.status, order.updated_time = CANCELLED, now_ms
        return self._final_data(order)

    def _envelope(self, message: Mapping[str, object], code: int, now_ms: int) -> dict[str, object]:
        """The whole-request part of a cancel answer, shaped as HTX's example: no op, the cid."""
        answer: dict[str, object] = {"code": self._code(code), "message": message_for(code)}
        if "cid" in message:
            answer["cid"] = message["cid"]
        answer["ts"] = now_ms
        return answer

    def _whole(self, message: Mapping[str, object], code: int, now_ms: int) -> CancelResult:
        """The whole request answered with one code; nothing in it applied."""
        return CancelResult(code, self._envelope(message, code, now_ms), False)

    def _entry(self, order_id: str | None, client_id: str | None, code: int) -> dict[str, object]:
        faults = self.faults
        id_key, client_key = (
            ("order_id", "client_order_id") if faults.spelling == "snake" else ("orderId", "clientOrderId")
        )

        def ident(value: str | None) -> object:
            if value is not None and faults.numbers and value.isdigit():
                return int(value)
            return value

        return {
            id_key: ident(order_id),
            client_key: ident(client_id),
            "code": self._code(code),
            "message": message_for(code) if faults.message_text is None else faults.message_text,
        }

    def _code(self, code: int) -> object:
        return str(code) if self.faults.string_codes else code

    # ----------------------------------------------------------------- the order push

    def _final_data(self, order: SimOrder) -> dict[str, object]:
        """The push `data` for the order as it is now; times as numbers, as in HTX's example."""
        data = _order_fields(order)
        data.update(
            {
                "trade_avg_price": order.price if has_fills(order) else "0",
                "margin_mode": "cross",
                "cancel_reason": "",
                "created_time": order.created_time,
                "updated_time": order.updated_time,
                # A few of the ~30 fields HTX also sends, which a client must ignore.
                "price": order.price,
                "order_type": "limit",
                "position_side": "both",
                "lever_rate": 10,
                "fee": "0",
                "fee_currency": "USDT",
                "order_source": "api",
                "reduce_only": False,
            }
        )
        return data

    @staticmethod
    def push_frame(data: Mapping[str, object], now_ms: int, as_list: bool = False) -> dict[str, object]:
        """The `op: notify` frame around one order's push data."""
        return {
            "op": "notify",
            "topic": "orders",
            "contract_code": data["contract_code"],
            "ts": now_ms,
            "uid": DEMO_USER_ID,
            "data": [dict(data)] if as_list else dict(data),
        }

    @staticmethod
    def stale_copy(data: Mapping[str, object]) -> dict[str, object]:
        """The same final state as pushed earlier in the order's life: an older `updated_time`
        and a lower `trade_volume` (one lot less, never below 0), the state word kept."""
        stale = dict(data)
        updated = stale.get("updated_time")
        if isinstance(updated, int):
            stale["updated_time"] = updated - 1
        traded = decimal_of(str(stale.get("trade_volume", "0")))
        stale["trade_volume"] = str(traded - min(traded, Decimal(1)))
        return stale

    # ----------------------------------------------------------------- notification topics

    def subscribe(
        self, message: Mapping[str, object], access_key: str | None, now_ms: int
    ) -> tuple[dict[str, object], str | None]:
        """An `op: sub` or `op: unsub`: the acknowledgement, and the contract it covers ("*" when
        none was named) or None when refused."""
        op = message.get("op")
        answer: dict[str, object] = {"op": op}
        if "cid" in message:
            answer["cid"] = message["cid"]
        topic = message.get("topic")
        answer.update({"topic": topic, "ts": now_ms})
        contract = message.get("contract_code")
        if access_key is None:
            code = 2002
        elif topic != "orders":
            code = 2010
        elif (
            contract is not None
            and contract != "*"
            and not (isinstance(contract, str) and _CONTRACT_RE.match(contract))
        ):
            code = 2011
        else:
            code = 0
        answer["err-code"] = code
        if code != 0:
            answer["err-msg"] = message_for(code)
        if contract is not None:
            answer["contract_code"] = contract
        if code != 0:
            return answer, None
        return answer, contract if isinstance(contract, str) else "*"

    def refuse_subscription(self, message: Mapping[str, object], code: int, now_ms: int) -> dict[str, object]:
        """A sub refused with an injected err-code, in the same shape as a real refusal."""
        answer: dict[str, object] = {"op": message.get("op")}
        if "cid" in message:
            answer["cid"] = message["cid"]
        answer.update({"topic": message.get("topic"), "ts": now_ms})
        answer.update({"err-code": code, "err-msg": message_for(code)})
        if "contract_code" in message:
            answer["contract_code"] = message["contract_code"]
        return answer

    # ----------------------------------------------------------------- REST

    def rest(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        host: str,
        t: float,
        now_ms: int,
        forced_code: int | None = None,
    ) -> RestAnswer:
        """A signed GET on `path` with its decoded query parameters (Signature among them): the
        signature, the read window (counted even when a forced code answers instead), then the
        call itself."""
        names = [name for name, _ in params]
        if len(set(names)) != len(names):
            return RestAnswer(1030, self.rest_error(1030, now_ms))
        fields = dict(params)
        signed = {name: value for name, value in params if name != "Signature"}
        verdict = self.verify(fields, signed, host, path, now_ms)
        if verdict is not Verdict.OK:
            code = _REST_AUTH_CODES[verdict]
            return RestAnswer(code, self.rest_error(code, now_ms))
        access_key = fields["AccessKeyId"]
        over_limit = self.count_arrival(READ_BUDGET, access_key, t)
        if forced_code is not None:
            return RestAnswer(forced_code, self.rest_error(forced_code, now_ms), access_key)
        if over_limit:
            return RestAnswer(1032, self.rest_error(1032, now_ms), access_key, rate_limited=True)
        if path == ORDER_PATH:
            answer = self.query_order(fields, now_ms)
        elif path == OPENS_PATH:
            answer = self.open_orders(fields, now_ms)
        else:
            answer = RestAnswer(1030, self.rest_error(1030, now_ms))
        return replace(answer, access_key=access_key)

    @staticmethod
    def rest_error(code: int, now_ms: int) -> dict[str, object]:
        return {"code": code, "message": message_for(code), "data": None, "ts": now_ms}

    def query_order(self, params: Mapping[str, str], now_ms: int) -> RestAnswer:
        """`GET /v5/trade/order`: one order by order_id (which wins) or client_order_id, in any
        state, as long as it is on the contract asked about."""
        contract = params.get("contract_code", "")
        order_id = params.get("order_id", "")
        client_id = params.get("client_order_id", "")
        if not _CONTRACT_RE.match(contract) or params.get("margin_mode") != "cross":
            return RestAnswer(1030, self.rest_error(1030, now_ms))
        if order_id:
            if not _DIGITS_RE.match(order_id):
                return RestAnswer(1030, self.rest_error(1030, now_ms))
            order = self._by_id.get(order_id)
        elif client_id:
            if not _DIGITS_RE.match(client_id):
                return RestAnswer(1030, self.rest_error(1030, now_ms))
            order = self._by_client.get(client_id)
        else:
            return RestAnswer(1030, self.rest_error(1030, now_ms))
        if order is None or order.contract_code != contract:
            return RestAnswer(1061, self.rest_error(1061, now_ms))
        data = _order_fields(order)
        data.update(
            {
                "trade_avg_price": order.price if has_fills(order) else None,
                "margin_mode": "cross",
                "cancel_reason": None,
                "created_time": str(order.created_time),
                "updated_time": str(order.updated_time),
                "price": order.price,
                "order_type": "limit",
                "lever_rate": 10,
            }
        )
        return RestAnswer(200, {"code": 200, "data": data, "message": None, "success": True})

    def open_orders(self, params: Mapping[str, str], now_ms: int) -> RestAnswer:
        """`GET /v5/trade/order/opens`: the contract's live orders in ascending `id` order, a page
        of `limit` after `from` (direct=next) or before it (direct=prev)."""
        contract = params.get("contract_code", "")
        limit_text = params.get("limit", str(LIST_LIMIT_DEFAULT))
        start = params.get("from")
        direct = params.get("direct", "next")
        if (
            not _CONTRACT_RE.match(contract)
            or not _DIGITS_RE.match(limit_text)
            or not 1 <= int(limit_text) <= LIST_LIMIT_MAX
            or (start is not None and not _DIGITS_RE.match(start))
            or direct not in ("next", "prev")
            or params.get("margin_mode", "cross") != "cross"
        ):
            return RestAnswer(1030, self.rest_error(1030, now_ms))
        limit = int(limit_text)
        live = sorted(
            (order for order in self._by_id.values() if order.contract_code == contract and is_live(order)),
            key=_id_key,
        )
        if start is not None and direct == "next":
            page = [order for order in live if int(order.order_id) > int(start)][:limit]
        elif start is not None:
            page = [order for order in live if int(order.order_id) < int(start)][-limit:]
        else:
            page = live[:limit]
        listed = []
        for order in page:
            item: dict[str, object] = {"id": order.order_id}
            item.update(_order_fields(order))
            if self.faults.list_state_number:
                item["state"] = state_number(order)
            item.update(
                {
                    "margin_mode": "cross",
                    "created_time": str(order.created_time),
                    "updated_time": str(order.updated_time),
                    "price": order.price,
                    "order_type": "limit",
                }
            )
            listed.append(item)
        body: dict[str, object] = {"code": 200, "data": listed, "message": "Success", "ts": now_ms}
        return RestAnswer(200, body, short_page=len(page) < limit)


def _order_fields(order: SimOrder) -> dict[str, object]:
    """The fields an order carries in every answer, in HTX's order."""
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "contract_code": order.contract_code,
        "side": order.side,
        "volume": order.volume,
        "state": state_word(order),
        "trade_volume": order.trade_volume,
    }


def _id_key(order: SimOrder) -> int:
    return int(order.order_id)


def id_list(value: object) -> tuple[str, ...] | None:
    """A request's ID list as decimal strings; None when it is not a list of strings or ints."""
    if value is None:
        return ()
    if not isinstance(value, list):
        return None
    ids: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            return None
        ids.append(str(item))
    return tuple(ids)


def contract_ok(contract: object) -> bool:
    """An upper-case contract code, as the exchange wants it."""
    return isinstance(contract, str) and _CONTRACT_RE.match(contract) is not None
