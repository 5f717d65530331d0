"""A real threaded HTTP(S) server on loopback for the REST client's tests.

It checks every request's signature with htx_cancel.signing, records the raw request lines and
which TCP connection carried them, and answers through `reply`, a function of the handler that
tests swap to make it misbehave (drip, stall, lie about lengths, close connections).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from htx_cancel.signing import sign

WS_PATH = "/linear-swap-trade"


class Seen(NamedTuple):
    """One request as it arrived."""

    connection: int
    line: str
    headers: dict[str, str]
    signature_ok: bool


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def setup(self) -> None:
        owner = self.server.owner
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()
        self.connection_id = owner.opened(self.request)

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.seen.append(
            Seen(self.connection_id, self.requestline, dict(self.headers.items()), owner.signature_ok(self))
        )
        owner.reply(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on what was seen, not on a log."""

    # Answers tests combine into `reply` functions.

    def send_json(self, obj: object, status: int = 200, close: bool = False, announce: bool = True) -> None:
        """A JSON answer; `close` ends the connection after it, announced with Connection: close or not."""
        self.send_raw_answer(json.dumps(obj).encode(), status, close=close, announce=announce)

    def send_raw_answer(
        self, body: bytes, status: int = 200, close: bool = False, announce: bool = True
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close and announce:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = close

    def echo(self) -> None:
        """HTX's envelope around what the request asked for, auth parameters left out."""
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        own = {k: v for k, v in query.items() if k not in AUTH_PARAMS}
        self.send_json({"code": 200, "data": {"path": urlsplit(self.path).path, "params": own}})

    def stall(self) -> None:
        """Read the request, then say nothing until the server stops."""
        self.server.owner.stopping.wait(30)

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; False once it is."""
        return not self.server.owner.stopping.wait(seconds)


AUTH_PARAMS = frozenset({"AccessKeyId", "SignatureMethod", "SignatureVersion", "Timestamp", "Signature"})


class _Server(http.server.ThreadingHTTPServer):
    owner: HttpServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up or refuse the certificate are what these tests are about: no noise."""


class HttpServer:
    """`HttpServer(secret, tls=context).start()`; `.trade_url`, `.seen`, `.connections`, `.stop()`."""

    def __init__(self, secret: str, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.seen: list[Seen] = []
        self.connections = 0
        self.stopping = threading.Event()
        self.reply: Callable[[Handler], None] = Handler.echo
        self._tls = tls
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = _Server((host, 0), Handler, bind_and_activate=True)
        self._server.owner = self
        if tls is not None:
            raw = self._server.socket
            self._server.socket = tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    def trade_url(self, host: str = "127.0.0.1") -> str:
        """The trade URL whose REST origin is this server."""
        return f"{'wss' if self._tls else 'ws'}://{host}:{self.port}{WS_PATH}"

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def opened(self, sock: socket.socket) -> int:
        with self._lock:
            self._sockets.append(sock)
            self.connections += 1
            return self.connections

    def signature_ok(self, handler: Handler) -> bool:
        """HTX's rule: GET, Host without port in lower case, path, sorted and encoded params."""
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        signature = params.pop("Signature", "")
        host = (urlsplit("//" + handler.headers.get("Host", "")).hostname or "").lower()
        expected = sign(self.secret, host, parts.path, params)
        return bool(signature) and signature == expected  # parse_qsl decoded it: a raw '+' would not match
