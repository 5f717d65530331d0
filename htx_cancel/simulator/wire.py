"""Bytes for the wire that websockets would not produce: gzip JSON, the bomb, raw frame headers.

Pure functions; the server decides when and how they are written.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import struct
import zlib
from typing import Final

BOMB_INFLATED_BYTES: Final = 300 * 1024 * 1024
_BOMB_CHUNK: Final = 1 << 20

OVERSIZED_DECLARED_BYTES: Final = 300 * 1024 * 1024
"""What the "oversized" frame's header promises; the simulator streams zeros towards it and
never holds more than one small chunk."""
OVERSIZED_CHUNK: Final = bytes(64 * 1024)

OPCODE_CONTINUATION: Final = 0x0
OPCODE_TEXT: Final = 0x1
OPCODE_BINARY: Final = 0x2

ENDLESS_FIRST: Final = b'{"op":"notify","pad":"'
"""The start of a text message that is never finished (valid UTF-8, so only its end is missing)."""
ENDLESS_PIECE: Final = b"x" * 64


def gzip_json(obj: object) -> bytes:
    """HTX sends every trade-socket frame as gzip-compressed JSON in a binary frame."""
    return gzip.compress(json_text(obj).encode(), mtime=0)


def json_text(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def frame_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """An RFC 6455 server-to-client frame header: FIN bit, opcode, no mask, the payload length in
    the shortest of its three encodings (7 bits, 16 bits after 126, 64 bits after 127)."""
    first = (0x80 if fin else 0x00) | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A whole unmasked server frame."""
    return frame_header(opcode, len(payload), fin=fin) + payload


@functools.lru_cache(maxsize=1)
def bomb() -> bytes:
    """A single-member gzip of about 300 kB that inflates to 300 MB of zeros.

    Compressing 300 MB takes most of a second, too slow under a loaded test run, so one 1 MiB
    chunk is deflated once with a full flush (which byte-aligns and resets the history, making
    every chunk's output identical) and the piece is repeated. The inflated size is never held;
    only the CRC is computed over it, a chunk at a time.
    """
    chunk = bytes(_BOMB_CHUNK)
    count = BOMB_INFLATED_BYTES // _BOMB_CHUNK
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


def hostile_payload(kind: str, ts: int) -> bytes:
    """The binary message that replaces an answer for the hostile faults websockets can send."""
    if kind == "garbage":
        # 0xff can start neither gzip nor UTF-8, so the bytes are undecodable however read.
        return b"\xff" + os.urandom(63)
    if kind == "invalid_json":
        return gzip.compress(b'{"cid": ', mtime=0)
    if kind == "shape":
        return gzip_json([1, 2, 3])
    if kind == "bomb":
        return bomb()
    if kind == "close":
        return gzip_json({"op": "close", "ts": ts})
    return gzip_json({"op": "error", "ts": ts})
