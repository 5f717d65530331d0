"""The websocket-client adapter: the only module that imports `websocket`.

It turns the library's many exceptions into two of ours, so the engine reasons about
"the connection is gone" and "TLS said no" and nothing else.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
from typing import Protocol

import websocket


class TransportError(Exception):
    """The connection could not be made or is gone; what was in flight has an unknown fate."""


class TlsError(TransportError):
    """Certificate verification or the TLS handshake failed: retrying will not change it."""


class Connection(Protocol):
    """What the engine needs from a socket; tests and the simulator never replace it (real sockets)."""

    def send(self, text: str) -> None: ...

    def recv(self, timeout: float) -> bytes | str | None: ...

    def close(self) -> None: ...


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """System trust plus SSL_CERT_FILE plus --ca-bundle: trust is only ever added, never switched off.

    Loading the system CA store costs tens of milliseconds, so a context is built once per
    run (the CLI builds it before connecting, to check the files) and reused by every connect."""
    return _tls_context(ca_bundle, os.environ.get("SSL_CERT_FILE"))


@functools.lru_cache(maxsize=4)
def _tls_context(ca_bundle: str | None, cert_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for extra in (cert_file, ca_bundle):
        if extra:
            try:
                context.load_verify_locations(cafile=extra)
            except (OSError, ssl.SSLError) as exc:
                raise TlsError(f"cannot load CA bundle {extra}: {exc}") from None
    return context


class WebSocketConnection:
    """A connected trade socket, reading with a per-call deadline so every wait stays bounded."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws

    def send(self, text: str) -> None:
        """Write one text frame; a failure means the connection is gone."""
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(f"connection lost while sending ({_describe(exc)})") from None

    def recv(self, timeout: float) -> bytes | str | None:
        """One data frame, or None when nothing but control frames arrived within `timeout` s."""
        self._ws.settimeout(max(timeout, 0.001))
        try:
            # control_frame=True: a WebSocket ping (answered by the library) returns here, so a
            # peer pinging faster than our timeout cannot hold the read past its deadline.
            opcode, data = self._ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException) as exc:
            if isinstance(exc, (socket.timeout, TimeoutError)):
                return None
            raise TransportError(f"connection lost ({_describe(exc)})") from None
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise TransportError("the exchange closed the connection")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return bytes(data).decode("utf-8", errors="replace")
        return bytes(data)

    def close(self) -> None:
        """Close politely but briefly: a cancel run must not wait on a peer that has gone away."""
        try:
            self._ws.close(timeout=0.2)
        except (OSError, websocket.WebSocketException):
            self._ws.shutdown()  # type: ignore[no-untyped-call]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def connect(url: str, timeout: float, ca_bundle: str | None) -> Connection:
    """Open the socket; TLS always verifies the certificate and the host name."""
    sslopt = {"context": tls_context(ca_bundle)} if url.startswith("wss:") else None
    try:
        ws = websocket.create_connection(
            url, timeout=timeout, sslopt=sslopt, skip_utf8_validation=True, enable_multithread=False
        )
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"TLS handshake with {url} failed: {exc.verify_message or exc.reason}") from None
    except (OSError, ValueError, websocket.WebSocketException) as exc:
        raise TransportError(f"cannot connect to {url}: {_describe(exc)}") from None
    return WebSocketConnection(ws)
