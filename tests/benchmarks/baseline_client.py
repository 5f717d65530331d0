"""A minimal hand-written HTX cancel client: the floor htx-cancel's start-up and wall time are held to.

It is what a careful user would write in a hurry instead of installing a tool: websocket-client
and the standard library only, one connection, auth, one `cancel_batch_orders`, wait for its
answer, close, exit. It signs on its own, from htx-protocol.md, and never imports htx_cancel, so
it shares none of the tool's code paths (or bugs) and what it costs is Python, the library and the
wire. It prints nothing, so none of its time goes to output.

    HTX_ACCESS_KEY=... HTX_SECRET_KEY=... python baseline_client.py WS_URL [ID,ID,...]

Exit 0 when the cancel request was answered with code 200 (whatever the per-order codes), 1 when
it was answered with anything else, 3 when auth was refused: the benchmark checks it, so a broken
run is never timed as a fast one. The functions are importable so the benchmark can reuse the
same minimal client to measure one round trip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import zlib
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote, urlsplit

import websocket

CONTRACT: Final = "BTC-USDT"
IDS: Final = ("900001", "900002", "900003")
"""Not in the simulator's demo book, so every run gets the same answer (1061) and no run changes
the book for the next one."""

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


def sign(secret_key: str, url: str, access_key: str, timestamp: str) -> str:
    """HmacSHA256 signature version 2: GET, host (lower case, no port), path, sorted params with
    strict percent-encoding (`:` -> `%3A`), joined by newlines; base64, not URL-encoded."""
    parts = urlsplit(url)
    params = {
        "AccessKeyId": access_key,
        "SignatureMethod": "HmacSHA256",
        "SignatureVersion": "2",
        "Timestamp": timestamp,
    }
    query = "&".join(f"{name}={quote(params[name], safe='')}" for name in sorted(params))
    text = "\n".join(("GET", (parts.hostname or "").lower(), parts.path or "/", query))
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def wait_for(ws: websocket.WebSocket, cid: str) -> dict[str, object]:
    """Read until the frame answering `cid` arrives, answering pings on the way (both forms)."""
    while True:
        data = ws.recv()
        if isinstance(data, bytes):
            data = zlib.decompress(data, _GZIP_WBITS)
        message = json.loads(data)
        if message.get("op") == "ping":
            ws.send(json.dumps({"op": "pong", "ts": message["ts"]}))
        elif "ping" in message:
            ws.send(json.dumps({"pong": message["ping"]}))
        elif message.get("cid") == cid or (cid.startswith("auth") and message.get("op") == "auth"):
            return dict(message)


def answer_ok(message: dict[str, object]) -> bool:
    """Success is `code` 200 (cid form) or `err-code` 0 (op form); codes may be strings."""
    return str(message.get("code")) == "200" or str(message.get("err-code")) == "0"


def connect(
    url: str, access_key: str, secret_key: str, sslopt: dict[str, object] | None = None
) -> websocket.WebSocket | None:
    """Connect and authenticate; None when the auth is refused. `wss://` trusts what
    websocket-client trusts by default (the system store, or SSL_CERT_FILE when it is set);
    `sslopt` is for the benchmark's own probes, main() never passes it."""
    ws = websocket.create_connection(url, timeout=10, sslopt=sslopt)
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    auth = {
        "op": "auth",
        "type": "api",
        "cid": "auth-1",
        "AccessKeyId": access_key,
        "SignatureMethod": "HmacSHA256",
        "SignatureVersion": "2",
        "Timestamp": timestamp,
        "Signature": sign(secret_key, url, access_key, timestamp),
    }
    ws.send(json.dumps(auth))
    if not answer_ok(wait_for(ws, "auth-1")):
        ws.close()
        return None
    return ws


def cancel(ws: websocket.WebSocket, cid: str, ids: Sequence[str]) -> dict[str, object]:
    """One cancel_batch_orders request and its answer."""
    frame = {
        "op": "cancel_batch_orders",
        "cid": cid,
        "data": {"contract_code": CONTRACT, "order_id": list(ids)},
    }
    ws.send(json.dumps(frame))
    return wait_for(ws, cid)


def main(argv: Sequence[str]) -> int:
    """Connect, auth, one cancel, wait for the answer, close."""
    url = argv[1]
    ids = argv[2].split(",") if len(argv) > 2 else IDS
    ws = connect(url, os.environ["HTX_ACCESS_KEY"], os.environ["HTX_SECRET_KEY"])
    if ws is None:
        return 3
    answer = cancel(ws, "c-1", ids)
    ws.close()
    return 0 if answer_ok(answer) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
