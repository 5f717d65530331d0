"""The simulator seen from a raw client: real loopback socket, real gzip, real signatures.

These tests pin what the simulator puts on the wire, because the engine's tests trust it to
behave like HTX: the trade socket, the notification socket, the REST reads and the raw hostile
frames. websocket-client, http.client and bare sockets are used directly so no htx-cancel client
code is involved (only signing and frames.auth_frame, to build signed requests). The rules
themselves are tested without sockets in test_exchange.py.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import websocket

from htx_cancel.frames import auth_frame
from htx_cancel.models import Credentials
from htx_cancel.signing import sign, signed_params, timestamp_for
from htx_cancel.simulator import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    WS_PATH,
    Faults,
    SimOrder,
    Simulator,
    demo_book,
    open_book,
    serve,
)
from htx_cancel.simulator.exchange import NOTIFY_PATH, OPENS_PATH, ORDER_PATH
from htx_cancel.simulator.wire import frame_header

SimFactory = Callable[..., Simulator]
DEMO = Credentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
GZIP_MAGIC = b"\x1f\x8b"


# ------------------------------------------------------------------------------ client helpers


def connect(sim: Simulator, timeout: float = 3.0) -> websocket.WebSocket:
    return websocket.create_connection(sim.url, timeout=timeout)


def recv_frame(ws: websocket.WebSocket) -> tuple[int, bytes]:
    opcode, data = ws.recv_data()
    return opcode, data if isinstance(data, bytes) else data.encode()


def recv(ws: websocket.WebSocket, *, answer_pings: bool = True) -> dict[str, Any]:
    """The next gzip JSON frame that is not a server ping (pings are answered on the way)."""
    while True:
        opcode, data = recv_frame(ws)
        assert opcode == websocket.ABNF.OPCODE_BINARY
        assert data[:2] == GZIP_MAGIC
        message = json.loads(gzip.decompress(data))
        assert isinstance(message, dict)
        if answer_pings and message.get("op") == "ping":
            ws.send(json.dumps({"op": "pong", "ts": message["ts"]}))
            continue
        if answer_pings and "ping" in message and "op" not in message:
            ws.send(json.dumps({"pong": message["ping"]}))
            continue
        return message


def auth(
    ws: websocket.WebSocket,
    *,
    credentials: Credentials = DEMO,
    moment: datetime | None = None,
    host: str = "127.0.0.1",
    path: str = WS_PATH,
    cid: str = "auth-1",
) -> dict[str, Any]:
    timestamp = timestamp_for(moment or datetime.now(timezone.utc))
    ws.send(auth_frame(credentials, host, path, timestamp, cid).text)
    return recv(ws)


def send_cancel(
    ws: websocket.WebSocket,
    cid: str,
    order_ids: list[str] | None = None,
    client_ids: list[str] | None = None,
    contract: str = "BTC-USDT",
) -> None:
    data: dict[str, Any] = {"contract_code": contract}
    if order_ids is not None:
        data["order_id"] = order_ids
    if client_ids is not None:
        data["client_order_id"] = client_ids
    ws.send(json.dumps({"op": "cancel_batch_orders", "cid": cid, "data": data}))


def cancel(ws: websocket.WebSocket, cid: str, **kw: Any) -> dict[str, Any]:
    send_cancel(ws, cid, **kw)
    return recv(ws)


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def codes(answer: dict[str, Any]) -> dict[str, int]:
    return {item["orderId"] or item["clientOrderId"]: item["code"] for item in answer["data"]}


@pytest.fixture
def quiet(sim_factory: SimFactory) -> SimFactory:
    """Simulators without server pings unless a test asks, so silence tests see only silence."""

    def make(orders: list[SimOrder] | None = None, **faults: Any) -> Simulator:
        faults.setdefault("ping_interval", 0)
        return sim_factory(orders, Faults(**faults))

    return make


# ------------------------------------------------------------------------------ book and auth


def test_demo_book_shows_every_state() -> None:
    book = {order.order_id: order for order in demo_book()}
    assert [book[str(n)].status for n in range(101, 111)] == ["open"] * 10
    assert book["105"].client_order_id == "5105"
    assert (book["201"].status, book["202"].status) == ("cancelled", "cancelled")
    assert (book["301"].status, book["301"].client_order_id) == ("filled", "5301")
    assert "404" not in book
    assert len(DEMO_ACCESS_KEY) >= 12


def test_auth_cid_form(sim: Simulator) -> None:
    with_ws = connect(sim)
    answer = auth(with_ws, cid="a-7")
    assert answer["code"] == 200 and answer["message"] == "Success" and answer["cid"] == "a-7"
    assert isinstance(answer["ts"], int) and abs(answer["ts"] / 1000 - time.time()) < 5
    assert "op" not in answer
    with_ws.close()


def test_auth_op_form(quiet: SimFactory) -> None:
    ws = connect(quiet(auth_form="op"))
    answer = auth(ws, cid="a-8")
    assert answer["op"] == "auth" and answer["err-code"] == 0 and "cid" not in answer  # as documented
    assert answer["data"] == {"user-id": "12345678"}
    ws.close()


def test_bad_signature_is_refused_and_nothing_is_applied(quiet: SimFactory) -> None:
    sim = quiet()
    ws = connect(sim)
    answer = auth(ws, credentials=Credentials(DEMO_ACCESS_KEY, "wrong-secret"))
    assert answer["code"] == 2003 and answer["message"] == "Authentication failed."
    refused = cancel(ws, "c-1", order_ids=["101"])
    assert (refused["code"], refused["cid"]) == (2002, "c-1")
    assert sim.order("101").status == "open"
    assert sim.cancels[0].code == 2002 and not sim.cancels[0].applied
    ws.close()


@pytest.mark.parametrize(
    ("skew", "offset", "host", "key"),
    [
        (0.0, -360, "127.0.0.1", DEMO_ACCESS_KEY),  # stale timestamp
        (600.0, 0, "127.0.0.1", DEMO_ACCESS_KEY),  # the exchange's clock is 10 min ahead
        (0.0, 0, "api.hbdm.com", DEMO_ACCESS_KEY),  # signed for another host
        (0.0, 0, "127.0.0.1", "unknown-access-key"),
    ],
)
def test_auth_refusals(quiet: SimFactory, skew: float, offset: int, host: str, key: str) -> None:
    ws = connect(quiet(clock_skew=skew))
    moment = datetime.now(timezone.utc) + timedelta(seconds=offset)
    answer = auth(ws, credentials=Credentials(key, DEMO_SECRET_KEY), moment=moment, host=host)
    assert answer["code"] == 2003
    if skew:
        assert answer["ts"] / 1000 - time.time() > 500  # the skew shows in the server's ts
    ws.close()


def test_auth_error_fault_in_op_form(quiet: SimFactory) -> None:
    ws = connect(quiet(auth_form="op", auth_error=2001))
    answer = auth(ws)
    assert answer["err-code"] == 2001 and answer["err-msg"] == "Invalid authentication."
    ws.close()


def test_silent_auth(quiet: SimFactory) -> None:
    ws = connect(quiet(silent_auth=True), timeout=0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        auth(ws)
    ws.close()


def test_wrong_path_is_refused_at_connect(quiet: SimFactory) -> None:
    sim = quiet()
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(sim.url.replace(WS_PATH, "/ws"), timeout=3)


def test_tls(sim_factory: SimFactory) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    sim = sim_factory(faults=Faults(ping_interval=0), ssl_context=server_context)
    assert sim.url.startswith("wss://localhost:")
    with ca.cert_pem.tempfile() as ca_file:
        ws = websocket.create_connection(sim.url, timeout=3, sslopt={"ca_certs": ca_file})
    assert auth(ws, host="localhost")["code"] == 200
    ws.close()


# ------------------------------------------------------------------------------ cancelling


def test_cancel_states_by_order_id(quiet: SimFactory) -> None:
    sim = quiet()
    ws = connect(sim)
    auth(ws)
    answer = cancel(ws, "c-1", order_ids=["101", "201", "404", "301"])
    assert (answer["code"], answer["message"], answer["cid"]) == (200, "Success", "c-1")
    assert codes(answer) == {"101": 200, "201": 1071, "404": 1061, "301": 1063}
    first = answer["data"][0]
    assert first == {"orderId": "101", "clientOrderId": "5101", "code": 200, "message": "Success"}
    assert sim.order("101").status == "cancelled"
    assert codes(cancel(ws, "c-2", order_ids=["101"])) == {"101": 1071}
    record = sim.cancels[0]
    assert record.order_ids == ("101", "201", "404", "301") and record.contract_code == "BTC-USDT"
    assert record.code == 200 and record.answered_at is not None and record.applied
    ws.close()


def test_cancel_by_client_id_carries_both_ids(quiet: SimFactory) -> None:
    sim = quiet()
    ws = connect(sim)
    auth(ws)
    answer = cancel(ws, "c-1", client_ids=["5102", "5202", "9999"])
    found, repeated, missing = answer["data"]
    assert (found["orderId"], found["clientOrderId"], found["code"]) == ("102", "5102", 200)
    assert repeated["code"] == 1071
    assert (missing["orderId"], missing["clientOrderId"], missing["code"]) == (None, "9999", 1061)
    assert sim.order("102").status == "cancelled"
    both = cancel(ws, "c-2", order_ids=["103"], client_ids=["5104"])
    assert codes(both) == {"103": 200, "104": 200}
    ws.close()


def test_snake_spelling_numbers_and_string_codes(quiet: SimFactory) -> None:
    ws = connect(quiet(spelling="snake", numbers=True, string_codes=True))
    auth(ws)
    answer = cancel(ws, "c-1", order_ids=["101"])
    assert answer["code"] == "200"
    assert answer["data"] == [{"order_id": 101, "client_order_id": 5101, "code": "200", "message": "Success"}]
    ws.close()


def test_bad_input_is_1030(quiet: SimFactory) -> None:
    sim = quiet()
    ws = connect(sim)
    auth(ws)
    assert cancel(ws, "c-1", order_ids=[])["code"] == 1030
    assert cancel(ws, "c-2", order_ids=["101"], contract="btc-usdt")["code"] == 1030
    ws.send(json.dumps({"op": "cancel_batch_orders", "cid": "c-3", "data": {"order_id": ["101"]}}))
    assert recv(ws)["code"] == 1030
    assert sim.order("101").status == "open"
    ws.close()


def test_too_many_ids_is_1052_and_nothing_applied(quiet: SimFactory) -> None:
    sim = quiet(max_ids=3)
    ws = connect(sim)
    auth(ws)
    answer = cancel(ws, "c-1", order_ids=["101", "102"], client_ids=["5103", "5104"])
    assert answer["code"] == 1052 and "data" not in answer
    assert sim.order("101").status == "open"
    assert cancel(ws, "c-2", order_ids=["101", "102", "103"])["code"] == 200
    ws.close()


def test_rate_limit_counts_arrivals_per_account(quiet: SimFactory) -> None:
    sim = quiet(rate_limit=3, rate_window=1.0, request_errors=[1004])
    first, second = connect(sim), connect(sim)
    auth(first)
    auth(second)
    assert cancel(first, "c-1", order_ids=["101"])["code"] == 1004  # rejected, still counted
    assert cancel(second, "c-2", order_ids=["102"])["code"] == 200  # same account, other socket
    assert cancel(first, "c-3", order_ids=["103"])["code"] == 200
    limited = cancel(second, "c-4", order_ids=["104"])
    assert (limited["code"], limited["cid"]) == (1032, "c-4")
    assert limited["message"] == "Maximum number of access attempts exceeded."
    assert sim.order("104").status == "open" and sim.rate_limited == 1
    first.close()
    second.close()


def test_request_errors_are_answered_whole_and_not_applied(quiet: SimFactory) -> None:
    sim = quiet(request_errors=[1004, 1030])
    ws = connect(sim)
    auth(ws)
    busy = cancel(ws, "c-1", order_ids=["101"])
    assert (busy["code"], busy["message"], busy["cid"]) == (
        1004,
        "System busy. Please try again later.",
        "c-1",
    )
    assert cancel(ws, "c-2", order_ids=["101"])["code"] == 1030
    assert sim.order("101").status == "open"
    assert codes(cancel(ws, "c-3", order_ids=["101"])) == {"101": 200}
    ws.close()


# ------------------------------------------------------------------------------ timing and faults


def test_latency_pipelines_without_reordering(quiet: SimFactory) -> None:
    latency = 0.1
    sim = quiet(latency=latency)
    ws = connect(sim)
    auth(ws)
    sent = time.monotonic()
    send_cancel(ws, "c-1", order_ids=["101"])
    send_cancel(ws, "c-2", order_ids=["102"])
    assert [recv(ws)["cid"], recv(ws)["cid"]] == ["c-1", "c-2"]
    assert time.monotonic() - sent >= 2 * latency
    one, two = sim.cancels
    assert one.answered_at is not None and two.answered_at is not None
    assert two.t < one.answered_at  # request 2 reached the server while answer 1 was delayed
    assert one.answered_at - one.t >= 2 * latency - 0.01
    ws.close()


def test_drop_after_cancel_closes_without_answer_once(quiet: SimFactory) -> None:
    sim = quiet(drop_after_cancel=2)
    ws = connect(sim)
    auth(ws)
    assert cancel(ws, "c-1", order_ids=["101"])["code"] == 200
    send_cancel(ws, "c-2", order_ids=["102"])
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        recv(ws)
    ws.close()
    assert sim.order("102").status == "cancelled"
    dropped = sim.cancels[1]
    assert (dropped.code, dropped.answered_at, dropped.fault) == (0, None, "drop")
    again = connect(sim)
    auth(again)
    assert codes(cancel(again, "c-3", order_ids=["102", "103"])) == {"102": 1071, "103": 200}
    assert sim.connections == 2
    again.close()


def test_silent_applies_nothing_and_answers_nothing(quiet: SimFactory) -> None:
    sim = quiet(silent=True)
    ws = connect(sim, timeout=0.3)
    assert auth(ws)["code"] == 200
    send_cancel(ws, "c-1", order_ids=["101"])
    with pytest.raises(websocket.WebSocketTimeoutException):
        recv(ws)
    assert sim.order("101").status == "open" and sim.cancels[0].fault == "silent"
    ws.close()


def test_omit_id_once(quiet: SimFactory) -> None:
    sim = quiet(omit_id_once=True)
    ws = connect(sim)
    auth(ws)
    assert codes(cancel(ws, "c-1", order_ids=["101", "102"])) == {"101": 200}
    assert sim.order("102").status == "cancelled"
    assert codes(cancel(ws, "c-2", order_ids=["103", "104"])) == {"103": 200, "104": 200}
    ws.close()


def _hostile(quiet: SimFactory, kind: str) -> tuple[Simulator, websocket.WebSocket, int, bytes]:
    sim = quiet(hostile=[kind])
    ws = connect(sim)
    auth(ws)
    send_cancel(ws, "c-1", order_ids=["101"])
    opcode, data = recv_frame(ws)
    assert sim.order("101").status == "cancelled"  # applied, whatever came back instead
    return sim, ws, opcode, data


@pytest.mark.parametrize("kind", ["garbage", "invalid_json", "shape"])
def test_hostile_malformed_frames(quiet: SimFactory, kind: str) -> None:
    _, ws, opcode, data = _hostile(quiet, kind)
    assert opcode == websocket.ABNF.OPCODE_BINARY
    if kind == "garbage":
        assert data[:2] != GZIP_MAGIC
        with pytest.raises(UnicodeDecodeError):
            data.decode()
    elif kind == "invalid_json":
        assert gzip.decompress(data) == b'{"cid": '
    else:
        assert json.loads(gzip.decompress(data)) == [1, 2, 3]
    # The connection survives and the next request is answered normally.
    assert codes(cancel(ws, "c-2", order_ids=["102"])) == {"102": 200}
    ws.close()


def test_hostile_bomb_is_small_on_the_wire_and_huge_inflated(quiet: SimFactory) -> None:
    _, ws, opcode, data = _hostile(quiet, "bomb")
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert data[:2] == GZIP_MAGIC and len(data) < 1 << 20
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = inflater.decompress(data, 4 << 20)
    assert len(head) == 4 << 20 and inflater.unconsumed_tail  # more than 4 MiB still to come
    ws.close()


def test_hostile_close_sends_op_close_then_disconnects(quiet: SimFactory) -> None:
    _, ws, _, data = _hostile(quiet, "close")
    assert json.loads(gzip.decompress(data))["op"] == "close"
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    ws.shutdown()  # type: ignore[no-untyped-call]  # close() would now skip the socket


def test_hostile_error_keeps_the_connection(quiet: SimFactory) -> None:
    sim, ws, _, data = _hostile(quiet, "error")
    notice = json.loads(gzip.decompress(data))
    assert notice["op"] == "error" and isinstance(notice["ts"], int)
    assert codes(cancel(ws, "c-2", order_ids=["102"])) == {"102": 200}
    assert sim.cancels[0].fault == "hostile:error" and sim.cancels[0].code == 0
    ws.close()


def _raw_after_cancel(quiet: SimFactory, kind: str, **faults: Any) -> tuple[Simulator, websocket.WebSocket]:
    """A raw hostile fault's bytes are read straight off the socket: websocket-client would
    refuse them (or wait for ever), and the test is about what is on the wire."""
    sim = quiet(hostile=[kind], **faults)
    ws = connect(sim)
    auth(ws)
    send_cancel(ws, "c-1", order_ids=["101"])
    return sim, ws


def read_exact(sock: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_hostile_oversized_declares_300_mb_and_streams_with_flow_control(quiet: SimFactory) -> None:
    sim, ws = _raw_after_cancel(quiet, "oversized")
    header = read_exact(ws.sock, 10)
    assert header[:2] == b"\x82\x7f"  # FIN + binary; no mask bit, 64-bit length follows
    assert int.from_bytes(header[2:], "big") == 300 * 1024 * 1024
    assert read_exact(ws.sock, 1 << 20) == bytes(1 << 20)
    assert sim.order("101").status == "cancelled" and sim.cancels[0].fault == "hostile:oversized"
    time.sleep(0.3)  # stop reading: the simulator must stop writing once the buffers are full
    written = sim.raw_written
    time.sleep(0.2)
    assert sim.raw_written == written < 64 << 20  # paused, far short of the 300 MB promised
    assert sim.hostile_streams == 1 and sim.cancels[0].answered_at is None
    assert ws.sock is not None
    ws.sock.close()
    wait_until(lambda: sim.hostile_streams == 0)


def test_hostile_drip_writes_the_real_answer_a_byte_at_a_time(quiet: SimFactory) -> None:
    interval = 0.004
    sim, ws = _raw_after_cancel(quiet, "drip", drip_interval=interval)
    arrivals: list[float] = []
    data = b""
    while len(data) < 2 or len(data) < 2 + data[1]:
        data += read_exact(ws.sock, 1)
        arrivals.append(time.monotonic())
    assert data[0] == 0x82 and data[1] < 126  # FIN + binary, unmasked, short length
    answer = json.loads(gzip.decompress(data[2:]))
    assert (answer["cid"], codes(answer)) == ("c-1", {"101": 200})
    assert arrivals[-1] - arrivals[0] >= (len(data) - 1) * interval * 0.8
    wait_until(lambda: sim.cancels[0].answered_at is not None)
    assert sim.cancels[0].code == 200 and sim.cancels[0].fault == "hostile:drip"
    assert codes(cancel(ws, "c-2", order_ids=["102"])) == {"102": 200}  # in step again
    ws.close()


def test_hostile_endless_fragments_never_finish_the_message(quiet: SimFactory) -> None:
    sim, ws = _raw_after_cancel(quiet, "endless_fragments", fragment_interval=0.005)
    first = read_exact(ws.sock, 2)
    assert first[0] == 0x01  # FIN clear, text
    assert first[1] & 0x80 == 0  # server frames are never masked
    assert read_exact(ws.sock, first[1]).startswith(b'{"op":')
    for _ in range(5):
        header = read_exact(ws.sock, 2)
        assert header[0] == 0x00 and 0 < header[1] < 126  # FIN clear, continuation, small
        assert read_exact(ws.sock, header[1]) == b"x" * header[1]
    assert sim.hostile_streams == 1
    assert ws.sock is not None
    ws.sock.close()
    wait_until(lambda: sim.hostile_streams == 0)


def test_frame_headers_use_the_shortest_length_encoding() -> None:
    assert frame_header(0x2, 125) == b"\x82\x7d"
    assert frame_header(0x2, 126) == b"\x82\x7e\x00\x7e"
    assert frame_header(0x1, 65535, fin=False) == b"\x01\x7e\xff\xff"
    assert frame_header(0x0, 65536) == b"\x80\x7f" + (65536).to_bytes(8, "big")


# ------------------------------------------------------------------------------ the notification socket

OTHER = Credentials("other-access-key-0002", "other-secret-key-0002")


def notify_connect(sim: Simulator, timeout: float = 3.0) -> websocket.WebSocket:
    return websocket.create_connection(sim.notify_url, timeout=timeout)


def notify_recv(
    ws: websocket.WebSocket, *, gzipped: bool = False, answer_pings: bool = True
) -> dict[str, Any]:
    """The next notification frame that is not a server ping: text JSON, or gzip binary."""
    while True:
        opcode, data = recv_frame(ws)
        if gzipped:
            assert opcode == websocket.ABNF.OPCODE_BINARY and data[:2] == GZIP_MAGIC
            message = json.loads(gzip.decompress(data))
        else:
            assert opcode == websocket.ABNF.OPCODE_TEXT
            message = json.loads(data)
        assert isinstance(message, dict)
        if answer_pings and message.get("op") == "ping":
            ws.send(json.dumps({"op": "pong", "ts": message["ts"]}))
            continue
        return message


def notify_auth(
    ws: websocket.WebSocket,
    *,
    credentials: Credentials = DEMO,
    path: str = NOTIFY_PATH,
    cid: str = "n-1",
    gzipped: bool = False,
) -> dict[str, Any]:
    timestamp = timestamp_for(datetime.now(timezone.utc))
    ws.send(auth_frame(credentials, "127.0.0.1", path, timestamp, cid).text)
    return notify_recv(ws, gzipped=gzipped)


def subscribe(
    ws: websocket.WebSocket, contract: str | None = "BTC-USDT", cid: str = "s-1", *, gzipped: bool = False
) -> dict[str, Any]:
    frame: dict[str, Any] = {"op": "sub", "cid": cid, "topic": "orders"}
    if contract is not None:
        frame["contract_code"] = contract
    ws.send(json.dumps(frame))
    return notify_recv(ws, gzipped=gzipped)


def listener(sim: Simulator, contract: str | None = "BTC-USDT", **kw: Any) -> websocket.WebSocket:
    """An authenticated notification connection subscribed to `contract`."""
    ws = notify_connect(sim)
    gzipped = kw.pop("gzipped", False)
    assert notify_auth(ws, gzipped=gzipped, **kw)["err-code"] == 0
    assert subscribe(ws, contract, gzipped=gzipped)["err-code"] == 0
    return ws


def trader(sim: Simulator, credentials: Credentials = DEMO) -> websocket.WebSocket:
    ws = connect(sim)
    assert auth(ws, credentials=credentials)["code"] == 200
    return ws


def test_notify_auth_in_htx_documented_form(quiet: SimFactory) -> None:
    sim = quiet()
    assert sim.notify_url == sim.url.replace(WS_PATH, NOTIFY_PATH)
    ws = notify_connect(sim)
    answer = notify_auth(ws, cid="n-7")
    assert set(answer) == {"op", "cid", "type", "err-code", "ts", "data"}
    assert (answer["op"], answer["cid"], answer["type"], answer["err-code"]) == ("auth", "n-7", "api", 0)
    assert answer["data"] == {"user-id": "12345678"} and abs(answer["ts"] / 1000 - time.time()) < 5
    assert sim.notify_connections == 1 and sim.connections == 0
    assert sim.received[0].socket == "notify" and sim.received[0].connection == 1
    ws.close()


@pytest.mark.parametrize(
    ("faults", "path", "code"),
    [({}, WS_PATH, 2003), ({"notify_auth_error": 2001}, NOTIFY_PATH, 2001)],
)
def test_notify_auth_refusals(quiet: SimFactory, faults: dict[str, Any], path: str, code: int) -> None:
    ws = notify_connect(quiet(**faults))
    answer = notify_auth(ws, path=path)  # signed for the trade socket's path: refused
    assert (answer["op"], answer["err-code"], answer["cid"]) == ("auth", code, "n-1")
    assert isinstance(answer["err-msg"], str) and "data" not in answer
    assert subscribe(ws)["err-code"] == 2002  # not authenticated
    ws.close()


def test_subscription_ack_and_record(quiet: SimFactory) -> None:
    sim = quiet()
    ws = notify_connect(sim)
    refused = subscribe(ws, cid="s-0")
    assert (refused["err-code"], refused["err-msg"]) == (2002, "Authentication required.")
    notify_auth(ws)
    ack = subscribe(ws, cid="s-1")
    assert set(ack) == {"op", "cid", "topic", "ts", "err-code", "contract_code"}
    assert (ack["op"], ack["cid"], ack["topic"], ack["err-code"], ack["contract_code"]) == (
        "sub",
        "s-1",
        "orders",
        0,
        "BTC-USDT",
    )
    assert [(r.op, r.cid, r.topic, r.contract_code, r.err_code) for r in sim.subscriptions] == [
        ("sub", "s-0", "orders", "BTC-USDT", 2002),
        ("sub", "s-1", "orders", "BTC-USDT", 0),
    ]
    ws.close()


def test_sub_error_and_sub_silent(quiet: SimFactory) -> None:
    ws = notify_connect(quiet(sub_error=2011))
    notify_auth(ws)
    refused = subscribe(ws)
    assert (refused["err-code"], refused["err-msg"]) == (2011, "Contract doesn't exist.")
    ws.close()
    sim = quiet(sub_silent=True)
    ws = notify_connect(sim, timeout=0.3)
    notify_auth(ws)
    with pytest.raises(websocket.WebSocketTimeoutException):
        subscribe(ws)
    assert sim.subscriptions[0].err_code is None
    ws.close()


def test_notify_pings_both_ways(quiet: SimFactory) -> None:
    sim = quiet(ping_interval=0.05)
    ws = notify_connect(sim)
    ping = notify_recv(ws, answer_pings=False)
    assert ping["op"] == "ping" and isinstance(ping["ts"], str)
    ws.send(json.dumps({"op": "pong", "ts": ping["ts"]}))
    wait_until(lambda: sim.pongs >= 1)
    ws.send(json.dumps({"op": "ping", "ts": 1234}))
    assert notify_recv(ws) == {"op": "pong", "ts": 1234}
    ws.send(json.dumps({"op": "cancel_batch_orders"}))  # not this socket's op
    assert notify_recv(ws)["op"] == "error"
    ws.close()


def test_final_states_are_pushed_after_the_answer(quiet: SimFactory) -> None:
    sim = quiet(push_delay=0.05)
    btc = listener(sim)
    eth = listener(sim, "ETH-USDT")
    trade = trader(sim)
    answer = cancel(trade, "c-1", order_ids=["101", "111", "112", "113", "201", "501"])
    assert codes(answer) == {"101": 200, "111": 200, "112": 200, "113": 1062, "201": 1071, "501": 1061}
    pushes = [notify_recv(btc) for _ in range(4)]
    assert [(p["data"]["order_id"], p["data"]["state"]) for p in pushes] == [
        ("101", "canceled"),
        ("111", "partially_canceled"),
        ("112", "filled"),
        ("113", "canceled"),
    ]
    first = pushes[0]
    assert (first["op"], first["topic"], first["contract_code"], first["uid"]) == (
        "notify",
        "orders",
        "BTC-USDT",
        "12345678",
    )
    assert isinstance(first["ts"], int) and isinstance(first["data"]["updated_time"], int)
    partly, filled = pushes[1]["data"], pushes[2]["data"]
    assert (partly["volume"], partly["trade_volume"], partly["client_order_id"]) == ("10", "4", "5111")
    assert (filled["volume"], filled["trade_volume"]) == ("5", "5")
    assert {"side", "margin_mode", "cancel_reason", "created_time", "trade_avg_price"} <= set(first["data"])
    assert sim.order("113").status == "cancelled" and sim.order("112").status == "filled"
    record = sim.cancels[0]
    assert record.answered_at is not None
    pushed = sim.pushes
    assert [(p.order_id, p.state, p.trade_volume, p.connection) for p in pushed] == [
        ("101", "canceled", "0", 1),
        ("111", "partially_canceled", "4", 1),
        ("112", "filled", "5", 1),
        ("113", "canceled", "0", 1),
    ]
    assert pushed[0].t >= record.answered_at + 0.04 and not pushed[0].stale
    eth.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        notify_recv(eth)  # subscribed to another contract: nothing
    assert codes(cancel(trade, "c-2", order_ids=["502"], contract="ETH-USDT")) == {"502": 200}
    assert notify_recv(eth)["data"]["order_id"] == "502"
    for ws in (btc, eth, trade):
        ws.close()


def test_pushes_go_only_to_the_cancelling_account(sim_factory: SimFactory) -> None:
    keys = {DEMO.access_key: DEMO.secret_key, OTHER.access_key: OTHER.secret_key}
    sim = sim_factory(faults=Faults(ping_interval=0), credentials=keys)
    mine, theirs, everything = listener(sim), listener(sim, credentials=OTHER), listener(sim, None)
    trade = trader(sim)
    assert codes(cancel(trade, "c-1", order_ids=["101"])) == {"101": 200}
    assert notify_recv(mine)["data"]["order_id"] == "101"
    assert notify_recv(everything)["data"]["order_id"] == "101"  # no contract_code: all of them
    theirs.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        notify_recv(theirs)
    for ws in (mine, theirs, everything, trade):
        ws.close()


def test_duplicate_pushes_repeat_an_older_lower_copy(quiet: SimFactory) -> None:
    sim = quiet(duplicate_pushes=True, push_as_list=True)
    ws, trade = listener(sim), trader(sim)
    cancel(trade, "c-1", order_ids=["111"])
    real, stale = notify_recv(ws)["data"], notify_recv(ws)["data"]
    assert isinstance(real, list) and isinstance(stale, list) and len(real) == len(stale) == 1
    assert (real[0]["state"], real[0]["trade_volume"]) == ("partially_canceled", "4")
    assert (stale[0]["state"], stale[0]["trade_volume"]) == ("partially_canceled", "3")
    assert stale[0]["updated_time"] < real[0]["updated_time"]
    assert [p.stale for p in sim.pushes] == [False, True]
    ws.close()
    trade.close()


def test_gzip_notifications(quiet: SimFactory) -> None:
    sim = quiet(notify_gzip=True)
    ws, trade = listener(sim, gzipped=True), trader(sim)
    cancel(trade, "c-1", order_ids=["102"])
    assert notify_recv(ws, gzipped=True)["data"]["state"] == "canceled"
    ws.close()
    trade.close()


def test_no_pushes_still_changes_the_book(quiet: SimFactory) -> None:
    sim = quiet(no_pushes=True, push_delay=0.01)
    ws, trade = listener(sim), trader(sim)
    assert codes(cancel(trade, "c-1", order_ids=["101", "113"])) == {"101": 200, "113": 1062}
    wait_until(lambda: sim.order("113").status == "cancelled")  # the cancel in progress completes
    ws.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        notify_recv(ws)
    assert sim.pushes == []
    ws.close()
    trade.close()


# ------------------------------------------------------------------------------ REST


class Answer:
    """One HTTP answer, read whole."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}
        self.body = response.read()

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        return json.loads(self.body)


