"""The websocket-client adapter: the only module that imports `websocket`.

It turns the library's many exceptions into two of ours, so the engine reasons about
"the connection is gone" and "TLS said no" and nothing else.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Final, Protocol

import websocket

from htx_cancel.dial import DialFailure, HeadStart, dial_url, status_words
from htx_cancel.frames import MAX_FRAME_BYTES
from htx_cancel.proxies import ProxySettingError
from htx_cancel.tls import CaBundleError


class TransportError(Exception):
    """The connection could not be made or is gone; what was in flight has an unknown fate."""


class TlsError(TransportError):
    """Certificate verification or the TLS handshake failed: retrying will not change it."""


class Connection(Protocol):
    """What the engine needs from a socket; tests and the simulator never replace it (real sockets)."""

    def send(self, text: str) -> None: ...

    def recv(self, timeout: float) -> bytes | str | None: ...

    def fileno(self) -> int: ...

    def buffered(self) -> bool: ...

    def close(self) -> None: ...


MESSAGE_BUDGET: Final = MAX_FRAME_BYTES + 64
"""Most bytes one message may take off the socket, headers and fragments included: the largest
frame the codec accepts plus the WebSocket framing around it."""


class _FrameTooLarge(Exception):
    pass


class _BoundedReader:
    """Stands in for websocket-client's socket read inside its frame parser, so the library cannot
    read past our deadline or our byte budget: it would otherwise read a whole declared frame (or
    every fragment of a message) before returning, however large or slow.

    A message may start until the caller's deadline; once it has started it has `message_time`
    from its first byte to finish, whatever the caller's wait: longer than a short wait (a frame
    caught half-arrived is normal when answers stream in), and no longer than that (a peer
    dripping a byte at a time is not to be waited for). Bytes count from the start of a message
    until it is whole, across calls, so fragments interleaved with pings cannot reset the count."""

    def __init__(self, ws: websocket.WebSocket, message_time: float) -> None:
        self._ws = ws
        self._read: Callable[[int], bytes] = ws.frame_buffer.recv
        self.message_time = message_time
        self.deadline = 0.0
        self.started = 0.0
        self.used = 0

    def __call__(self, bufsize: int) -> bytes:
        now = time.monotonic()
        starting = not self.mid_message()
        limit = self.deadline if starting else self.started + self.message_time
        if now >= limit:
            raise websocket.WebSocketTimeoutException("deadline passed")
        if self.used >= MESSAGE_BUDGET:
            raise _FrameTooLarge
        if self._ws.sock is not None:
            self._ws.sock.settimeout(limit - now)
        data = self._read(min(bufsize, MESSAGE_BUDGET - self.used))
        if starting:
            self.started = now
        self.used += len(data)
        return data

    def mid_message(self) -> bool:
        """True when part of a frame or of a fragmented message has been read: the stream cannot
        be resumed by anyone but the library, and a peer that stalls there is not trusted."""
        buffer = self._ws.frame_buffer
        return bool(buffer.header or buffer.recv_buffer or self._ws.cont_frame.recving_frames)


class WebSocketConnection:
    """A connected socket whose every read has an absolute deadline and a byte budget."""

    def __init__(self, ws: websocket.WebSocket, message_time: float) -> None:
        self._ws = ws
        self._reader = _BoundedReader(ws, message_time)
        ws.frame_buffer.recv = self._reader

    def send(self, text: str) -> None:
        """Write one text frame; a failure means the connection is gone."""
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(f"connection lost while sending ({_describe(exc)})") from None

    def recv(self, timeout: float) -> bytes | str | None:
        """One data message, or None when nothing but control frames arrived within `timeout` s.

        A message that is not whole by the deadline, or that grows past MESSAGE_BUDGET, ends the
        connection (TransportError): the engine reconnects and resends what is unresolved."""
        self._reader.deadline = time.monotonic() + max(timeout, 0.001)
        try:
            # control_frame=True: a WebSocket ping (answered by the library) returns here, so a
            # peer pinging faster than our timeout cannot hold the read past its deadline.
            opcode, data = self._ws.recv_data(control_frame=True)
        except _FrameTooLarge:
            raise TransportError(f"the exchange sent a frame larger than {MESSAGE_BUDGET} bytes") from None
        except (OSError, websocket.WebSocketException) as exc:
            if not isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
                raise TransportError(f"connection lost ({_describe(exc)})") from None
            if self._reader.mid_message():
                took = self._reader.message_time
                raise TransportError(f"a frame was still incomplete {took:g} s after it began") from None
            return None
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            return None
        self._reader.used = 0
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise TransportError("the exchange closed the connection")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return bytes(data).decode("utf-8", errors="replace")
        return bytes(data)

    def fileno(self) -> int:
        """For select(): the engine waits on the trade and notification sockets at once."""
        sock = self._ws.sock
        return sock.fileno() if sock is not None else -1

    def buffered(self) -> bool:
        """Bytes already decrypted by TLS but not yet read: select() cannot see them."""
        sock = self._ws.sock
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def close(self) -> None:
        """Say goodbye (a close frame) and hang up without waiting for the peer's reply: the run is
        over, and waiting for the echo costs a whole round trip at the end of every run."""
        with suppress(OSError, websocket.WebSocketException):
            self._ws.send_close()
        self._ws.shutdown()  # type: ignore[no-untyped-call]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def connect(url: str, timeout: float, ca_bundle: str | None, head: HeadStart | None = None) -> Connection:
    """Dial (or take the head start's socket) and upgrade it to a WebSocket; TLS always verifies
    the certificate and the host name, and a proxy is used the way curl would."""
    try:
        sock = (head.take(url) if head is not None else None) or dial_url(url, timeout, ca_bundle, os.environ)
    except (CaBundleError, ProxySettingError) as exc:
        raise TlsError(str(exc)) from None
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"TLS handshake with {url} failed: {exc.verify_message or exc.reason}") from None
    except TimeoutError as exc:
        raise TransportError(f"cannot connect to {url}: timed out after {timeout:g} s ({exc})") from None
    except (OSError, DialFailure) as exc:
        raise TransportError(f"cannot connect to {url}: {_describe(exc)}") from None
    try:
        ws = websocket.create_connection(
            url, timeout=timeout, socket=sock, skip_utf8_validation=True, enable_multithread=False
        )
    except websocket.WebSocketBadStatusException as exc:
        sock.close()
        raise TransportError(
            f"{url} refused the WebSocket handshake: {status_words(exc.status_code)}"
        ) from None
    except (OSError, ValueError, websocket.WebSocketException) as exc:
        sock.close()
        raise TransportError(f"cannot connect to {url}: {_describe(exc)}") from None
    return WebSocketConnection(ws, timeout)
