"""One cancel run: the loop, the sockets and the time around a `Ledger` -> Report. Never prints.

The engine is a single-threaded loop around reads: every wait is a read, so pings are answered at
every wait, and every wait is bounded by the earliest deadline the run has. With `--confirm` it
waits on the trade socket and the order push socket at once (select), and then asks the REST
order query about whatever no push confirmed. What answers mean is the ledger's business (and
`confirm`'s for pushes); the engine only moves bytes and keeps time.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import select
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Final, NamedTuple

from htx_cancel import frames, transport
from htx_cancel.confirm import Confirmations, Lookup
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
from htx_cancel.notify import PushSocket
from htx_cancel.pacing import MARGIN, WINDOW, Backoff, Pacer
from htx_cancel.plan import Plan, plan, sign_auth
from htx_cancel.redaction import Redactor
from htx_cancel.trail import TracedRest, Trail
from htx_cancel.transport import Connection, TlsError, TransportError

Event = FrameEvent | ProgressEvent | NoteEvent
CLOCK_SKEW_LIMIT: Final = 60.0
MAX_NOTES: Final = 20
"""Distinct notes kept and shown per run: a server flooding `op: error` must not grow stderr, the
audit log or the report without limit."""
READ_FLOOR: Final = 0.2
"""Least time a read on a socket that select() found readable may take to finish its frame."""
AUTH: Final = "authentication"
PACE_NOTE_AFTER: Final = 10.0
QUERY_RATE: Final = 60
"""Order queries per 3 s window: HTX allows 72 reads per account; stay at 60 like the cancels."""


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
    env: Mapping[str, str] = os.environ
    epoch: float | None = None
    """Where -v's timings count from: a run's own start unless it is one round of --all's."""


class AuthRejected(Exception):
    """The exchange refused our signature; the message carries its code, text and any clock skew."""


class ConnectionLost(Exception):
    """The stream ended or can no longer be trusted; in-flight IDs must be resent elsewhere."""


