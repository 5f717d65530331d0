"""One cancel run: the loop, the socket and the time around a `Ledger` -> Report. Never prints.

The engine is a single-threaded loop around `recv(timeout)`: every wait is a read, so pings are
answered at every wait, and every wait is bounded by the earliest deadline the run has. What the
answers mean is the ledger's business; the engine only moves bytes and keeps time.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Final, NamedTuple

from htx_cancel import frames, transport
from htx_cancel.errors import CredentialsError
from htx_cancel.ledger import Ledger
from htx_cancel.models import (
    CancelRequest,
    Credentials,
    FrameEvent,
    NoteEvent,
    ProgressEvent,
    Report,
    RunSettings,
)
from htx_cancel.pacing import Backoff, Pacer
from htx_cancel.plan import Plan, plan, sign_auth
from htx_cancel.redaction import Redactor
from htx_cancel.transport import Connection, TlsError, TransportError

Event = FrameEvent | ProgressEvent | NoteEvent
CLOCK_SKEW_LIMIT: Final = 60.0
MAX_NOTES: Final = 20
"""Distinct notes kept and shown per run: a server flooding `op: error` must not grow stderr, the
audit log or the report without limit."""


def _no_event(_: Event) -> None:
    return None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class World(NamedTuple):
    """The outside world of a run, injectable so tests can use a fast back-off or a fixed clock
    while still talking to a real socket."""

    connect: Callable[[str, float, str | None], Connection] = transport.connect
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = _utcnow
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    backoff: Backoff = Backoff()
    on_event: Callable[[Event], None] = _no_event
    wants_frames: bool = False


class AuthRejected(Exception):
    """The exchange refused our signature; the message carries its code, text and any clock skew."""


class ConnectionLost(Exception):
    """The stream ended or can no longer be trusted; in-flight IDs must be resent elsewhere."""


class _Driver:
    """The I/O half of a run: writes what the ledger says is due, within the pace, and feeds it
    what comes back. Notes and frame events go out through `world.on_event`, redacted once here."""

    def __init__(
        self,
        request: CancelRequest,
        settings: RunSettings,
        world: World,
        redactor: Redactor,
        ledger: Ledger,
        first_cid: int,
    ) -> None:
        self.request = request
        self.settings = settings
        self.world = world
        self.redactor = redactor
        self.ledger = ledger
        self.started = world.clock()
        self.pacer = Pacer(settings.max_rate)
        self.problems: list[str] = []
        self.suppressed = 0
        self.cancel_sent = False
        self.cids = itertools.count(first_cid)

    def elapsed(self) -> float:
        return self.world.clock() - self.started

    def emit_frame(self, direction: str, text: str) -> None:
        if self.world.wants_frames:
            self.world.on_event(FrameEvent(direction, self.redactor(text), time.time(), self.elapsed()))

    def note(self, text: str) -> None:
        """Notes quote exception and server text: redacted here, once, for every sink. A repeated
        note is not said again, and past MAX_NOTES distinct ones the rest are only counted."""
        text = self.redactor(text)
        if text in self.problems:
            return
        if len(self.problems) >= MAX_NOTES:
            self.suppressed += 1
            if self.suppressed == 1:
                self.world.on_event(NoteEvent(f"more than {MAX_NOTES} problems; further ones not shown"))
            return
        self.problems.append(text)
        self.world.on_event(NoteEvent(text))

    def last_problem(self, default: str) -> str:
        return self.problems[-1] if self.problems else default

    def progress(self) -> None:
        ledger = self.ledger
        self.world.on_event(
            ProgressEvent(
                ledger.requests_sent,
                ledger.queued,
                ledger.requests_answered,
                ledger.resolved,
                len(ledger.orders),
            )
        )

    # --- the wire ----------------------------------------------------------------------

    def send(self, conn: Connection, text: str) -> None:
        conn.send(text)
        self.emit_frame("sent", text)

    def receive(self, conn: Connection, timeout: float) -> frames.Event | None:
        """One understood event, None on timeout; pings are answered here so no wait forgets them."""
        raw = conn.recv(timeout)
        if raw is None:
            return None
        try:
            message = frames.decode(raw)
        except frames.FrameError as exc:
            self.emit_frame("received", f"<unreadable frame: {exc}>")
            raise ConnectionLost(f"protocol error: {exc}") from None
        if self.world.wants_frames:
            self.emit_frame("received", json.dumps(message, ensure_ascii=False))
        event = frames.classify(message)
        if isinstance(event, frames.Ping):
            self.send(conn, frames.pong_frame(event))
        elif isinstance(event, frames.Notice):
            if event.op == "close":
                raise ConnectionLost("the exchange announced it is closing the connection")
            self.note(f"exchange reported an error on the connection: {event.code} {event.message}".rstrip())
        return event

    def authenticate(self, conn: Connection, signed: frames.SignedAuth, cid: str) -> None:
        self.redactor.add_secret(signed.signature)
        self.send(conn, signed.text)
        deadline = self.world.clock() + self.settings.timeout
        while True:
            left = deadline - self.world.clock()
            if left <= 0:
                raise ConnectionLost(f"no answer to authentication within {self.settings.timeout:g} s")
            event = self.receive(conn, left)
            if isinstance(event, frames.Answer) and (event.cid == cid or event.auth):
                if event.ok:
                    return
                raise AuthRejected(self.auth_refusal(event))

    def auth_refusal(self, answer: frames.Answer) -> str:
        text = f"authentication rejected by the exchange: {answer.code} {answer.message}".rstrip()
        if answer.ts is not None:
            skew = self.world.wall_clock().timestamp() - answer.ts / 1000
            if abs(skew) > CLOCK_SKEW_LIMIT:
                side = "ahead of" if skew > 0 else "behind"
                text += (
                    f"; this machine's clock is {abs(skew):.0f} s {side} the exchange's"
                    " (signatures are valid for 5 minutes): sync it, e.g. with NTP"
                )
        return text

    def write_due(self, conn: Connection) -> None:
        """Write every batch that is due and that the pace allows, re-reading the clock for each
        one so a stale `now` can never let a burst through."""
        while True:
            now = self.world.clock()
            if self.pacer.delay(now) > 0:
                return
            item = self.ledger.pop_due(now)
            if item is None:
                return
            batch = item.batch
            if item.planned is not None and item.planned.batch == batch:
                cid, text = item.planned.cid, item.planned.text
            else:
                cid = f"c-{next(self.cids)}"
                text = frames.cancel_frame(cid, self.request.contract_code, batch.kind, batch.ids)
            try:
                self.send(conn, text)
            except TransportError:
                self.ledger.requeue(item)
                raise
            written = self.world.clock()
            self.pacer.record(written)  # when written, as SPEC section 1 counts
            self.ledger.sent(cid, batch, written + self.settings.timeout)
            self.cancel_sent = True
            self.progress()

    def pump(self, conn: Connection) -> None:
        """Write whatever pacing and back-off allow, then wait for the nearest deadline."""
        timeout_note = f"no answer within {self.settings.timeout:g} s"
        while self.ledger.has_work():
            self.ledger.expire(self.world.clock(), timeout_note)
            self.write_due(conn)
            now = self.world.clock()
            send_at = self.ledger.next_send_at()
            if send_at is not None:
                send_at = max(send_at, now + self.pacer.delay(now))
            wake = [t for t in (self.ledger.next_deadline(), send_at) if t is not None]
            if not wake:
                return
            event = self.receive(conn, max(min(wake) - self.world.clock(), 0.0))
            if isinstance(event, frames.Answer):
                self.ledger.answered(event, self.world.clock())
                self.progress()


def run_cancel(
    request: CancelRequest,
    credentials: Credentials,
    settings: RunSettings,
    *,
    simulated: bool = False,
    world: World | None = None,
    redactor: Redactor | None = None,
) -> Report:
    """Cancel every ID of `request` and report each one's state.

    Raises CredentialsError only when the exchange refuses auth before any cancel was written
    (SPEC exit 3); every later failure becomes `unknown` rows in the report instead.
    """
    world = world or World()
    redactor = redactor or Redactor((credentials.secret_key,), credentials.access_key)
    first = plan(request, credentials, settings, world.wall_clock())
    ledger = Ledger(
        request.orders,
        settings.retries,
        lambda retry, limited: world.backoff.delay(retry, limited, world.rng),
    )
    driver = _Driver(request, settings, world, redactor, ledger, len(first.cancels) + 1)
    for cancel in first.cancels:
        ledger.schedule(cancel.batch, driver.started, cancel)
    interrupted = False
    try:
        _connect_and_pump(driver, first, credentials)
    except KeyboardInterrupt:
        interrupted = True
        ledger.give_up_all("interrupted before the exchange answered")
    return Report(
        contract_code=request.contract_code,
        url=settings.url,
        simulated=simulated,
        elapsed_ms=int(driver.elapsed() * 1000),
        duplicates_dropped=request.duplicates_dropped,
        results=ledger.results(),
        interrupted=interrupted,
        problems=tuple(driver.problems),
        confirm=settings.confirm,
    )


def _connect_and_pump(driver: _Driver, first: Plan, credentials: Credentials) -> None:
    """Connect, authenticate and pump until the ledger has no work, reconnecting (with back-off)
    after a lost connection, up to `--retries` times in a row without an answer."""
    world, settings, ledger = driver.world, driver.settings, driver.ledger
    failures = 0
    while ledger.has_work():
        if failures > settings.retries:
            ledger.give_up_all(driver.last_problem("could not reach the exchange"))
            return
        if failures:
            world.sleep(world.backoff.delay(failures, False, world.rng))
        answered = ledger.requests_answered
        conn: Connection | None = None
        try:
            conn = world.connect(settings.url, settings.timeout, settings.ca_bundle)
            fresh = failures == 0 and not driver.cancel_sent
            signed = first.auth if fresh else sign_auth(credentials, settings.url, world.wall_clock())
            driver.authenticate(conn, signed, first.auth_cid)
            driver.pump(conn)
        except TlsError as exc:
            driver.note(str(exc))
            ledger.give_up_all(str(exc))
        except AuthRejected as exc:
            if not driver.cancel_sent:
                raise CredentialsError(str(exc)) from None
            driver.note(str(exc))
            ledger.give_up_all(str(exc))
        except (TransportError, ConnectionLost) as exc:
            # Only a connection that got answers counts as working: one that authenticates
            # and then drops every time must not reconnect forever.
            failures = 1 if ledger.requests_answered > answered else failures + 1
            driver.note(f"{exc}; reconnecting" if failures <= settings.retries else str(exc))
            ledger.lose_inflight(str(exc), world.clock())
        finally:
            if conn is not None:
                conn.close()
