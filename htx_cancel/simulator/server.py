"""The thin server around the exchange: sockets, clocks, latency, records and injected faults.

The rules are in `exchange.py`; this module moves bytes. One websockets server on one port
answers the REST reads as plain HTTP in `process_request` and hands each WebSocket path to a
connection class of its own. Each WebSocket connection gets a receive loop that records and
enqueues, a worker that processes in order after the added latency, a sender that writes in
order after it again, and a ping timer. Splitting them is what lets a second request be
received (and recorded) while the first one's answer is still on its simulated way back,
exactly as pipelining needs.

One lock guards the exchange and every record, because tests read them from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import TracebackType
from typing import Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from htx_cancel.simulator.book import SimOrder, demo_book
from htx_cancel.simulator.exchange import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    NOTIFY_PATH,
    OPENS_PATH,
    REST_PATHS,
    TRADE_BUDGET,
    WS_PATH,
    CancelResult,
    Exchange,
    id_list,
)
from htx_cancel.simulator.faults import HOSTILE_KINDS, Faults
from htx_cancel.simulator.records import (
    CancelRecord,
    PushRecord,
    Received,
    RestRecord,
    SubscriptionRecord,
)
from htx_cancel.simulator.wire import (
    ENDLESS_FIRST,
    ENDLESS_PIECE,
    OPCODE_BINARY,
    OPCODE_CONTINUATION,
    OPCODE_TEXT,
    OVERSIZED_CHUNK,
    OVERSIZED_DECLARED_BYTES,
    frame,
    frame_header,
    gzip_json,
    hostile_payload,
    json_text,
)

_CLOSE_TIMEOUT: Final = 1.0
"""Short, so stopping a simulator in a test never waits long on a client that stopped reading."""

_log: Final = logging.getLogger("htx_cancel.simulator")

_T = TypeVar("_T")


@dataclass
class _Outgoing:
    """A frame (or a disconnect) waiting for its one-way latency to pass before it is written."""

    due: float
    payload: bytes | str | None
    after: str | None = None
    """"close" for a WebSocket close, "drop" for a bare TCP close, after the payload (if any)."""
    sent: Callable[[float], None] | None = None
    """Called just before the payload is written, with the time: records the answer as given."""
    unsent: Callable[[], None] | None = None
    """Called when that write failed: takes the record back."""
    raw: Callable[[], Awaitable[bool]] | None = None
    """Bytes written below websockets instead of a payload; True when the connection can go on."""


def _now_wall() -> float:
    return time.time()


def _json_key(value: object) -> str:
    """Pongs must echo the ping's ts exactly, type included: "1" and 1 are different answers."""
    return json.dumps(value, sort_keys=True)


