"""A loopback server that speaks HTX's USDT-margined trade socket, for trying and testing htx-cancel.

HTX has no public test network for this market, so the only way to exercise the real code path
(TLS or not, handshake, gzip, signatures, pings, pipelining, reconnects) without an account is to
stand up the other side of the wire. The simulator does that with a real WebSocket server, checks
auth with the same signature rule the exchange uses, keeps an in-memory order book, and takes
injected faults (`Faults`) so tests can reproduce what the exchange does on a bad day.

Everything that reached the wire is recorded (`Simulator.received`, `Simulator.cancels`) so a test
can assert on what the client actually sent, not on what it meant to send.

Needs the `sim` extra (`websockets`); it never imports Typer or Rich.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hmac
import json
import logging
import os
import re
import ssl
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http import HTTPStatus
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from htx_cancel.signing import SIGNATURE_METHOD, SIGNATURE_VERSION, sign, signed_params

DEMO_ACCESS_KEY: Final[str] = "demo-access-0000-key1"
"""Long enough (>= 12 chars) that the CLI masks it the way it masks a real key."""

DEMO_SECRET_KEY: Final[str] = "demo-secret-0000-key1"
"""Public on purpose: the simulator only ever runs on loopback with a made-up book."""

WS_PATH: Final = "/linear-swap-trade"
"""The exchange's path, so the signed path and the URL shape are the production ones."""

AUTH_WINDOW_SECONDS: Final = 300.0
"""HTX accepts a signature Timestamp for 5 minutes either side of its own clock."""

DEMO_USER_ID: Final = "12345678"

_CONTRACT_RE: Final = re.compile(r"^[A-Z0-9]{1,20}-[A-Z]{2,10}(-\d{6})?$")
"""Upper case only: the exchange wants it upper-cased, and a client that forgets should notice."""

_TIMESTAMP_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
"""strptime alone would also take single-digit fields; HTX's format is fixed width."""

_BOMB_INFLATED_BYTES: Final = 300 * 1024 * 1024
_BOMB_CHUNK: Final = 1 << 20
_CLOSE_TIMEOUT: Final = 1.0
"""Short, so stopping a simulator in a test never waits long on a client that stopped reading."""

_MESSAGES: Final[Mapping[int, str]] = {
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
    2013: "Authentication type doesn't exist.",
    2030: "Exceeds connection limit of single user.",
    2040: "Missing required parameter.",
}
"""Texts copied from htx-error-codes.tsv (socket scope wins for 2xxx), so answers read like HTX's;
the package cannot read that file at run time, and the client must not depend on them anyway."""

_log: Final = logging.getLogger(__name__)


def _message_for(code: int) -> str:
    return _MESSAGES.get(code, "error")


@dataclass
class SimOrder:
    """One order in the simulator's book; `status` is "open", "cancelled" or "filled"."""

    order_id: str
    client_order_id: str | None
    status: str


def demo_book() -> list[SimOrder]:
    """A book in which a first run shows every state: 101-110 cancel, 201-202 are already
    cancelled, 301-302 already filled, and anything else (404, say) does not exist."""
    book = [SimOrder(str(n), str(5000 + n), "open") for n in range(101, 111)]
    book += [SimOrder(str(n), str(5000 + n), "cancelled") for n in (201, 202)]
    book += [SimOrder(str(n), str(5000 + n), "filled") for n in (301, 302)]
    return book


@dataclass
class Faults:
    """What the simulated exchange does wrong, or differently; the defaults behave like HTX.

    Each field exists because the client has to survive it in production: latency (pipelining
    and timeouts), both ping and auth answer forms, clock skew (the 5-minute window), both field
    spellings and number types, the per-request and per-account limits, dropped connections,
    silence, partial answers and hostile frames.

    The simulator reads these fields live, so a test may flip one mid-run; the two queues
    (`hostile`, `request_errors`) are copied when the simulator is built, so one Faults can
    configure several simulators without being used up.
    """

    latency: float = 0.0
    """One-way seconds, each direction; never blocks receiving, never reorders."""
    ping_interval: float = 5.0
    """Seconds between server pings; 0 disables them."""
    market_ping: bool = False
    """Send `{"ping": <int>}` instead of `{"op": "ping", "ts": "<str>"}`."""
    ping_before_auth_answer: bool = False
    """Ping first on auth, and answer the auth only once the matching pong is in."""
    auth_form: str = "cid"
    """ "cid" answers `{"code": 200, "cid": ...}`; "op" answers `{"op": "auth", "err-code": 0, ...}`
    with no cid, as HTX documents it."""
    auth_error: int | None = None
    """Refuse every auth with this code."""
    clock_skew: float = 0.0
    """Seconds added to the simulator's clock: answer `ts` and the auth window both use it."""
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
    """Never answer auth."""
    omit_id_once: bool = False
    """The first normal cancel answer leaves out its last ID (which is applied all the same)."""
    hostile: list[str] = field(default_factory=list)
    """One per applied cancel request, instead of its answer: "garbage", "invalid_json", "shape",
    "bomb", "close" or "error"."""
    request_errors: list[int] = field(default_factory=list)
    """One per authenticated cancel request: answer the whole request with this code, apply nothing."""


