"""Opening a connection the way the trade socket, the push socket and the REST calls all need it:
one absolute deadline over name lookup, connect, proxy CONNECT and TLS handshake; the proxy curl
would use; certificates and host names always verified.

It imports neither websocket-client nor http.client, so a connection can start dialling while
the rest of the tool is still loading (`HeadStart`): at 50 ms a round trip, TCP and TLS take
three of them, time enough for every import the send path still needs.
"""

from __future__ import annotations

import base64
import math
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from htx_cancel.proxies import Proxy, proxy_for
from htx_cancel.tls import tls_context

USER_AGENT: Final = "htx-cancel"
_MAX_PROXY_HEAD: Final = 16 * 1024

AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


class DialFailure(Exception):
    """A failure already put in words (a proxy's refusal), to be prefixed with what was dialled."""


class Deadline:
    """One call's absolute deadline, shared by every wait of the call, and what it is doing now."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at = math.inf
        self.stage = "connecting"

    def left(self) -> float:
        """Seconds left; TimeoutError once none are, so no wait can start after the deadline."""
        left = self.at - self._clock()
        if left <= 0:
            raise TimeoutError(self.stage)
        return left


def status_words(status: int) -> str:
    """`HTTP 404 Not Found`, the way a person reads a status."""
    from http import HTTPStatus  # only on failure paths: the enum costs a millisecond to build

    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_socket(
    host: str, port: int, tls: ssl.SSLContext | None, proxy: Proxy | None, deadline: Deadline
) -> socket.socket:
    """Resolve, connect (to the proxy if any), tunnel, then TLS with host-name verification."""
    sock = connect_tcp(proxy.host, proxy.port, deadline) if proxy else connect_tcp(host, port, deadline)
    try:
        if proxy is not None:
            tunnel(sock, host, port, proxy, deadline)
        if tls is not None:
            deadline.stage = "TLS handshake"
            sock.settimeout(deadline.left())  # CPython bounds the whole handshake by this
            sock = tls.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return sock


def dial_url(url: str, timeout: float, ca_bundle: str | None, env: Mapping[str, str]) -> socket.socket:
    """The connection a ws:// or wss:// URL names, ready for the WebSocket handshake."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "wss"
    host = parts.hostname or ""
    deadline = Deadline()
    deadline.at = time.monotonic() + timeout
    tls = tls_context(ca_bundle, env) if secure else None
    return open_socket(host, parts.port or (443 if secure else 80), tls, proxy_for(url, env), deadline)


def connect_tcp(host: str, port: int, deadline: Deadline) -> socket.socket:
    """Each address in turn, every attempt bounded by the time left."""
    error: OSError | None = None
    for family, kind, proto, _, address in resolve(host, port, deadline):
        left = deadline.left()
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address for {host}")


def resolve(host: str, port: int, deadline: Deadline) -> list[AddressInfo]:
    """getaddrinfo has no timeout (a dead DNS server holds it for many seconds), so it runs on a
    daemon thread that the call stops waiting for at its deadline."""
    found: list[AddressInfo] = []
    failed: list[OSError] = []

    def work() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failed.append(exc)

    deadline.stage = f"resolving {host}"
    worker = threading.Thread(target=work, name="htx-cancel-resolve", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise TimeoutError(deadline.stage)
    if failed:
        raise failed[0]
    deadline.stage = f"connecting to {authority(host, port)}"
    return found


def tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy, deadline: Deadline) -> None:
    """CONNECT through an http:// proxy; its refusal becomes a message with its status in words."""
    target = authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", f"User-Agent: {USER_AGENT}"]
    if proxy.auth is not None:
        token = base64.b64encode(f"{proxy.auth[0]}:{proxy.auth[1]}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    deadline.stage = f"sending CONNECT to proxy {proxy.host}:{proxy.port}"
    sock.settimeout(deadline.left())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    deadline.stage = f"waiting for proxy {proxy.host}:{proxy.port} to answer CONNECT"
    head = bytearray()
    # One byte at a time: whatever follows the proxy's answer belongs to the tunnel (a few dozen
    # bytes, so the extra system calls cost nothing worth a buffer that could swallow them).
    while not (head.endswith(b"\n\r\n") or head.endswith(b"\n\n")):
        if len(head) > _MAX_PROXY_HEAD:
            raise DialFailure(f"proxy {proxy.host}:{proxy.port} sent an oversized answer to CONNECT")
        sock.settimeout(deadline.left())
        byte = sock.recv(1)
        if not byte:
            raise DialFailure(
                f"proxy {proxy.host}:{proxy.port} closed the connection instead of answering CONNECT"
            )
        head += byte
    words = bytes(head).split(b"\n", 1)[0].split(None, 2)
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
        raise DialFailure(f"proxy {proxy.host}:{proxy.port} sent a malformed answer to CONNECT")
    status = int(words[1])
    if not 200 <= status < 300:
        refused = f"refused CONNECT to {target}: {status_words(status)}"
        raise DialFailure(f"proxy {proxy.host}:{proxy.port} {refused}")


class HeadStart:
    """The run's sockets (the trade socket, and with --confirm the push socket) dialled on threads
    of their own as soon as the inputs and credentials are known to be good (never before: bad
    input opens no connection), while the rest of the tool loads. The engine's first connect to
    each URL takes its socket; any later one dials afresh."""

    def __init__(self, urls: list[str], timeout: float, ca_bundle: str | None) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Thread, list[socket.socket | BaseException]]] = {}
        for url in urls:
            result: list[socket.socket | BaseException] = []
            thread = threading.Thread(
                target=self._dial, args=(url, timeout, ca_bundle, result), name="htx-cancel-dial", daemon=True
            )
            self._pending[url] = (thread, result)
            thread.start()

    @staticmethod
    def _dial(
        url: str, timeout: float, ca_bundle: str | None, result: list[socket.socket | BaseException]
    ) -> None:
        try:
            result.append(dial_url(url, timeout, ca_bundle, os.environ))
        except BaseException as exc:  # handed to the engine's connect, which words it
            result.append(exc)

    def take(self, url: str) -> socket.socket | None:
        """The socket dialled for `url` (or the error dialling met), once; None afterwards."""
        with self._lock:
            pending = self._pending.pop(url, None)
        if pending is None:
            return None
        thread, result = pending
        thread.join()  # bounded: the dial has its own deadline
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]
