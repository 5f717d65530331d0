"""The transport's read bounds against a raw WebSocket server on loopback that writes frames
byte-exact, split and paced as a test needs: what no well-behaved server library will do."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from htx_cancel.transport import MESSAGE_BUDGET, TransportError, connect

Script = Callable[[socket.socket], None]


def frame(payload: bytes, opcode: int = 0x2, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        return head + bytes([n]) + payload
    if n < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", n) + payload
    return head + bytes([127]) + struct.pack("!Q", n) + payload


class RawServer:
    """Accepts one connection, completes the upgrade, then runs `script` on the raw socket."""

    def __init__(self, script: Script) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/linear-swap-trade"
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            try:
                self._script(conn)
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_frame_caught_half_arrived_is_read_whole_even_by_a_short_wait(
    serve: Callable[[Script], RawServer],
) -> None:
    """Answers streaming in are often caught mid-frame by a wait with little time left: that is
    not a stall, and must not cost the connection."""
    data = frame(b'{"cid":"c-1","code":200}')

    def script(conn: socket.socket) -> None:
        conn.sendall(data[:5])
        time.sleep(0.1)
        conn.sendall(data[5:])
        time.sleep(1)

    server = serve(script)
    conn = connect(server.url, 1.0, None)
    time.sleep(0.05)  # the first five bytes are there
    assert conn.recv(0.01) == b'{"cid":"c-1","code":200}'
    conn.close()


def test_a_dripping_frame_ends_the_connection_one_timeout_after_it_began(
    serve: Callable[[Script], RawServer],
) -> None:
    data = frame(b'{"cid":"c-1","code":200}')

    def script(conn: socket.socket) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    server = serve(script)
    conn = connect(server.url, 0.5, None)
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"incomplete 0\.5 s after it began"):
        while conn.recv(5.0) is None:
            pass
    assert time.monotonic() - started < 0.5 + 0.3
    conn.close()


def test_a_frame_over_the_budget_is_refused_while_reading(serve: Callable[[Script], RawServer]) -> None:
    """The header declares 300 MB; the read stops at the budget, not at the end of the frame."""

    def script(conn: socket.socket) -> None:
        conn.sendall(bytes([0x82, 127]) + struct.pack("!Q", 300 << 20))
        chunk = bytes(1 << 16)
        for _ in range(4800):
            conn.sendall(chunk)

    server = serve(script)
    conn = connect(server.url, 2.0, None)
    with pytest.raises(TransportError, match=f"larger than {MESSAGE_BUDGET} bytes"):
        conn.recv(2.0)
    conn.close()


def test_fragments_count_against_one_budget_across_reads(serve: Callable[[Script], RawServer]) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(frame(bytes(1000), opcode=0x1, fin=False))
        piece = frame(bytes(60_000), opcode=0x0, fin=False)
        while True:
            conn.sendall(piece)
            conn.sendall(frame(b"", opcode=0x9))  # a ping between fragments returns the read

    server = serve(script)
    conn = connect(server.url, 5.0, None)
    with pytest.raises(TransportError, match="larger than"):
        while True:
            conn.recv(5.0)
    conn.close()


def test_a_quiet_connection_is_a_timeout_not_a_failure(serve: Callable[[Script], RawServer]) -> None:
    server = serve(lambda conn: time.sleep(1))
    conn = connect(server.url, 1.0, None)
    started = time.monotonic()
    assert conn.recv(0.2) is None
    assert 0.15 < time.monotonic() - started < 0.5
    conn.close()
