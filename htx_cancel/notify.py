"""The order push socket of a `--confirm` run (SPEC section 7): opened, authenticated and
subscribed on a thread of its own while the trade socket connects, so in the usual case it
costs no round trip of its own; then handed to the engine's loop, which reads both sockets.

The thread touches nothing but its own connection and a few fields it sets before signalling;
the engine reads them only after the signal (the `done` event, and a byte on a socketpair so a
`select()` on the trade socket wakes for it too).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Final

from htx_cancel import frames
from htx_cancel.plan import NOTIFY_AUTH_CID, SUBSCRIBE_CID, NotifyPlan
from htx_cancel.transport import Connection

CHANNEL: Final = "notify"

Opener = Callable[[], Connection]
Authenticator = Callable[[Connection, frames.SignedAuth, str, str], None]
AnswerWaiter = Callable[[Connection, str, str, str], frames.Answer]
Sender = Callable[[Connection, str, str], None]


class PushSocket:
    """One subscription to the `orders` topic; `failure` says why there is none."""

    def __init__(self, notify: NotifyPlan, deadline: float) -> None:
        self.plan = notify
        self.deadline = deadline
        """The first cancel waits for the subscription until then, and no longer."""
        self.conn: Connection | None = None
        self.subscribed = False
        self.failure: str | None = None
        self.done = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._taken = False
        self._closed = False

    def start(
        self, open_: Opener, authenticate: Authenticator, send: Sender, await_answer: AnswerWaiter
    ) -> None:
        def work() -> None:
            try:
                conn = open_()
                self.conn = conn
                authenticate(conn, self.plan.auth, NOTIFY_AUTH_CID, CHANNEL)
                send(conn, self.plan.subscribe, CHANNEL)
                ack = await_answer(conn, SUBSCRIBE_CID, CHANNEL, "the order subscription")
                if ack.ok:
                    self.subscribed = True
                else:
                    refusal = f"the exchange refused the order subscription: {ack.code} {ack.message}"
                    self.failure = refusal.rstrip()
            except Exception as exc:  # any failure here only costs the confirmation, never the cancel
                self.failure = str(exc) or type(exc).__name__
            finally:
                self.done.set()
                if self._closed and self.conn is not None:
                    self.conn.close()  # the run ended while this thread was still opening
                with contextlib.suppress(OSError):
                    self._wake_write.send(b"!")

        self._thread = threading.Thread(target=work, name="htx-cancel-notify", daemon=True)
        self._thread.start()

    def wake_fd(self) -> int | None:
        """A descriptor that becomes readable when the opening thread is done; None once taken."""
        return None if self._taken or self._closed else self._wake_read.fileno()

    def take(self) -> Connection | None:
        """After `done`: the subscribed connection for the engine's loop, or None (and it is closed)."""
        self._taken = True
        if self.subscribed:
            return self.conn
        self.close()
        return None

    def close(self) -> None:
        """Close the connection and the wake-up pair; a thread still opening is left to time out
        (it is a daemon, and its connect is bounded by --timeout)."""
        self._closed = True
        if self.done.is_set() and self.conn is not None:
            self.conn.close()
            self.conn = None
        for end in (self._wake_read, self._wake_write):
            end.close()