@dataclass(frozen=True)
class Received:
    """One frame as it reached the simulator, before any added latency."""

    t: float
    connection: int
    message: dict[str, object] | None
    raw: str


@dataclass
class CancelRecord:
    """One cancel_batch_orders request as it reached the wire, and what became of it.

    Mutable on purpose: the server thread fills in `answered_at`, `code`, `applied` and `fault`
    once it gets to them, and a test simply re-reads the record.
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


@dataclass
class _Outgoing:
    """A frame (or a disconnect) waiting for its one-way latency to pass before it is written."""

    due: float
    payload: bytes | None
    after: str | None = None
    """"close" for a WebSocket close, "drop" for a bare TCP close, after the payload (if any)."""
    record: CancelRecord | None = None
    code: int = 0


def _now_wall() -> float:
    return time.time()


def _gzip_json(obj: object) -> bytes:
    """HTX sends every frame as gzip-compressed JSON in a binary frame."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), mtime=0)


@functools.lru_cache(maxsize=1)
def _bomb() -> bytes:
    """A single-member gzip of about 300 kB that inflates to 300 MB of zeros.

    Compressing 300 MB takes most of a second, too slow under a loaded test run, so one 1 MiB
    chunk is deflated once with a full flush (which byte-aligns and resets the history, making
    every chunk's output identical) and the piece is repeated. The simulator never holds the
    inflated size; only the CRC is computed over it, a chunk at a time.
    """
    chunk = bytes(_BOMB_CHUNK)
    count = _BOMB_INFLATED_BYTES // _BOMB_CHUNK
    middle = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = middle.compress(chunk) + middle.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    last = final.compress(chunk) + final.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
    trailer = struct.pack("<II", crc, (count * _BOMB_CHUNK) & 0xFFFFFFFF)
    return header + piece * (count - 1) + last + trailer


def _hostile_payload(kind: str, ts: int) -> bytes:
    """The frame that replaces an answer for one hostile fault."""
    if kind == "garbage":
        # 0xff can start neither gzip nor UTF-8, so the bytes are undecodable however read.
        return b"\xff" + os.urandom(63)
    if kind == "invalid_json":
        return gzip.compress(b'{"cid": ', mtime=0)
    if kind == "shape":
        return _gzip_json([1, 2, 3])
    if kind == "bomb":
        return _bomb()
    if kind == "close":
        return _gzip_json({"op": "close", "ts": ts})
    return _gzip_json({"op": "error", "ts": ts})


_HOSTILE_KINDS: Final = frozenset({"garbage", "invalid_json", "shape", "bomb", "close", "error"})


def _id_list(value: object) -> tuple[str, ...] | None:
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


def _json_key(value: object) -> str:
    """Pongs must echo the ping's ts exactly, type included: "1" and 1 are different answers."""
    return json.dumps(value, sort_keys=True)