def signed_query(
    path: str, own: dict[str, str], credentials: Credentials = DEMO, host: str = "127.0.0.1"
) -> str:
    """HTX's GET signing: every parameter signed, then `Signature` URL-encoded on the end."""
    params = {**signed_params(credentials.access_key, timestamp_for(datetime.now(timezone.utc))), **own}
    signature = sign(credentials.secret_key, host, path, params)
    encoded = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
    return f"{encoded}&Signature={quote(signature, safe='')}"


def get(sim: Simulator, path: str, query: str = "", context: ssl.SSLContext | None = None) -> Answer:
    url = urlsplit(sim.rest_url)
    assert url.hostname is not None and url.port is not None
    if context is None:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=3)
    else:
        connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=3, context=context)
    try:
        connection.request("GET", f"{path}?{query}" if query else path)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def query_order(sim: Simulator, **own: str) -> Answer:
    own = {"contract_code": "BTC-USDT", "margin_mode": "cross", **own}
    return get(sim, ORDER_PATH, signed_query(ORDER_PATH, own))


def list_open(sim: Simulator, **own: str) -> Answer:
    return get(sim, OPENS_PATH, signed_query(OPENS_PATH, {"contract_code": "BTC-USDT", **own}))


def listed_ids(answer: Answer) -> list[str]:
    return [item["id"] for item in answer.json()["data"]]


