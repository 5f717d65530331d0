"""A real HTTP CONNECT proxy on loopback, for the REST client's tests and the socket transport's.

    with ConnectProxy() as proxy:                 # or ConnectProxy(refuse=403), ConnectProxy(auth=(u, p))
        env = {"HTTPS_PROXY": proxy.url}
        ...
        assert proxy.targets == ["localhost:4433"]

It tunnels bytes both ways untouched (TLS stays end to end), records every CONNECT target and
Proxy-Authorization header in order, refuses with `refuse` when set, and answers 407 when `auth`
is set and the request does not carry it. Anything but CONNECT gets 405.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading


class ConnectProxy:
    def __init__(self, *, refuse: int | None = None, auth: tuple[str, str] | None = None) -> None:
        self.refuse = refuse
        self.auth = auth
        self.targets: list[str] = []
        self.authorizations: list[str | None] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, ready for HTTPS_PROXY (add `user:pass@` yourself for auth)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ConnectProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every tunnel, so nothing outlives the test."""
        self._stopping = True
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self._stopping:
                _close(sock)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)  # closing a socket does not wake accept(): poll for stop()
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            head, extra = _read_head(client)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = ([*lines[0].split(" "), "", "", ""])[:3]
            headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
            headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
            if method != "CONNECT":
                client.sendall(_answer(405, "Method Not Allowed"))
                return
            self.targets.append(target)
            self.authorizations.append(headers.get("proxy-authorization"))
            if self.refuse is not None:
                client.sendall(_answer(self.refuse, "Refused"))
                return
            if self.auth is not None and headers.get("proxy-authorization") != _basic(self.auth):
                client.sendall(_answer(407, "Proxy Authentication Required"))
                return
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except OSError:
                client.sendall(_answer(502, "Bad Gateway"))
                return
            self._track(upstream)
            upstream.settimeout(None)
            client.settimeout(None)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if extra:
                upstream.sendall(extra)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(10)
            _close(upstream)
        except (OSError, ValueError):
            pass
        finally:
            _close(client)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 65536:
            raise ValueError("no request head")
        data += chunk
    head, _, extra = data.partition(b"\r\n\r\n")
    return head, extra


def _answer(status: int, reason: str) -> bytes:
    extra = 'Proxy-Authenticate: Basic realm="test"\r\n' if status == 407 else ""
    return f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()


def _basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
