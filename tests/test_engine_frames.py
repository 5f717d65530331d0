"""Any frame a server can send is either understood or handled: never an exception out of the
engine, never `cancelled` without a code-200 answer for that very ID.

A tiny real WebSocket server on loopback answers auth properly and then replies to the cancel
with whatever hypothesis generated, gzip-compressed or as text.
"""

from __future__ import annotations

import gzip
import json
import queue
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from websockets.sync.server import ServerConnection, serve

from htx_cancel.engine import World, run_cancel
from htx_cancel.models import CancelRequest, Credentials, IdKind, OrderRef, Report, RunSettings, State
from htx_cancel.pacing import Backoff

IDS = ("11", "12")
PING_FLOOD = "<websocket pings every 20 ms, no answer>"


class ScriptedServer:
    """Answers auth with success, then sends the queued reply frames in place of a cancel answer."""

    def __init__(self) -> None:
        self.replies: queue.Queue[list[bytes | str]] = queue.Queue()
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/linear-swap-trade"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, ws: ServerConnection) -> None:
        try:
            auth = json.loads(ws.recv(timeout=2))
            ws.send(gzip.compress(json.dumps({"code": 200, "cid": auth["cid"], "ts": 1}).encode()))
            cancel = json.loads(ws.recv(timeout=2))
            for frame in self.replies.get_nowait():
                if frame == PING_FLOOD:
                    while True:
                        ws.ping()
                        time.sleep(0.02)
                if isinstance(frame, str):
                    ws.send(frame.replace("$CID", cancel["cid"]))
                else:
                    ws.send(gzip.compress(frame.replace(b"$CID", cancel["cid"].encode())))
        except Exception:
            return

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


SCALARS = st.none() | st.booleans() | st.integers(-5, 2000) | st.sampled_from(["200", "11", "12", "x", ""])
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "orderId": st.sampled_from(["11", "12", 11, 12, 11.0, "13"]) | SCALARS,
        "order_id": st.sampled_from(["11", 12]) | SCALARS,
        "code": st.sampled_from([200, "200", 1071, 1061, 1063, 1004, 1032, 9999]) | SCALARS,
        "message": SCALARS,
    },
)
ANSWER = st.fixed_dictionaries(
    {},
    optional={
        "cid": st.just("$CID") | SCALARS,
        "code": st.sampled_from([200, "200", 1004, 1052, 1030, 2002]) | SCALARS,
        "err-code": SCALARS,
        "status": st.sampled_from(["ok", "error"]) | SCALARS,
        "op": st.sampled_from(["close", "error", "ping", "notify"]) | SCALARS,
        "ts": SCALARS,
        "data": st.lists(ITEM | SCALARS, max_size=4) | SCALARS,
    },
)


def encode(answer: dict[str, object], as_text: bool) -> bytes | str:
    text = json.dumps(answer)
    return text if as_text else text.encode()


GOOD_ITEM = st.fixed_dictionaries(
    {"orderId": st.sampled_from(["11", "12", 11, 12]), "code": st.sampled_from([200, "200", 1071, 1004])}
)
WELL_FORMED = st.fixed_dictionaries(
    {
        "cid": st.just("$CID"),
        "code": st.sampled_from([200, "200"]),
        "data": st.lists(GOOD_ITEM | ITEM, max_size=3),
    }
)
FRAME = st.one_of(
    st.builds(encode, WELL_FORMED, st.booleans()),
    st.builds(encode, WELL_FORMED, st.booleans()),
    st.builds(encode, ANSWER, st.booleans()),
    st.binary(max_size=40),
    st.text(max_size=20),
)


def said_cancelled(frames: list[bytes | str], order_id: str) -> bool:
    """Did some reply answer our cid with a per-order 200 for exactly this ID?"""
    for frame in frames:
        try:
            answer = json.loads(frame)
        except ValueError:
            continue
        if (
            not isinstance(answer, dict)
            or answer.get("cid") != "$CID"
            or not isinstance(answer.get("data"), list)
        ):
            continue
        for item in answer["data"]:
            if not isinstance(item, dict):
                continue
            ident = item["orderId"] if item.get("orderId") is not None else item.get("order_id")
            if str(ident) == order_id and not isinstance(ident, float) and str(item.get("code")) == "200":
                return True
    return False


@settings(max_examples=60)
@given(frames=st.lists(FRAME, min_size=0, max_size=3))
def test_engine_survives_any_reply(server: ScriptedServer, frames: list[bytes | str]) -> None:
    server.replies.put(frames)
    request = CancelRequest("BTC-USDT", tuple(OrderRef(IdKind.ORDER, i) for i in IDS))
    settings_ = RunSettings(url=server.url, timeout=0.15, retries=0)
    world = World(backoff=Backoff(base=0.001, rate_limited_base=0.001))
    report = run_cancel(request, Credentials("access-key-000001", "secret"), settings_, world=world)
    assert [r.order_id for r in report.results] == list(IDS)
    for result in report.results:
        assert isinstance(result.state, State)
        if result.state is State.CANCELLED:
            assert said_cancelled(frames, str(result.order_id))
    event("states: " + ",".join(sorted({r.state.value for r in report.results})))
    while not server.replies.empty():
        server.replies.get_nowait()


def run_against(server: ScriptedServer, frames: list[bytes | str], timeout: float = 0.3) -> Report:
    server.replies.put(frames)
    request = CancelRequest("BTC-USDT", tuple(OrderRef(IdKind.ORDER, i) for i in IDS))
    settings_ = RunSettings(url=server.url, timeout=timeout, retries=0)
    world = World(backoff=Backoff(base=0.001, rate_limited_base=0.001))
    return run_cancel(request, Credentials("access-key-000001", "secret"), settings_, world=world)


def test_contradictory_answers_for_one_id_are_not_believed(server: ScriptedServer) -> None:
    answer = {
        "cid": "$CID",
        "code": 200,
        "data": [
            {"orderId": "11", "code": 200},
            {"orderId": "11", "code": 1063},
            {"orderId": "12", "code": 200},
        ],
    }
    report = run_against(server, [json.dumps(answer).encode()])
    assert [r.state for r in report.results] == [State.UNKNOWN, State.CANCELLED]


def test_websocket_ping_flood_cannot_hold_a_wait_past_its_deadline(server: ScriptedServer) -> None:
    started = time.monotonic()
    report = run_against(server, [PING_FLOOD], timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert [r.state for r in report.results] == [State.UNKNOWN, State.UNKNOWN]