def test_order_query_over_http(quiet: SimFactory) -> None:
    sim = quiet()
    answer = query_order(sim, order_id="111")
    assert answer.status == 200 and answer.headers["content-length"] == str(len(answer.body))
    body = answer.json()
    assert (body["code"], body["message"], body["success"]) == (200, None, True)
    data = body["data"]
    assert (
        data["order_id"],
        data["client_order_id"],
        data["state"],
        data["volume"],
        data["trade_volume"],
    ) == (
        "111",
        "5111",
        "partially_filled",
        "10",
        "4",
    )
    (record,) = sim.rest_requests
    assert (record.method, record.path, record.status, record.code) == ("GET", ORDER_PATH, 200, 200)
    assert record.params["order_id"] == "111" and "Signature=" in record.query
    assert record.answered_at is not None and record.answered_at >= record.t


def test_order_query_sees_what_a_cancel_did(quiet: SimFactory) -> None:
    sim = quiet(push_delay=0.01)
    trade = trader(sim)
    assert codes(cancel(trade, "c-1", order_ids=["112", "113"])) == {"112": 200, "113": 1062}
    filled = query_order(sim, client_order_id="5112").json()["data"]
    assert (filled["order_id"], filled["state"], filled["trade_volume"]) == ("112", "filled", "5")
    wait_until(lambda: sim.order("113").status == "cancelled")
    assert query_order(sim, order_id="113").json()["data"]["state"] == "canceled"
    missing = query_order(sim, order_id="501").json()  # ETH-USDT's order
    assert (missing["code"], missing["data"]) == (1061, None) and isinstance(missing["ts"], int)
    trade.close()