class Simulator:
    """An HTX-compatible trade socket on loopback with an in-memory book and injectable faults.

    `start()` runs it on its own event loop in a daemon thread so synchronous tests and the
    synchronous CLI can use it; `serve()` runs the same thing on the caller's loop.
    """

    def __init__(
        self,
        orders: list[SimOrder] | None = None,
        faults: Faults | None = None,
        credentials: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.faults: Final = faults if faults is not None else Faults()
        self._credentials: Final = dict(
            credentials if credentials is not None else {DEMO_ACCESS_KEY: DEMO_SECRET_KEY}
        )
        self._host: Final = host
        self._port = port
        self._ssl: Final = ssl_context
        # Copies, so a caller's SimOrder objects (or demo_book's) are never mutated behind it.
        book = [replace(order) for order in (orders if orders is not None else demo_book())]
        self._by_id: Final = {order.order_id: order for order in book}
        self._by_client: Final = {
            order.client_order_id: order for order in book if order.client_order_id is not None
        }
        # The test thread reads while the server thread writes; one lock covers all shared state.
        self._lock: Final = threading.Lock()
        self._received: list[Received] = []
        self._cancels: list[CancelRecord] = []
        self._connections = 0
        self._pongs = 0
        self._rate_limited = 0
        self._applied = 0
        self._omitted = False
        self._last_ping_ms = 0
        # Only touched on the server's loop.
        self._arrivals: dict[str, deque[float]] = {}
        self._hostile: Final = deque(self.faults.hostile)
        self._request_errors: Final = deque(self.faults.request_errors)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None

    # ----------------------------------------------------------------- public, thread-safe view

    @property
    def url(self) -> str:
        """Where to connect; TLS uses the name "localhost" because that is what certificates name."""
        if self._ssl is not None:
            return f"wss://localhost:{self._port}{WS_PATH}"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self._port}{WS_PATH}"

    @property
    def received(self) -> list[Received]:
        """Every frame from every client, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._received)

    @property
    def cancels(self) -> list[CancelRecord]:
        """Every cancel_batch_orders request, in arrival order (a snapshot of live records)."""
        with self._lock:
            return list(self._cancels)

    @property
    def connections(self) -> int:
        """How many WebSocket connections were accepted so far."""
        with self._lock:
            return self._connections

    @property
    def pongs(self) -> int:
        """Pongs that echoed a ping this simulator sent, in the same form and with the same ts."""
        with self._lock:
            return self._pongs

    @property
    def rate_limited(self) -> int:
        """How many 1032 answers were sent."""
        with self._lock:
            return self._rate_limited

    def order(self, order_id: str) -> SimOrder:
        """A copy of the order's current state; KeyError when the book has no such order."""
        with self._lock:
            return replace(self._by_id[order_id])

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        """Listen on a thread of its own and return once connections are accepted."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name="htx-cancel-sim", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._error is not None:
            error, self._error = self._error, None
            self._thread.join()
            self._thread = None
            raise error
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and wait for the thread to end."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be gone
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._run_until_stopped(ready))
        except BaseException as exc:  # handed to start(), which re-raises it in the caller
            self._error = exc
        finally:
            ready.set()

    async def _run_until_stopped(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        async with self._listen() as server:
            self._bound(server)
            ready.set()
            await self._stop_event.wait()

    def _listen(self) -> contextlib.AbstractAsyncContextManager[Server]:
        """The websockets server: no library pings (HTX pings in JSON) and no permessage-deflate
        (HTX gzips each frame itself)."""
        return _ws_serve(
            self._handle,
            self._host,
            self._port,
            ssl=self._ssl,
            compression=None,
            ping_interval=None,
            close_timeout=_CLOSE_TIMEOUT,
            process_request=self._check_path,
            start_serving=True,
        )

    def _bound(self, server: Server) -> None:
        self._port = int(server.sockets[0].getsockname()[1])

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse other paths the way the exchange would, so a wrong URL fails at connect time."""
        if urlsplit(request.path).path != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self._connections += 1
            number = self._connections
        await _Connection(self, ws, number).run()

    # ----------------------------------------------------------------- helpers for connections

    def now_ms(self) -> int:
        """The simulated exchange clock, skew included, in milliseconds."""
        return int((_now_wall() + self.faults.clock_skew) * 1000)

    def _ping_ts(self) -> int:
        """Strictly increasing, so two pings in the same millisecond cannot be confused."""
        with self._lock:
            self._last_ping_ms = max(self.now_ms(), self._last_ping_ms + 1)
            return self._last_ping_ms

    def _record(self, item: Received, cancel: CancelRecord | None) -> None:
        with self._lock:
            self._received.append(item)
            if cancel is not None:
                self._cancels.append(cancel)

    def _count_pong(self) -> None:
        with self._lock:
            self._pongs += 1

    def _arrival_over_limit(self, access_key: str, t: float) -> bool:
        """Count this request in the account's sliding window; True when it is over the limit."""
        window = self._arrivals.setdefault(access_key, deque())
        window.append(t)
        while window and window[0] <= t - self.faults.rate_window:
            window.popleft()
        return len(window) > self.faults.rate_limit

    def _apply(
        self, order_ids: tuple[str, ...], client_ids: tuple[str, ...]
    ) -> tuple[list[dict[str, object]], int]:
        """Cancel what can be cancelled; per-order entries in request order, and the count applied."""
        faults = self.faults
        id_key, client_key = (
            ("order_id", "client_order_id") if faults.spelling == "snake" else ("orderId", "clientOrderId")
        )

        def ident(value: str | None) -> object:
            if value is not None and faults.numbers and value.isdigit():
                return int(value)
            return value

        def entry(order_id: str | None, client_id: str | None, code: int) -> dict[str, object]:
            return {
                id_key: ident(order_id),
                client_key: ident(client_id),
                "code": str(code) if faults.string_codes else code,
                "message": _message_for(code),
            }

        def outcome(order: SimOrder) -> int:
            if order.status == "open":
                order.status = "cancelled"
                return 200
            return 1071 if order.status == "cancelled" else 1063

        entries: list[dict[str, object]] = []
        with self._lock:
            for ids, index, by_order in (
                (order_ids, self._by_id, True),
                (client_ids, self._by_client, False),
            ):
                for given in ids:
                    order = index.get(given)
                    if order is not None:
                        entries.append(entry(order.order_id, order.client_order_id, outcome(order)))
                    else:
                        entries.append(entry(given, None, 1061) if by_order else entry(None, given, 1061))
            self._applied += 1
            applied = self._applied
        return entries, applied

    def _take_omit(self) -> bool:
        with self._lock:
            if self.faults.omit_id_once and not self._omitted:
                self._omitted = True
                return True
            return False

    def _count_rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def _verify_auth(self, message: Mapping[str, object], host: str, path: str) -> int:
        """0 when the auth request is good, else the code to refuse it with."""
        if self.faults.auth_error is not None:
            return self.faults.auth_error
        if message.get("type") != "api":
            return 2013 if message.get("type") is not None else 2002
        fields = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "Timestamp", "Signature")
        values = [message.get(name) for name in fields]
        if any(not isinstance(value, str) or not value for value in values):
            return 2002
        access_key, method, version, timestamp, signature = (str(value) for value in values)
        if method != SIGNATURE_METHOD or version != SIGNATURE_VERSION:
            return 2003
        secret = self._credentials.get(access_key)
        if secret is None or not _TIMESTAMP_RE.match(timestamp):
            return 2003
        try:
            moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return 2003
        if abs(moment.timestamp() - (_now_wall() + self.faults.clock_skew)) > AUTH_WINDOW_SECONDS:
            return 2003
        expected = sign(secret, host, path, signed_params(access_key, timestamp))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return 2003
        return 0