class _Driver:
    """The I/O half of a run: writes what the ledger says is due, within the pace, and feeds it
    what comes back. Notes and frame events go out through `world.on_event`, redacted once here
    (under a lock: the push socket's opening thread reports through the same sinks)."""

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
        self.trail = Trail(world, redactor)
        self.pacer = Pacer(settings.max_rate)
        self.problems: list[str] = []
        self.suppressed = 0
        self.cancel_sent = False
        self.cids = itertools.count(first_cid)
        self.confirmations: Confirmations | None = None
        self.push: PushSocket | None = None
        self.push_conn: Connection | None = None

    def elapsed(self) -> float:
        return self.world.clock() - self.started

    def emit_frame(self, direction: str, text: str, channel: str = "trade") -> None:
        self.trail.frame(direction, text, channel)

    def note(self, text: str) -> None:
        """Notes quote exception and server text: redacted here, once, for every sink. A repeated
        note is not said again, and past MAX_NOTES distinct ones the rest are only counted."""
        with self.trail.lock:
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

    def send(self, conn: Connection, text: str, channel: str = "trade") -> None:
        conn.send(text)
        self.emit_frame("sent", text, channel)

    def receive(self, conn: Connection, timeout: float, channel: str = "trade") -> frames.Event | None:
        """One understood event, None on timeout; pings are answered here so no wait forgets them."""
        raw = conn.recv(timeout)
        if raw is None:
            return None
        try:
            message = frames.decode(raw)
        except frames.FrameError as exc:
            self.emit_frame("received", f"<unreadable frame: {exc}>", channel)
            raise ConnectionLost(f"protocol error: {exc}") from None
        if self.world.wants_frames:
            self.emit_frame("received", json.dumps(message, ensure_ascii=False), channel)
        event = frames.classify(message)
        if isinstance(event, frames.Ping):
            self.send(conn, frames.pong_frame(event), channel)
        elif isinstance(event, frames.Notice):
            if event.op == "close":
                raise ConnectionLost("the exchange announced it is closing the connection")
            self.note(f"exchange reported an error on the connection: {event.code} {event.message}".rstrip())
        return event

    def await_answer(self, conn: Connection, cid: str, channel: str, what: str) -> frames.Answer:
        """Read until the answer to `cid` within --timeout; for an auth, HTX's documented `op: auth`
        answer without a cid counts too."""
        deadline = self.world.clock() + self.settings.timeout
        while True:
            left = deadline - self.world.clock()
            if left <= 0:
                raise ConnectionLost(f"no answer to {what} within {self.settings.timeout:g} s")
            event = self.receive(conn, left, channel)
            if isinstance(event, frames.Answer) and (event.cid == cid or (event.auth and what == AUTH)):
                return event

    def authenticate(
        self, conn: Connection, signed: frames.SignedAuth, cid: str, channel: str = "trade"
    ) -> None:
        self.redactor.add_secret(signed.signature)
        self.send(conn, signed.text, channel)
        answer = self.await_answer(conn, cid, channel, AUTH)
        if not answer.ok:
            raise AuthRejected(self.auth_refusal(answer))

    def auth_refusal(self, answer: frames.Answer) -> str:
        text = f"authentication rejected by the exchange: {answer.code} {answer.message}".rstrip()
        return text + skew_note(answer.ts, self.world.wall_clock())

    # --- the push socket ---------------------------------------------------------------

    def gate_open(self) -> bool:
        """The first cancel waits for the order subscription (no push may be missed), but never
        past --timeout: the cancel matters more than its confirmation."""
        push = self.push
        if push is None or push.wake_fd() is None:
            return True
        if push.done.is_set() or self.world.clock() >= push.deadline:
            self.take_push()
            return True
        return False

    def take_push(self) -> None:
        """The opening thread is done (or the wait is over): use its socket, or say why not."""
        push, confirmations = self.push, self.confirmations
        if push is None or confirmations is None or push.wake_fd() is None:
            return
        if not push.done.is_set():
            push.deadline = float("-inf")
            self.note(
                f"order subscription not acknowledged within {self.settings.timeout:g} s; cancelling anyway"
            )
            self.lose_push(None)
            return
        self.push_conn = push.take()
        if self.push_conn is None:
            self.note(f"no order pushes ({push.failure}); confirming by order query")

    def lose_push(self, reason: str | None) -> None:
        if reason is not None:
            self.note(f"order push socket lost ({reason}); confirming by order query")
        if self.push is not None:
            self.push.close()
        self.push_conn = None

    def on_push(self, event: frames.Event | None) -> None:
        if isinstance(event, frames.Push) and event.topic in (None, "orders") and self.confirmations:
            for update in frames.order_updates(event.data):
                self.confirmations.pushed(update)

    def wait(self, trade: Connection | None, until: float) -> None:
        """Read what comes first on the trade socket or the push socket, until `until`."""
        push_conn = self.push_conn
        wake = self.push.wake_fd() if self.push is not None else None
        if push_conn is None and wake is None and trade is not None:
            self.on_trade(self.receive(trade, max(until - self.world.clock(), 0.0)))
            return
        conns = [c for c in (trade, push_conn) if c is not None]
        ready = [c for c in conns if c.buffered()]
        if not ready:
            fds = [c.fileno() for c in conns] + ([wake] if wake is not None else [])
            timeout = max(until - self.world.clock(), 0.0)
            readable, _, _ = select.select(fds, [], [], timeout) if fds else ([], [], [])
            if not fds:
                self.world.sleep(timeout)
            if wake is not None and wake in readable:
                self.take_push()
            ready = [c for c in conns if c.fileno() in readable]
        for conn in ready:
            left = max(until - self.world.clock(), READ_FLOOR)
            if conn is trade:
                self.on_trade(self.receive(conn, left))
                continue
            try:
                self.on_push(self.receive(conn, left, "notify"))
            except (TransportError, ConnectionLost) as exc:
                self.lose_push(str(exc))

    def on_trade(self, event: frames.Event | None) -> None:
        if not isinstance(event, frames.Answer):
            return
        now = self.world.clock()
        self.ledger.answered(event, now)
        settled = self.ledger.take_settled()
        if self.confirmations is not None:
            for kind, result in settled:
                self.confirmations.accepted(result, kind, now)
        self.progress()

    # --- the trade socket --------------------------------------------------------------

    def write_due(self, conn: Connection) -> None:
        """Write every batch that is due and that the pace allows, re-reading the clock for each
        one so a stale `now` can never let a burst through."""
        if not self.gate_open():
            return
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
                gate = self.push.deadline if self.push is not None and not self.gate_open() else now
                send_at = max(send_at, now + self.pacer.delay(now), gate)
            wake = [t for t in (self.ledger.next_deadline(), send_at) if t is not None]
            if not wake:
                return
            self.wait(conn, min(wake))

    # --- confirming --------------------------------------------------------------------

    def confirm_all(self, credentials: Credentials) -> None:
        """After the cancels: wait for pushes until each accepted order's wait is over, then ask
        the order query about the rest, paced within the exchange's read limit."""
        confirmations = self.confirmations
        if confirmations is None:
            return
        self.gate_open()
        pacer = Pacer(QUERY_RATE)
        client: TracedRest | None = None
        while confirmations.waiting():
            now = self.world.clock()
            due = confirmations.lookups_due(now)
            if not due:
                self.wait(None, confirmations.next_lookup_at() or now)
                continue
            for lookup in due:
                delay = pacer.delay(self.world.clock())
                if delay > 0:
                    self.wait(None, self.world.clock() + delay)
                if client is None:
                    client = TracedRest(self.settings, credentials, self.trail)
                pacer.record(self.world.clock())
                self.look_up(client, confirmations, lookup)
                if self.push_conn is not None:
                    self.wait(None, self.world.clock())
        if client is not None:
            client.close()

    def look_up(self, client: TracedRest, confirmations: Confirmations, lookup: Lookup) -> None:
        from htx_cancel.orders import OrderReadError, query_order
        from htx_cancel.rest import RestError

        try:
            update = query_order(client, self.request.contract_code, lookup.order_id, lookup.client_order_id)
        except (RestError, OrderReadError) as exc:
            self.note(f"order query failed: {exc}")
            confirmations.queried(lookup.key, None, f"order query failed: {exc}")
            return
        missing = None if update else "the order query did not describe the order"
        confirmations.queried(lookup.key, update, missing)


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
    (SPEC exit 3); every later failure becomes `unknown` (or unconfirmed) rows instead.
    """
    world = world or World()
    redactor = redactor or Redactor((credentials.secret_key,), credentials.access_key)
    first = plan(request, credentials, settings, world.wall_clock())

    def backoff(retry: int, rate_limited: bool) -> float:
        return world.backoff.delay(retry, rate_limited, world.rng)

    ledger = Ledger(request.orders, settings.retries, backoff)
    driver = _Driver(request, settings, world, redactor, ledger, len(first.cancels) + 1)
    for cancel in first.cancels:
        ledger.schedule(cancel.batch, driver.started, cancel)
    for batch in first.later:
        ledger.schedule(batch, driver.started)
    requests = len(first.cancels) + len(first.later)
    if (note := pace_note(requests, settings.max_rate)) is not None:
        world.on_event(NoteEvent(note))
    if first.notify is not None:
        driver.confirmations = Confirmations(request.orders, settings.timeout)
        driver.push = _start_push(driver, first)
    interrupted = False
    try:
        _connect_and_pump(driver, first, credentials)
        driver.confirm_all(credentials)
    except KeyboardInterrupt:
        interrupted = True
        ledger.give_up_all("interrupted before the exchange answered")
        if driver.confirmations is not None:
            driver.confirmations.give_up("interrupted before the final state was confirmed")
    finally:
        if driver.push is not None:
            driver.push.close()
    results = ledger.results()
    if driver.confirmations is not None:
        merge = driver.confirmations.merge
        results = tuple(merge(ref, r) for ref, r in zip(request.orders, results, strict=True))
    return Report(
        contract_code=request.contract_code,
        url=settings.url,
        simulated=simulated,
        elapsed_ms=int(driver.elapsed() * 1000),
        duplicates_dropped=request.duplicates_dropped,
        results=results,
        interrupted=interrupted,
        problems=tuple(driver.problems),
        confirm=settings.confirm,
    )


def skew_note(server_ms: int | None, now: datetime) -> str:
    """What to add to a refusal when the exchange's clock (its answer's `ts`) says ours is off by
    more than a minute: signatures are valid for 5 minutes, so that is the likely cause."""
    if server_ms is None:
        return ""
    skew = now.timestamp() - server_ms / 1000
    if abs(skew) <= CLOCK_SKEW_LIMIT:
        return ""
    side = "ahead of" if skew > 0 else "behind"
    return (
        f"; this machine's clock is {abs(skew):.0f} s {side} the exchange's"
        " (signatures are valid for 5 minutes): sync it, e.g. with NTP"
    )


def pace_note(requests: int, max_rate: int) -> str | None:
    """Said before a run the pace will stretch past PACE_NOTE_AFTER seconds: 100,000 requests at
    60 per 3 s take an hour and a half, which nobody watching should have to guess."""
    seconds = ((requests - 1) // max_rate) * (WINDOW + MARGIN)
    if seconds < PACE_NOTE_AFTER:
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    took = f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"
    return f"{requests} requests at {max_rate} per 3 s (--max-rate): the pace alone takes about {took}"


def _start_push(driver: _Driver, first: Plan) -> PushSocket:
    """Open the push socket beside the trade socket, on its own thread, at the same moment."""
    assert first.notify is not None
    settings, world = driver.settings, driver.world
    push = PushSocket(first.notify, world.clock() + settings.timeout)
    url = first.notify.url

    def open_() -> Connection:
        return world.connect(url, settings.timeout, settings.ca_bundle)

    push.start(open_, driver.authenticate, driver.send, driver.await_answer)
    return push


def _connect_and_pump(driver: _Driver, first: Plan, credentials: Credentials) -> None:
    """Connect, authenticate and pump until the ledger has no work, reconnecting (with back-off)
    after a lost connection, up to `--retries` times in a row without an answer.

    A failure is said once: a connection that never comes up is one reason on the `unknown`
    rows ("... (4 attempts)"), not a line per attempt; a working connection that is lost is one
    note, and the rows it leaves without an answer say why."""
    world, settings, ledger = driver.world, driver.settings, driver.ledger
    failures = attempts = 0
    last_failure = "could not reach the exchange"
    while ledger.has_work():
        if failures > settings.retries:
            plural = "attempt" if attempts == 1 else "attempts"
            ledger.give_up_all(f"{last_failure} ({attempts} connection {plural})")
            return
        if failures:
            world.sleep(world.backoff.delay(failures, False, world.rng))
        answered = ledger.requests_answered
        conn: Connection | None = None
        established = False
        try:
            attempts += 1
            conn = world.connect(settings.url, settings.timeout, settings.ca_bundle)
            fresh = failures == 0 and not driver.cancel_sent
            signed = first.auth if fresh else sign_auth(credentials, settings.url, world.wall_clock())
            driver.authenticate(conn, signed, first.auth_cid)
            established = True
            driver.pump(conn)
        except TlsError as exc:
            ledger.give_up_all(str(exc))
        except AuthRejected as exc:
            if not driver.cancel_sent:
                raise CredentialsError(str(exc)) from None
            ledger.give_up_all(str(exc))
        except (TransportError, ConnectionLost) as exc:
            # Only a connection that got answers counts as working: one that authenticates
            # and then drops every time must not reconnect forever.
            failures = 1 if ledger.requests_answered > answered else failures + 1
            last_failure = str(exc)
            if established and failures <= settings.retries:
                driver.note(f"{exc}; reconnecting to resend what is unanswered")
            ledger.lose_inflight(str(exc), world.clock())
        finally:
            if conn is not None:
                conn.close()