def test_bad_rest_signature_is_an_htx_error_in_a_200(quiet: SimFactory) -> None:
    sim = quiet()
    query = signed_query(ORDER_PATH, {"contract_code": "BTC-USDT", "margin_mode": "cross", "order_id": "101"})
    answer = get(sim, ORDER_PATH, query.replace("order_id=101", "order_id=102"))
    assert answer.status == 200
    body = answer.json()
    assert set(body) == {"code", "message", "data", "ts"} and body["code"] == 12008
    assert body["message"] == "Verification failed." and body["data"] is None
    stale = get(sim, ORDER_PATH, query.replace("Timestamp=20", "Timestamp=19"))
    assert stale.json()["code"] == 12001  # a century off: the time is refused before the signature
    assert [r.code for r in sim.rest_requests] == [12008, 12001]


def test_rest_over_tls_signs_localhost(sim_factory: SimFactory) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    sim = sim_factory(faults=Faults(ping_interval=0), ssl_context=server_context)
    assert sim.rest_url.startswith("https://localhost:")
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    query = signed_query(OPENS_PATH, {"contract_code": "BTC-USDT"}, host="localhost")
    answer = get(sim, OPENS_PATH, query, context=client_context)
    assert answer.json()["code"] == 200


def test_listing_pages_a_big_book(quiet: SimFactory) -> None:
    sim = quiet(open_book(130) + open_book(5, "ETH-USDT", start=9_000_001))
    first = list_open(sim, limit="100")
    assert len(listed_ids(first)) == 100 and first.json()["message"] == "Success"
    second = list_open(sim, limit="100", **{"from": listed_ids(first)[-1], "direct": "next"})
    ids = listed_ids(first) + listed_ids(second)
    assert len(ids) == 130 and ids == sorted(ids, key=int) and len(set(ids)) == 130
    assert listed_ids(list_open(sim, contract_code="ETH-USDT")) == [str(9_000_001 + n) for n in range(5)]
    item = second.json()["data"][0]
    assert set(item) >= {
        "id",
        "order_id",
        "client_order_id",
        "contract_code",
        "side",
        "volume",
        "trade_volume",
        "state",
        "margin_mode",
        "created_time",
        "updated_time",
    }


