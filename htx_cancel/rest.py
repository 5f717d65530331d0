"""A small signed-GET client for HTX's v5 REST queries: `--confirm`'s order query, `--all`'s listing.

Standard library only (http.client): no new dependency, and it adds about 8 ms of imports to a
process that already holds the transport, where an HTTP library would add tens. It is generic:
it signs, sends and decodes, and leaves HTX's `code` to its callers.

Every call has one absolute deadline, `timeout` seconds from its start, covering name lookup,
connect, proxy CONNECT, TLS handshake, writing, status line, headers and body, and a cap on the
body; both are enforced while reading, so neither a slow nor a hostile server can hold the run
or its memory. Error messages name the method and the URL without its query: the query carries
the signature, so it never reaches a message.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, NamedTuple
from urllib.parse import quote, urlsplit

from htx_cancel.dial import USER_AGENT, Deadline, DialFailure, open_socket, status_words
from htx_cancel.models import Credentials
from htx_cancel.proxies import Proxy, proxy_for
from htx_cancel.redaction import REDACTED
from htx_cancel.signing import payload, sign, signed_params, timestamp_for
from htx_cancel.tls import tls_context

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_BODY: Final = 4 * 1024 * 1024
"""A page of 100 open orders is about 50 kB; an answer near 4 MiB is not one we asked for."""

_READ_SIZE: Final = 64 * 1024
_HEADERS: Final = {"Accept": "application/json", "User-Agent": USER_AGENT}


class RestError(Exception):
    """A REST call failed. The message is one line: method, URL without its query, what went wrong."""


class RestTlsError(RestError):
    """The server's certificate was not trusted (or not for this host): retrying will not change it."""


class SignedRequest(NamedTuple):
    """What `on_request` sees each time a request is written.

    `text` (`GET https://host/path?...&Signature=<redacted>`) is already safe to log; `signature`
    is handed over so the caller's Redactor can learn it (`redactor.add_secret`) before anything
    else is logged, keeping one rule for every output path."""

    text: str
    signature: str

    def __repr__(self) -> str:
        return f"SignedRequest(text={self.text!r}, signature={REDACTED!r})"