class Simulator:
    """HTX's trade socket, v5 notification socket and two v5 REST reads on one loopback port,
    over one in-memory book, with injectable faults.

    `start()` runs it on its own event loop in a daemon thread so synchronous tests and the
    synchronous CLI can use it; `serve()` runs the same thing on the caller's loop. Every
    public attribute is safe to read from another thread and returns a snapshot.
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
        self._host: Final = host
        self._port = port
        self._ssl: Final = ssl_context
        # The test thread reads while the server thread writes; one lock covers the exchange and
        # every record.
        self._lock: Final = threading.Lock()
        self._exchange: Final = Exchange(
            orders if orders is not None else demo_book(),
            credentials if credentials is not None else {DEMO_ACCESS_KEY: DEMO_SECRET_KEY},
            self.faults,
            self.now_ms(),
        )
        self._received: list[Received] = []
        self._cancels: list[CancelRecord] = []
        self._connections = 0
        self._notify_connections = 0
        self._subscriptions: list[SubscriptionRecord] = []
        self._pushes: list[PushRecord] = []
        self._rest_requests: list[RestRecord] = []
        self._read_rate_limited = 0
        self._late_orders: list[SimOrder] | None = list(self.faults.add_after_first_listing)
        self._pongs = 0
        self._rate_limited = 0
        self._applied = 0
        self._omitted = False
        self._last_ping_ms = 0
        self._streams = 0
        self._raw_written = 0
        # Only touched on the server's loop.
        self._hostile: Final = deque(self.faults.hostile)
        self._request_errors: Final = deque(self.faults.request_errors)
        self._notify: Final[set[_NotifyConnection]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None

    # ----------------------------------------------------------------- public, thread-safe view

    @property
    def url(self) -> str:
        """The trade socket; TLS uses the name "localhost" because that is what certificates name."""
        return f"{self._scheme('ws')}://{self._authority()}{WS_PATH}"

    @property
    def notify_url(self) -> str:
        """The v5 notification socket (order pushes), on the same port."""
        return f"{self._scheme('ws')}://{self._authority()}{NOTIFY_PATH}"

    @property
    def rest_url(self) -> str:
        """The REST calls' base (`/v5/trade/order`, `/v5/trade/order/opens`), on the same port."""
        return f"{self._scheme('http')}://{self._authority()}"

    @property
    def received(self) -> list[Received]:
        """Every frame from every client, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._received)

    @property
    def cancels(self) -> list[CancelRecord]:
        """Every cancel_batch_orders request, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._cancels)

    @property
    def connections(self) -> int:
        """How many trade-socket connections were accepted so far."""
        with self._lock:
            return self._connections

    @property
    def notify_connections(self) -> int:
        """How many notification-socket connections were accepted so far."""
        with self._lock:
            return self._notify_connections

    @property
    def subscriptions(self) -> list[SubscriptionRecord]:
        """Every `op: sub` / `op: unsub` on the notification socket, in arrival order."""
        with self._lock:
            return list(self._subscriptions)

    @property
    def pushes(self) -> list[PushRecord]:
        """Every order push written, in the order written."""
        with self._lock:
            return list(self._pushes)

    @property
    def rest_requests(self) -> list[RestRecord]:
        """Every plain HTTP request on the port (the REST calls), in arrival order."""
        with self._lock:
            return list(self._rest_requests)

    @property
    def read_rate_limited(self) -> int:
        """How many 1032 answers the REST reads' rate window caused."""
        with self._lock:
            return self._read_rate_limited

    @property
    def pongs(self) -> int:
        """Pongs that echoed a ping this simulator sent, in the same form and with the same ts."""
        with self._lock:
            return self._pongs

    @property
    def rate_limited(self) -> int:
        """How many 1032 answers the cancels' rate window caused."""
        with self._lock:
            return self._rate_limited

    @property
    def hostile_streams(self) -> int:
        """Raw hostile writes ("oversized", "drip", "endless_fragments") still going on."""
        with self._lock:
            return self._streams

    @property
    def raw_written(self) -> int:
        """Bytes those raw hostile writes have put on the wire so far, frame headers included."""
        with self._lock:
            return self._raw_written

    def order(self, order_id: str) -> SimOrder:
        """A copy of the order's current state; KeyError when the book has no such order."""
        with self._lock:
            return self._exchange.order(order_id)

    def orders(self) -> list[SimOrder]:
        """Copies of every order in the book, in order-ID order."""
        with self._lock:
            return self._exchange.orders()

    def add_orders(self, orders: Iterable[SimOrder]) -> None:
        """Place orders while the simulator runs (copies are taken)."""
        with self._lock:
            self._exchange.add(orders, self.now_ms())

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
            # websockets 13 awaits a coroutine here too, but its annotation says otherwise.
            process_request=self._process_request,  # type: ignore[arg-type, unused-ignore]
            start_serving=True,
        )

    def _bound(self, server: Server) -> None:
        self._loop = asyncio.get_running_loop()
        self._port = int(next(iter(server.sockets)).getsockname()[1])

    def _scheme(self, plain: str) -> str:
        return plain + "s" if self._ssl is not None else plain

    def _authority(self) -> str:
        if self._ssl is not None:
            return f"localhost:{self._port}"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Route by path before the WebSocket handshake: the two sockets go on to it, the REST
        calls are answered here as plain HTTP (websockets sends any Response given back and
        closes), and other paths are refused the way the exchange would, so a wrong URL fails
        at connect time."""
        path = urlsplit(request.path).path
        if path in (WS_PATH, NOTIFY_PATH):
            return None
        if path in REST_PATHS:
            return await self._rest(request)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    async def _rest(self, request: Request) -> Response:
        """One signed GET: the latency each way, the exchange's answer (or an injected HTTP
        failure, code or body), and the record, taken just before the answer is written."""
        t = time.monotonic()
        split = urlsplit(request.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        host = _host_without_port(request.headers.get("Host", ""))
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        status, body, content_type, code = self._rest_answer(split.path, params, host, t)
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        record = RestRecord(t, "GET", split.path, split.query, dict(params), status, code, time.monotonic())
        with self._lock:
            self._rest_requests.append(record)
        return _http_response(status, body, content_type)

    def _rest_answer(
        self, path: str, params: list[tuple[str, str]], host: str, t: float
    ) -> tuple[int, bytes, str, int | None]:
        """(HTTP status, body, content type, answer code) for one REST call."""
        faults = self.faults
        listing = path == OPENS_PATH
        http_status = faults.list_http_status if listing else faults.query_http_status
        if http_status is not None:
            return http_status, f"{http_status} {_reason(http_status)}\n".encode(), _TEXT, None
        forced = faults.list_error if listing else faults.query_error
        now = self.now_ms()
        with self._lock:
            answer = self._exchange.rest(path, params, host, t, now, forced)
            if answer.rate_limited:
                self._read_rate_limited += 1
            if listing and answer.code == 200 and answer.short_page and self._late_orders is not None:
                # The first listing has ended: orders "placed meanwhile" show up in the next one.
                self._exchange.add(self._late_orders, now)
                self._late_orders = None
        if listing and faults.list_body is not None and answer.access_key is not None:
            return 200, faults.list_body, _JSON, None
        return 200, json_text(answer.body).encode(), _JSON, answer.code

    async def _handle(self, ws: ServerConnection) -> None:
        """One WebSocket connection, on whichever socket its path named (numbered per socket)."""
        notify = ws.request is not None and urlsplit(ws.request.path).path == NOTIFY_PATH
        with self._lock:
            if notify:
                self._notify_connections += 1
                number = self._notify_connections
            else:
                self._connections += 1
                number = self._connections
        if not notify:
            await _TradeConnection(self, ws, number).run()
            return
        connection = _NotifyConnection(self, ws, number)
        self._notify.add(connection)
        try:
            await connection.run()
        finally:
            self._notify.discard(connection)

    # ----------------------------------------------------------------- helpers for connections

    def now_ms(self) -> int:
        """The simulated exchange clock, skew included, in milliseconds."""
        return int((_now_wall() + self.faults.clock_skew) * 1000)

    def _locked(self, call: Callable[[Exchange], _T]) -> _T:
        """Run one exchange rule under the lock (the test thread may be reading the book)."""
        with self._lock:
            return call(self._exchange)

    def _ping_ts(self) -> int:
        """Strictly increasing, so two pings in the same millisecond cannot be confused."""
        with self._lock:
            self._last_ping_ms = max(self.now_ms(), self._last_ping_ms + 1)
            return self._last_ping_ms

    def _record(self, item: Received, cancel: CancelRecord | None) -> int | None:
        """Keep a frame (and the cancel it asked for); the cancel's index, to update it later."""
        with self._lock:
            self._received.append(item)
            if cancel is None:
                return None
            self._cancels.append(cancel)
            return len(self._cancels) - 1

    def _update_cancel(self, index: int, **changes: object) -> None:
        """Replace a cancel record under the lock: readers only ever see whole, frozen records."""
        with self._lock:
            self._cancels[index] = replace(self._cancels[index], **changes)  # type: ignore[arg-type]

    def _count_pong(self) -> None:
        with self._lock:
            self._pongs += 1

    def _cancel_batch(
        self, message: Mapping[str, object], access_key: str | None, t: float, forced: int | None
    ) -> tuple[CancelResult, int]:
        """The exchange's cancel rule, and (when applied) how many requests were applied so far."""
        with self._lock:
            result = self._exchange.cancel_batch(message, access_key, t, self.now_ms(), forced)
            if result.rate_limited:
                self._rate_limited += 1
            if result.applied:
                self._applied += 1
            return result, self._applied

    def _record_subscription(self, record: SubscriptionRecord) -> None:
        with self._lock:
            self._subscriptions.append(record)

    def _record_push(self, record: PushRecord, keep: bool = True) -> None:
        """Keep a push as written, or take it back (`keep=False`) when the write failed."""
        with self._lock:
            if keep:
                self._pushes.append(record)
            else:
                self._pushes[:] = [kept for kept in self._pushes if kept is not record]

    def _after_cancel(self, access_key: str, result: CancelResult) -> None:
        """Orders a cancel changed are pushed, and cancels in progress complete, `push_delay`
        seconds later (on the server's loop)."""
        loop = asyncio.get_running_loop()
        delay = self.faults.push_delay
        if result.pushes:
            loop.call_later(delay, self._deliver, access_key, result.pushes)
        if result.settling:
            loop.call_later(delay, self._settle, access_key, result.settling)

    def _settle(self, access_key: str, order_ids: tuple[str, ...]) -> None:
        now = self.now_ms()
        with self._lock:
            settled = [self._exchange.settle(order_id, now) for order_id in order_ids]
        self._deliver(access_key, tuple(data for data in settled if data is not None))

    def _deliver(self, access_key: str, pushes: tuple[dict[str, object], ...]) -> None:
        """Push final states to every notification connection of the account subscribed to the
        order's contract (the exchange changed the order whether or not anyone listens)."""
        if self.faults.no_pushes:
            return
        for connection in list(self._notify):
            if connection.access_key != access_key:
                continue
            for data in pushes:
                if connection.covers(str(data["contract_code"])):
                    connection.push(data)
                    if self.faults.duplicate_pushes:
                        connection.push(Exchange.stale_copy(data), stale=True)

    def _count_stream(self, delta: int) -> None:
        with self._lock:
            self._streams += delta

    def _count_raw(self, size: int) -> None:
        with self._lock:
            self._raw_written += size

    def _take_omit(self) -> bool:
        with self._lock:
            if self.faults.omit_id_once and not self._omitted:
                self._omitted = True
                return True
            return False