def test_orders_placed_after_the_first_listing_show_up_in_the_next(quiet: SimFactory) -> None:
    late = [
        SimOrder("120", "5120", "open", side="sell"),
        SimOrder("521", None, "open", contract_code="ETH-USDT"),
    ]
    sim = quiet(add_after_first_listing=late)
    first = listed_ids(list_open(sim, limit="100"))
    assert "120" not in first and first[-1] == "113"
    assert listed_ids(list_open(sim, limit="100"))[-1] == "120"
    assert listed_ids(list_open(sim, contract_code="ETH-USDT")) == ["501", "502", "503", "521"]


def test_listing_state_number_and_read_rate_limit(quiet: SimFactory) -> None:
    sim = quiet(list_state_number=True, read_rate_limit=2, rate_limit=1)
    assert list_open(sim).json()["data"][0]["state"] == 3
    assert query_order(sim, order_id="101").json()["code"] == 200
    limited = list_open(sim).json()
    assert (limited["code"], limited["message"]) == (1032, "Maximum number of access attempts exceeded.")
    assert sim.read_rate_limited == 1
    trade = trader(sim)
    assert codes(cancel(trade, "c-1", order_ids=["101"])) == {"101": 200}  # the cancels' budget is apart
    trade.close()


@pytest.mark.parametrize(
    ("faults", "path", "status", "code"),
    [
        ({"query_error": 1004}, ORDER_PATH, 200, 1004),
        ({"query_http_status": 500}, ORDER_PATH, 500, None),
        ({"list_error": 1000}, OPENS_PATH, 200, 1000),
        ({"list_http_status": 503}, OPENS_PATH, 503, None),
    ],
)
def test_rest_failures(
    quiet: SimFactory, faults: dict[str, Any], path: str, status: int, code: int | None
) -> None:
    sim = quiet(**faults)
    answer = query_order(sim, order_id="101") if path == ORDER_PATH else list_open(sim)
    assert answer.status == status
    if code is None:
        assert answer.headers["content-type"].startswith("text/plain") and str(status).encode() in answer.body
    else:
        assert answer.json()["code"] == code
    assert (sim.rest_requests[0].status, sim.rest_requests[0].code) == (status, code)