def rest_base(trade_url: str) -> str:
    """The REST origin beside a trade socket: `wss://H[:P]/...` gives `https://H[:P]`, `ws://` gives `http://`.

    HTX serves both from one host, and the local simulator from one port."""
    parts = urlsplit(trade_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError("the trade URL is not a ws:// or wss:// URL with a host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RestClient:
    """Signed GETs to the trade URL's host over one keep-alive connection (not thread-safe: one per thread).

    The constructor checks the configuration, so a bad CA file (tls.CaBundleError) or proxy
    variable (proxies.ProxySettingError) surfaces before any request; `get` raises RestError only.
    TLS trust and the proxy follow the trade socket's rules (tls.tls_context, proxies.proxy_for):
    both targets are tunnelled with CONNECT through an http:// proxy, host names always verified.
    """

    def __init__(
        self,
        trade_url: str,
        credentials: Credentials,
        timeout: float,
        ca_bundle: str | None,
        env: Mapping[str, str],
        *,
        wall_clock: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[SignedRequest], None] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self._base = rest_base(trade_url)
        parts = urlsplit(self._base)
        secure = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if secure else 80)
        self._credentials = credentials
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._clock = clock
        self._on_request = on_request
        self._max_body = max_body
        self._tls = tls_context(ca_bundle, env) if secure else None
        self._proxy = proxy_for(self._base, env)
        self._deadline = Deadline(clock)
        self._connection: _Connection | None = None

    def get(self, path: str, params: Mapping[str, str]) -> dict[str, object]:
        """Sign and send `GET path?params`, return the decoded JSON object; RestError otherwise.

        Only HTTP 200 is an answer: any other status is a RestError naming it in words
        (`HTTP 502 Bad Gateway`) and its body is not read, since HTX answers its own errors with
        200 and a `code`, so a non-200 comes from a gateway in front of it. Numbers with a fraction
        decode as Decimal, so no value is rounded on the way. A request the server dropped on a
        reused idle connection is sent once more on a fresh one (a GET is safe to repeat)."""
        if not path.startswith("/") or any(c in path for c in "?# ") or not path.isprintable():
            raise ValueError(f"not a plain absolute path: {path!r}")
        what = f"GET {self._base}{path}"
        self._deadline.at = self._clock() + self._timeout
        signed = {**params, **signed_params(self._credentials.access_key, timestamp_for(self._wall_clock()))}
        sign_host = self._host.lower()
        signature = sign(self._credentials.secret_key, sign_host, path, signed)
        query = payload(sign_host, path, signed).rsplit("\n", 1)[1]  # the very text the HMAC covered
        target = f"{path}?{query}&Signature={quote(signature, safe='')}"
        request = SignedRequest(f"GET {self._base}{path}?{query}&Signature={REDACTED}", signature)
        try:
            body = self._exchange(target, request)
        except Exception as exc:
            self.close()  # mid-answer or unknown state: the next call starts on a fresh connection
            error = self._explain(exc, what)
            if error is None:
                raise
            raise error from None
        try:
            answer = json.loads(body, parse_float=_decimal)
        except (ValueError, RecursionError):
            raise RestError(f"{what}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise RestError(f"{what}: the answer is not a JSON object")
        return answer

    def close(self) -> None:
        """Close the kept-alive connection; the next `get` opens a new one."""
        if self._connection is not None:
            self._connection.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _exchange(self, target: str, request: SignedRequest) -> bytes:
        if self._connection is None:
            self._connection = _Connection(self._host, self._port, self._tls, self._proxy, self._deadline)
        connection = self._connection
        reused = connection.sock is not None
        try:
            response = self._send(connection, target, request)
        except (ConnectionError, ssl.SSLEOFError):
            if not reused:
                raise
            connection.close()  # the server had closed the idle connection: once more, fresh
            response = self._send(connection, target, request)
        try:
            return self._read_body(response)
        finally:
            # After a `Connection: close` answer http.client has already let go of the socket
            # and only the answer holds it: close that too, or a half-read answer leaks it.
            response.close()

    def _send(self, connection: _Connection, target: str, request: SignedRequest) -> http.client.HTTPResponse:
        if connection.sock is None:
            connection.connect()
        if self._on_request is not None:
            self._on_request(request)
        self._deadline.stage = "sending the request"
        connection.request("GET", target, headers=_HEADERS)
        self._deadline.stage = "waiting for the answer"
        return connection.getresponse()

    def _read_body(self, response: http.client.HTTPResponse) -> bytes:
        self._deadline.stage = "reading the answer"
        if response.status != 200:
            raise _Failure(status_words(response.status))
        if response.length is not None and response.length > self._max_body:
            raise _Failure(f"the answer would be {response.length} bytes, over the {self._max_body} allowed")
        body = bytearray()
        while piece := response.read(_READ_SIZE):
            body += piece
            if len(body) > self._max_body:
                raise _Failure(f"the answer is over the {self._max_body} bytes allowed")
        return bytes(body)

    def _explain(self, exc: Exception, what: str) -> RestError | None:
        """One readable line per failure; None for what is not a network failure (a bug: re-raised)."""
        peer = f"proxy {self._proxy.host}:{self._proxy.port}" if self._proxy else f"{self._host}:{self._port}"
        if isinstance(exc, (_Failure, DialFailure)):
            return RestError(f"{what}: {exc}")
        if isinstance(exc, TimeoutError):
            return RestError(f"{what}: timed out after {self._timeout:g} s ({self._deadline.stage})")
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or "untrusted"
            return RestTlsError(f"{what}: TLS certificate verification failed: {reason}")
        if isinstance(exc, ssl.SSLError):
            return RestError(
                f"{what}: TLS failed ({exc.reason or type(exc).__name__}, {self._deadline.stage})"
            )
        if isinstance(exc, ConnectionRefusedError):
            return RestError(f"{what}: connection refused by {peer}")
        if isinstance(exc, socket.gaierror):
            name = self._proxy.host if self._proxy else self._host
            return RestError(f"{what}: cannot resolve {name} ({exc.strerror})")
        if isinstance(exc, http.client.RemoteDisconnected):
            return RestError(f"{what}: the server closed the connection without answering")
        if isinstance(exc, http.client.IncompleteRead):
            return RestError(f"{what}: the answer ended early")
        if isinstance(exc, http.client.HTTPException):
            return RestError(f"{what}: malformed HTTP answer ({type(exc).__name__})")
        if isinstance(exc, OSError):
            return RestError(f"{what}: {exc.strerror or type(exc).__name__} ({self._deadline.stage})")
        return None


class _Failure(Exception):
    """A failure already put in words (status, cap, proxy refusal), given its method and URL by `get`."""


def _decimal(text: str) -> object:
    from decimal import Decimal  # only when a fraction is present: HTX's v5 answers quote theirs

    return Decimal(text)


class _Connection(http.client.HTTPConnection):
    """http.client's HTTP/1.1 keep-alive with our own connect: each step bounded by the call's deadline."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, proxy: Proxy | None, deadline: Deadline
    ) -> None:
        super().__init__(host, port)
        self._tls = tls
        self._proxy = proxy
        self._deadline = deadline

    def connect(self) -> None:
        """Resolve, connect (to the proxy if any), tunnel, then TLS: the socket's own rule."""
        sock = open_socket(self.host, self.port, self._tls, self._proxy, self._deadline)
        self.sock = DeadlineSocket(sock, self._deadline)


class DeadlineSocket:
    """The socket as http.client sees it: every wait gets only the time left before the deadline.

    A socket timeout alone bounds each recv, not the call: a server dripping one byte every 0.2 s
    would restart it forever. Closing follows socket.socket's own rule: the real socket closes
    once both the connection and the answer's file are closed, because http.client closes the
    connection before it reads the body of a `Connection: close` answer."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._files = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.left())  # bounds the whole sendall since Python 3.5
        self._sock.sendall(data)

    def recv_into(self, buffer: WriteableBuffer) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        self._files += 1
        return io.BufferedReader(_Reader(self))

    def release(self) -> None:
        self._files -= 1
        self._close_if_unused()

    def close(self) -> None:
        self._closed = True
        self._close_if_unused()

    def _close_if_unused(self) -> None:
        if self._closed and self._files == 0:
            self._sock.close()


class _Reader(io.RawIOBase):
    """The answer's file for http.client: reads through the deadline socket."""

    def __init__(self, owner: DeadlineSocket) -> None:
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._owner.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._owner.release()
        super().close()