class _Connection:
    """What both sockets share: the three loops, pings and pongs, and output with latency."""

    socket: str = "trade"

    def __init__(self, sim: Simulator, ws: ServerConnection, number: int) -> None:
        self.sim: Final = sim
        self.ws: Final = ws
        self.number: Final = number
        self.inbox: asyncio.Queue[tuple[float, dict[str, object] | None, int | None]]
        self.inbox = asyncio.Queue()
        self.outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self.access_key: str | None = None
        self.dead = False
        self.pings: set[tuple[bool, str]] = set()
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
            index = self.sim._record(
                Received(t, self.number, message, raw, self.socket), self._cancel_record(t, message)
            )
            await self.inbox.put((t, message, index))

    async def _work(self) -> None:
        while not self.dead:
            t, message, index = await self.inbox.get()
            delay = t + self.sim.faults.latency - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.dead:
                return
            try:
                await self._process(t, message, index)
            except Exception:  # a simulator bug must not look like a network fault to a test
                _log.exception("simulator failed to process a frame")
                self._reply({"op": "error", "ts": self.sim.now_ms()})

    async def _send(self) -> None:
        while True:
            out = await self.outbox.get()
            delay = out.due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if out.raw is not None:
                if not await out.raw():
                    return
                continue
            try:
                if out.payload is not None:
                    # Recorded just before the write, so a test that has the answer in hand
                    # always finds the record filled in; taken back if the write fails.
                    if out.sent is not None:
                        out.sent(time.monotonic())
                    try:
                        await self.ws.send(out.payload)
                    except ConnectionClosed:
                        if out.unsent is not None:
                            out.unsent()
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

    def _encode(self, obj: object) -> bytes | str:
        return gzip_json(obj)

    def _reply(
        self,
        obj: object,
        *,
        after: str | None = None,
        sent: Callable[[float], None] | None = None,
        unsent: Callable[[], None] | None = None,
    ) -> None:
        self._send_raw(self._encode(obj), after=after, sent=sent, unsent=unsent)

    def _send_raw(
        self,
        payload: bytes | str | None,
        *,
        after: str | None = None,
        sent: Callable[[float], None] | None = None,
        unsent: Callable[[], None] | None = None,
    ) -> None:
        due = time.monotonic() + self.sim.faults.latency
        self.outbox.put_nowait(_Outgoing(due, payload, after, sent, unsent))

    def _ping_frame(self, ts: int) -> tuple[dict[str, object], tuple[bool, str]]:
        return {"op": "ping", "ts": str(ts)}, (False, _json_key(str(ts)))

    def _send_stream(self, stream: Callable[[], Awaitable[bool]]) -> None:
        """Queue a raw write: the sender runs it in turn and writes nothing else meanwhile."""
        due = time.monotonic() + self.sim.faults.latency

        async def counted() -> bool:
            self.sim._count_stream(1)
            try:
                return await stream()
            finally:
                self.sim._count_stream(-1)

        self.outbox.put_nowait(_Outgoing(due, None, raw=counted))

    async def _write_raw(self, data: bytes) -> bool:
        """Write bytes on the transport, below websockets (whose protocol would refuse these
        frames), with flow control: wait while the transport's buffer is above its high-water
        mark, so a client that stops reading holds the simulator's memory at one small chunk.
        False once the client is gone.

        Nothing else is written meanwhile (the sender is busy with this), except what websockets
        writes by itself in answer to the client's control frames (a close, a ping)."""
        transport = self.ws.transport
        if transport.is_closing():
            return False
        transport.write(data)
        self.sim._count_raw(len(data))
        try:
            await self.ws.drain()
        except OSError:  # the connection was lost while the buffer was full
            return False
        return not transport.is_closing()

    def _ping(self) -> tuple[bool, str]:
        frame, key = self._ping_frame(self.sim._ping_ts())
        self.pings.add(key)
        self._reply(frame)
        return key

    def _pong(self, market: bool, ts: object) -> None:
        key = (market, _json_key(ts))
        if key not in self.pings:
            return
        self.pings.discard(key)
        self.sim._count_pong()
        self._ponged(key)

    def _ponged(self, key: tuple[bool, str]) -> None:
        """A ping of ours was answered: nothing more to do unless a subclass waits on it."""

    # ----------------------------------------------------------------- processing

    def _cancel_record(self, t: float, message: dict[str, object] | None) -> CancelRecord | None:
        return None

    async def _process(self, t: float, message: dict[str, object] | None, index: int | None) -> None:
        raise NotImplementedError