def test_list_body_is_served_raw_after_the_signature(quiet: SimFactory) -> None:
    raw = b'{"code":200,"data":[{"id":1.3298546239271608e18}]}'
    sim = quiet(list_body=raw)
    answer = list_open(sim)
    assert (answer.status, answer.body, answer.headers["content-type"]) == (200, raw, "application/json")
    assert sim.rest_requests[0].code is None
    bad = get(sim, OPENS_PATH, signed_query(OPENS_PATH, {"contract_code": "BTC-USDT"}, OTHER))
    assert bad.json()["code"] == 12009  # an unknown key is still refused first


def test_other_paths_and_plain_gets_on_the_sockets(quiet: SimFactory) -> None:
    sim = quiet()
    assert get(sim, "/v5/trade/orders").status == 404
    assert get(sim, WS_PATH).status == 426  # a socket's path wants a WebSocket handshake
    missing = get(sim, ORDER_PATH, "contract_code=BTC-USDT").json()
    assert missing["code"] == 2002
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(sim.rest_url.replace("http", "ws") + "/ws/v9", timeout=3)


def test_rest_latency_each_way(quiet: SimFactory) -> None:
    sim = quiet(latency=0.05)
    started = time.monotonic()
    assert list_open(sim).json()["code"] == 200
    assert time.monotonic() - started >= 0.1
    record = sim.rest_requests[0]
    assert record.answered_at is not None and record.answered_at - record.t >= 0.1 - 0.005