class _Connection:
    """One client: a receive loop that records and enqueues, a worker that processes in order
    after the added latency, a sender that writes in order after it again, and the ping timer.

    Splitting them is what lets a second request be received (and recorded) while the first
    one's answer is still on its simulated way back, exactly as pipelining needs.
    """

    def __init__(self, sim: Simulator, ws: ServerConnection, number: int) -> None:
        self.sim: Final = sim
        self.ws: Final = ws
        self.number: Final = number
        self.inbox: asyncio.Queue[tuple[float, dict[str, object] | None, CancelRecord | None]]
        self.inbox = asyncio.Queue()
        self.outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self.access_key: str | None = None
        self.dead = False
        self.pings: set[tuple[bool, str]] = set()
        self.auth_after_pong: dict[tuple[bool, str], tuple[dict[str, object], str | None]] = {}
        request = ws.request
        host_header = request.headers.get("Host", "") if request is not None else ""
        self.host: Final = _host_without_port(host_header or "")
        self.path: Final = urlsplit(request.path).path if request is not None else WS_PATH

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._send())]
        if self.sim.faults.ping_interval > 0:
            tasks.append(asyncio.create_task(self._ping_timer()))
        try:
            await self._receive()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ----------------------------------------------------------------- the three loops

    async def _receive(self) -> None:
        while True:
            try:
                data = await self.ws.recv()
            except ConnectionClosed:
                return
            t = time.monotonic()
            raw = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
            message = _parse(raw)
            cancel = _cancel_record(t, self.number, message)
            self.sim._record(Received(t, self.number, message, raw), cancel)
            await self.inbox.put((t, message, cancel))

    async def _work(self) -> None:
        while not self.dead:
            t, message, cancel = await self.inbox.get()
            delay = t + self.sim.faults.latency - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.dead:
                return
            try:
                await self._process(t, message, cancel)
            except Exception:  # a simulator bug must not look like a network fault to a test
                _log.exception("simulator failed to process a frame")
                self._reply({"op": "error", "ts": self.sim.now_ms()})

    async def _send(self) -> None:
        while True:
            out = await self.outbox.get()
            delay = out.due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if out.payload is not None:
                    # Recorded just before the write, so a test that has the answer in hand
                    # always finds the record filled in; taken back if the write fails.
                    if out.record is not None:
                        out.record.answered_at = time.monotonic()
                        out.record.code = out.code
                    try:
                        await self.ws.send(out.payload)
                    except ConnectionClosed:
                        if out.record is not None:
                            out.record.answered_at, out.record.code = None, 0
                        raise
                if out.after == "drop":
                    self.ws.transport.close()
                    return
                if out.after == "close":
                    await self.ws.close()
                    return
            except ConnectionClosed:
                return

    async def _ping_timer(self) -> None:
        while True:
            await asyncio.sleep(self.sim.faults.ping_interval)
            self._ping()

    # ----------------------------------------------------------------- output

    def _enqueue(self, out: _Outgoing) -> None:
        self.outbox.put_nowait(out)

    def _reply(
        self,
        obj: object,
        *,
        record: CancelRecord | None = None,
        code: int = 0,
        after: str | None = None,
    ) -> None:
        self._send_raw(_gzip_json(obj), record=record, code=code, after=after)

    def _send_raw(
        self,
        payload: bytes | None,
        *,
        record: CancelRecord | None = None,
        code: int = 0,
        after: str | None = None,
    ) -> None:
        due = time.monotonic() + self.sim.faults.latency
        self._enqueue(_Outgoing(due, payload, after, record, code))

    def _ping(self) -> tuple[bool, str]:
        ts = self.sim._ping_ts()
        market = self.sim.faults.market_ping
        frame: dict[str, object] = {"ping": ts} if market else {"op": "ping", "ts": str(ts)}
        key = (market, _json_key(ts if market else str(ts)))
        self.pings.add(key)
        self._reply(frame)
        return key

    # ----------------------------------------------------------------- processing

    async def _process(
        self, t: float, message: dict[str, object] | None, cancel: CancelRecord | None
    ) -> None:
        if message is None:
            self._reply({"op": "error", "ts": self.sim.now_ms()})
            return
        op = message.get("op")
        if op == "auth":
            self._auth(message)
        elif op == "cancel_batch_orders" and cancel is not None:
            await self._cancel(t, message, cancel)
        elif op == "pong":
            self._pong(False, message.get("ts"))
        elif op is None and "pong" in message:
            self._pong(True, message.get("pong"))
        elif op == "ping":
            self._reply({"op": "pong", "ts": message.get("ts")})
        elif op is None and "ping" in message:
            self._reply({"pong": message.get("ping")})
        else:
            self._reply({"op": "error", "ts": self.sim.now_ms()})

    def _pong(self, market: bool, ts: object) -> None:
        key = (market, _json_key(ts))
        if key not in self.pings:
            return
        self.pings.discard(key)
        self.sim._count_pong()
        if key in self.auth_after_pong:
            self._answer_auth(*self.auth_after_pong.pop(key))

    def _auth(self, message: dict[str, object]) -> None:
        faults = self.sim.faults
        code = self.sim._verify_auth(message, self.host, self.path)
        answer = self._auth_answer(message.get("cid"), code)
        access_key = message.get("AccessKeyId")
        granted = access_key if code == 0 and isinstance(access_key, str) else None
        if faults.silent_auth:
            return
        if faults.ping_before_auth_answer:
            self.auth_after_pong[self._ping()] = (answer, granted)
            return
        self._answer_auth(answer, granted)

    def _answer_auth(self, answer: dict[str, object], access_key: str | None) -> None:
        """Send an auth answer; the connection counts as authenticated from this moment only,
        as it would at the exchange, where the client learns of it no earlier either."""
        if access_key is not None:
            self.access_key = access_key
        self._reply(answer)

    def _auth_answer(self, cid: object, code: int) -> dict[str, object]:
        faults = self.sim.faults
        answer: dict[str, object]
        if faults.auth_form == "op":
            answer = {"op": "auth", "type": "api", "err-code": code, "ts": self.sim.now_ms()}
            if code == 0:
                answer["data"] = {"user-id": DEMO_USER_ID}
            else:
                answer["err-msg"] = _message_for(code)
        else:
            wire = 200 if code == 0 else code
            answer = {
                "code": str(wire) if faults.string_codes else wire,
                "message": _message_for(wire),
                "ts": self.sim.now_ms(),
            }
        # HTX documents the `op: auth` form without a cid; the trade socket's own form echoes it.
        if cid is not None and faults.auth_form != "op":
            answer["cid"] = cid
        return answer

    def _envelope(self, message: Mapping[str, object], code: int) -> dict[str, object]:
        """The whole-request part of a cancel answer, shaped as HTX's example: no op, the cid."""
        answer: dict[str, object] = {
            "code": str(code) if self.sim.faults.string_codes else code,
            "message": _message_for(code),
        }
        if "cid" in message:
            answer["cid"] = message["cid"]
        answer["ts"] = self.sim.now_ms()
        return answer

    def _whole(self, message: Mapping[str, object], record: CancelRecord, code: int) -> None:
        """Answer the whole request with one code; nothing in it was applied."""
        self._reply(self._envelope(message, code), record=record, code=code)

    async def _cancel(self, t: float, message: dict[str, object], record: CancelRecord) -> None:
        """Checks in the exchange's order: auth, injected request error, rate limit, input, cap."""
        sim, faults = self.sim, self.sim.faults
        if self.access_key is None:
            if faults.silent:
                record.fault = "silent"
            else:
                self._whole(message, record, 2002)
            return
        over_limit = sim._arrival_over_limit(self.access_key, t)
        if faults.silent:
            record.fault = "silent"
            return
        if sim._request_errors:
            self._whole(message, record, sim._request_errors.popleft())
            return
        if over_limit:
            sim._count_rate_limited()
            self._whole(message, record, 1032)
            return
        data = message.get("data")
        if not isinstance(data, dict):
            self._whole(message, record, 1030)
            return
        contract = data.get("contract_code")
        order_ids = _id_list(data.get("order_id"))
        client_ids = _id_list(data.get("client_order_id"))
        if (
            not isinstance(contract, str)
            or not _CONTRACT_RE.match(contract)
            or order_ids is None
            or client_ids is None
            or not (order_ids or client_ids)
        ):
            self._whole(message, record, 1030)
            return
        if len(order_ids) + len(client_ids) > faults.max_ids:
            self._whole(message, record, 1052)
            return
        entries, applied = sim._apply(order_ids, client_ids)
        record.applied = True
        if faults.drop_after_cancel is not None and applied == faults.drop_after_cancel:
            record.fault = "drop"
            self.dead = True
            self._send_raw(None, after="drop")
            return
        if sim._hostile:
            kind = sim._hostile.popleft()
            kind = kind if kind in _HOSTILE_KINDS else "error"
            record.fault = f"hostile:{kind}"
            # The bomb takes most of a second to build the first time: off the loop, so pings and
            # other connections carry on meanwhile.
            payload = await asyncio.get_running_loop().run_in_executor(
                None, _hostile_payload, kind, sim.now_ms()
            )
            if kind == "close":
                self.dead = True
            self._send_raw(payload, after="close" if kind == "close" else None)
            return
        if entries and sim._take_omit():
            entries = entries[:-1]
            record.fault = "omit"
        answer = self._envelope(message, 200)
        answer["data"] = entries
        self._reply(answer, record=record, code=200)