class _TradeConnection(_Connection):
    """The trade socket: auth, cancel_batch_orders, both ping forms."""

    socket = "trade"

    def __init__(self, sim: Simulator, ws: ServerConnection, number: int) -> None:
        super().__init__(sim, ws, number)
        self.auth_after_pong: dict[tuple[bool, str], tuple[dict[str, object], str | None]] = {}

    def _ping_frame(self, ts: int) -> tuple[dict[str, object], tuple[bool, str]]:
        if self.sim.faults.market_ping:
            return {"ping": ts}, (True, _json_key(ts))
        return super()._ping_frame(ts)

    def _ponged(self, key: tuple[bool, str]) -> None:
        if key in self.auth_after_pong:
            self._answer_auth(*self.auth_after_pong.pop(key))

    def _cancel_record(self, t: float, message: dict[str, object] | None) -> CancelRecord | None:
        """What a cancel request asked for, taken down as it arrived, before any check or latency."""
        if message is None or message.get("op") != "cancel_batch_orders":
            return None
        data = message.get("data")
        data = data if isinstance(data, dict) else {}
        contract = data.get("contract_code")
        cid = message.get("cid")
        return CancelRecord(
            t=t,
            connection=self.number,
            cid="" if cid is None else str(cid),
            contract_code=contract if isinstance(contract, str) else "",
            order_ids=id_list(data.get("order_id")) or (),
            client_order_ids=id_list(data.get("client_order_id")) or (),
        )

    async def _process(self, t: float, message: dict[str, object] | None, index: int | None) -> None:
        if message is None:
            self._reply({"op": "error", "ts": self.sim.now_ms()})
            return
        op = message.get("op")
        if op == "auth":
            self._auth(message)
        elif op == "cancel_batch_orders" and index is not None:
            await self._cancel(t, message, index)
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

    def _auth(self, message: dict[str, object]) -> None:
        sim, faults = self.sim, self.sim.faults
        now = sim.now_ms()
        if faults.auth_error is not None:
            code, granted = faults.auth_error, None
        else:
            code, granted = sim._locked(lambda ex: ex.socket_auth(message, self.host, self.path, now))
        answer = sim._locked(lambda ex: ex.trade_auth_answer(message.get("cid"), code, now))
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

    def _answer(self, index: int, answer: dict[str, object], code: int) -> None:
        """Send a cancel answer and record it as given just before it is written."""
        sim = self.sim

        def sent(at: float) -> None:
            sim._update_cancel(index, answered_at=at, code=code)

        def unsent() -> None:
            sim._update_cancel(index, answered_at=None, code=0)

        self._reply(answer, sent=sent, unsent=unsent)

    async def _cancel(self, t: float, message: dict[str, object], index: int) -> None:
        """The exchange decides; the faults about the wire (silence, injected whole-request
        errors, drops, hostile frames, an omitted ID) are applied around it here."""
        sim, faults = self.sim, self.sim.faults
        if faults.silent:
            if self.access_key is not None:
                key = self.access_key
                sim._locked(lambda ex: ex.count_arrival(TRADE_BUDGET, key, t))
            sim._update_cancel(index, fault="silent")
            return
        forced = sim._request_errors.popleft() if sim._request_errors and self.access_key else None
        result, applied = sim._cancel_batch(message, self.access_key, t, forced)
        if not result.applied:
            self._answer(index, result.answer, result.code)
            return
        sim._update_cancel(index, applied=True)
        if self.access_key is not None:
            sim._after_cancel(self.access_key, result)
        if faults.drop_after_cancel is not None and applied == faults.drop_after_cancel:
            sim._update_cancel(index, fault="drop")
            self.dead = True
            self._send_raw(None, after="drop")
            return
        if sim._hostile:
            await self._hostile(sim._hostile.popleft(), index, result)
            return
        answer = result.answer
        entries = answer.get("data")
        if isinstance(entries, list) and entries and sim._take_omit():
            answer = {**answer, "data": entries[:-1]}
            sim._update_cancel(index, fault="omit")
        self._answer(index, answer, result.code)

    async def _hostile(self, kind: str, index: int, result: CancelResult) -> None:
        kind = kind if kind in HOSTILE_KINDS else "error"
        self.sim._update_cancel(index, fault=f"hostile:{kind}")
        if kind == "oversized":
            self._send_stream(self._oversized)
            return
        if kind == "endless_fragments":
            self._send_stream(self._endless_fragments)
            return
        if kind == "drip":
            whole = frame(OPCODE_BINARY, gzip_json(result.answer))
            self._send_stream(lambda: self._drip(whole, index, result.code))
            return
        # The bomb takes most of a second to build the first time: off the loop, so pings and
        # other connections carry on meanwhile.
        payload = await asyncio.get_running_loop().run_in_executor(
            None, hostile_payload, kind, self.sim.now_ms()
        )
        if kind == "close":
            self.dead = True
        self._send_raw(payload, after="close" if kind == "close" else None)

    async def _oversized(self) -> bool:
        """A binary frame whose header declares 300 MB, then zeros towards it, one reused chunk
        at a time, for as long as the client keeps the connection."""
        remaining = OVERSIZED_DECLARED_BYTES
        if not await self._write_raw(frame_header(OPCODE_BINARY, remaining)):
            return False
        while remaining > 0:
            chunk = OVERSIZED_CHUNK[: min(remaining, len(OVERSIZED_CHUNK))]
            if not await self._write_raw(chunk):
                return False
            remaining -= len(chunk)
        return True  # the frame is complete (and valid): the stream is back in step

    async def _drip(self, whole: bytes, index: int, code: int) -> bool:
        """The real answer's frame, one byte every `drip_interval`; answered once it is all out."""
        for position in range(len(whole)):
            if position:
                await asyncio.sleep(self.sim.faults.drip_interval)
            if not await self._write_raw(whole[position : position + 1]):
                return False
        self.sim._update_cancel(index, answered_at=time.monotonic(), code=code)
        return True

    async def _endless_fragments(self) -> bool:
        """A text message begun with FIN=0 and continued, FIN=0 every time, until the client
        leaves: each frame is small, only the message never ends."""
        if not await self._write_raw(frame(OPCODE_TEXT, ENDLESS_FIRST, fin=False)):
            return False
        piece = frame(OPCODE_CONTINUATION, ENDLESS_PIECE, fin=False)
        while await self._write_raw(piece):
            await asyncio.sleep(self.sim.faults.fragment_interval)
        return False