# ------------------------------------------------------------------------------ heartbeat and garbage


def test_server_pings_and_pongs_are_matched(sim: Simulator) -> None:
    ws = connect(sim)
    ping = recv(ws, answer_pings=False)
    assert ping["op"] == "ping" and isinstance(ping["ts"], str) and ping["ts"].isdigit()
    ws.send(json.dumps({"op": "pong", "ts": int(ping["ts"])}))  # wrong type: not a match
    ws.send(json.dumps({"op": "pong", "ts": ping["ts"]}))
    wait_until(lambda: sim.pongs == 1)
    ws.close()


def test_market_pings(quiet: SimFactory) -> None:
    sim = quiet(ping_interval=0.05, market_ping=True)
    ws = connect(sim)
    ping = recv(ws, answer_pings=False)
    assert set(ping) == {"ping"} and isinstance(ping["ping"], int)
    ws.send(json.dumps({"pong": ping["ping"]}))
    wait_until(lambda: sim.pongs >= 1)
    ws.close()


def test_ping_before_auth_answer(quiet: SimFactory) -> None:
    sim = quiet(ping_before_auth_answer=True)
    ws = connect(sim, timeout=0.3)
    timestamp = timestamp_for(datetime.now(timezone.utc))
    ws.send(auth_frame(DEMO, "127.0.0.1", WS_PATH, timestamp, "a-1").text)
    ping = recv(ws, answer_pings=False)
    assert ping["op"] == "ping"
    with pytest.raises(websocket.WebSocketTimeoutException):
        recv(ws, answer_pings=False)  # no auth answer until the pong
    ws.send(json.dumps({"op": "pong", "ts": ping["ts"]}))
    assert recv(ws)["cid"] == "a-1"
    assert sim.pongs == 1
    ws.close()