def _host_without_port(host: str) -> str:
    """The Host header as the client signed it: lower case, no port, no IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _parse(raw: str) -> dict[str, object] | None:
    """A client frame as a JSON object, or None for anything else: garbage is recorded, not fatal."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None


def _cancel_record(t: float, number: int, message: dict[str, object] | None) -> CancelRecord | None:
    """What a cancel request asked for, taken down as it arrived, before any check or latency."""
    if message is None or message.get("op") != "cancel_batch_orders":
        return None
    data = message.get("data")
    data = data if isinstance(data, dict) else {}
    contract = data.get("contract_code")
    cid = message.get("cid")
    return CancelRecord(
        t=t,
        connection=number,
        cid="" if cid is None else str(cid),
        contract_code=contract if isinstance(contract, str) else "",
        order_ids=_id_list(data.get("order_id")) or (),
        client_order_ids=_id_list(data.get("client_order_id")) or (),
    )


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the demo book on the caller's loop until cancelled (the `htx-cancel-sim` command);
    `ready(url)` is called once connections are accepted, so the URL printed is a working one."""
    sim = Simulator(demo_book(), faults, host=host, port=port)
    async with sim._listen() as server:
        sim._bound(server)
        if ready is not None:
            ready(sim.url)
        await server.serve_forever()