class _NotifyConnection(_Connection):
    """The v5 notification socket: auth, `orders` subscriptions, pings both ways, pushes."""

    socket = "notify"

    def __init__(self, sim: Simulator, ws: ServerConnection, number: int) -> None:
        super().__init__(sim, ws, number)
        self.topics: set[str] = set()
        """Contracts subscribed to ("*" for all)."""

    def _encode(self, obj: object) -> bytes | str:
        """Plain JSON text, as HTX's 2026 notes say; gzip binary as its older pages say."""
        return gzip_json(obj) if self.sim.faults.notify_gzip else json_text(obj)

    def covers(self, contract: str) -> bool:
        return contract in self.topics or "*" in self.topics

    async def _process(self, t: float, message: dict[str, object] | None, index: int | None) -> None:
        now = self.sim.now_ms()
        if message is None:
            self._reply({"op": "error", "ts": now})
            return
        op = message.get("op")
        if op == "auth":
            self._auth(message, now)
        elif op in ("sub", "unsub"):
            self._subscribe(t, message, now)
        elif op == "ping":
            self._reply({"op": "pong", "ts": message.get("ts")})
        elif op == "pong":
            self._pong(False, message.get("ts"))
        else:
            self._reply({"op": "error", "ts": now})

    def _auth(self, message: dict[str, object], now: int) -> None:
        sim = self.sim
        if sim.faults.notify_auth_error is not None:
            code, granted = sim.faults.notify_auth_error, None
        else:
            code, granted = sim._locked(lambda ex: ex.socket_auth(message, self.host, self.path, now))
        if granted is not None:
            self.access_key = granted
        self._reply(sim._locked(lambda ex: ex.notify_auth_answer(message.get("cid"), code, now)))

    def _subscribe(self, t: float, message: dict[str, object], now: int) -> None:
        sim, faults = self.sim, self.sim.faults
        op = str(message.get("op"))
        cid, topic, contract = (message.get(name) for name in ("cid", "topic", "contract_code"))
        record = SubscriptionRecord(
            t=t,
            connection=self.number,
            op=op,
            cid=None if cid is None else str(cid),
            topic=topic if isinstance(topic, str) else None,
            contract_code=contract if isinstance(contract, str) else None,
            err_code=None,
        )
        if op == "sub" and faults.sub_silent:
            sim._record_subscription(record)
            return
        if op == "sub" and faults.sub_error is not None:
            answer = sim._locked(lambda ex: ex.refuse_subscription(message, faults.sub_error or 0, now))
            covers = None
        else:
            answer, covers = sim._locked(lambda ex: ex.subscribe(message, self.access_key, now))
        if covers is not None:
            if op == "sub":
                self.topics.add(covers)
            else:
                self.topics.discard(covers)
        code = answer.get("err-code")
        sim._record_subscription(replace(record, err_code=code if isinstance(code, int) else None))
        self._reply(answer)

    def push(self, data: dict[str, object], stale: bool = False) -> None:
        """Write one order push (after the added latency) and record it as it is written."""
        sim = self.sim
        frame = Exchange.push_frame(data, sim.now_ms(), as_list=sim.faults.push_as_list)
        client_id, updated = data.get("client_order_id"), data.get("updated_time")
        record = PushRecord(
            t=0.0,
            connection=self.number,
            order_id=str(data["order_id"]),
            client_order_id=None if client_id is None else str(client_id),
            contract_code=str(data["contract_code"]),
            state=str(data["state"]),
            trade_volume=str(data["trade_volume"]),
            updated_time=updated if isinstance(updated, int) else 0,
            stale=stale,
        )
        written: list[PushRecord] = []

        def sent(at: float) -> None:
            written.append(replace(record, t=at))
            sim._record_push(written[0])

        def unsent() -> None:
            sim._record_push(written[0], keep=False)

        self._reply(frame, sent=sent, unsent=unsent)


_JSON: Final = "application/json"
_TEXT: Final = "text/plain; charset=utf-8"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _http_response(status: int, body: bytes, content_type: str) -> Response:
    """A complete HTTP/1.1 answer; websockets closes the connection after it, which the
    `Connection: close` header tells the client."""
    headers = Headers(
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("Connection", "close")]
    )
    return Response(status, _reason(status), headers, body)


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