def test_client_ping_garbage_and_unknown_ops(quiet: SimFactory) -> None:
    sim = quiet()
    ws = connect(sim)
    ws.send(json.dumps({"op": "ping", "ts": "77"}))
    assert recv(ws) == {"op": "pong", "ts": "77"}
    ws.send(json.dumps({"ping": 78}))
    assert recv(ws) == {"pong": 78}
    ws.send("{not json")
    assert recv(ws)["op"] == "error"
    ws.send(json.dumps({"op": "sub", "topic": "orders.*"}))
    assert recv(ws)["op"] == "error"
    assert auth(ws)["code"] == 200  # still open and usable
    assert [r.message for r in sim.received][2] is None
    assert sim.received[2].raw == "{not json" and sim.received[0].connection == 1
    ws.close()


def test_serve_runs_the_demo_book_on_the_callers_loop() -> None:
    urls: list[str] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    def run() -> None:
        task = loop.create_task(serve("127.0.0.1", 0, Faults(ping_interval=0), ready=on_ready))
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    notify = websocket.create_connection(urls[0].replace(WS_PATH, NOTIFY_PATH), timeout=3)
    assert notify_auth(notify)["err-code"] == 0 and subscribe(notify)["err-code"] == 0
    ws = websocket.create_connection(urls[0], timeout=3)
    auth(ws)
    assert codes(cancel(ws, "c-1", order_ids=["101", "404"])) == {"101": 200, "404": 1061}
    assert notify_recv(notify)["data"]["order_id"] == "101"
    rest = urlsplit(urls[0])
    connection = http.client.HTTPConnection(rest.hostname or "", rest.port, timeout=3)
    connection.request("GET", f"{OPENS_PATH}?{signed_query(OPENS_PATH, {'contract_code': 'BTC-USDT'})}")
    listed = json.loads(connection.getresponse().read())
    assert listed["code"] == 200 and "101" not in [item["id"] for item in listed["data"]]
    connection.close()
    ws.close()
    notify.close()
    loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
    thread.join(5)
    loop.close()
