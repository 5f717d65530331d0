"""One cancel run: pipeline, pings, cid matching, retries and reconnects -> Report. Never prints.

The engine is a single-threaded loop around `recv(timeout)`: every wait is a read, so pings are
answered at every wait, and every wait is bounded by the earliest deadline the run has.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from htx_cancel import frames, reconcile, transport
from htx_cancel.errors import CredentialsError
from htx_cancel.models import (
    CancelRequest,
    Credentials,
    FrameEvent,
    IdKind,
    NoteEvent,
    OrderRef,
    OrderResult,
    ProgressEvent,
    Report,
    RunSettings,
    State,
)
from htx_cancel.pacing import Backoff, Pacer
from htx_cancel.redaction import Redactor
from htx_cancel.signing import timestamp_for
from htx_cancel.transport import Connection, TlsError, TransportError

Event = FrameEvent | ProgressEvent | NoteEvent
CLOCK_SKEW_LIMIT: Final = 60.0


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


class Batch(NamedTuple):
    """IDs of one kind that travel in one request."""

    kind: IdKind
    ids: tuple[str, ...]


class PlannedCancel(NamedTuple):
    """A cancel request built (and JSON-encoded) before the socket opens."""

    cid: str
    batch: Batch
    text: str


class Plan(NamedTuple):
    """Every frame of a run's first attempt, signed and encoded: what --dry-run prints and what the
    engine writes first."""

    auth: frames.SignedAuth
    auth_cid: str
    cancels: tuple[PlannedCancel, ...]


def endpoint(url: str) -> tuple[str, str]:
    """The signed host (lower case, no port) and path of a trade-socket URL."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path or "/"


def batches(request: CancelRequest, batch_size: int) -> list[Batch]:
    """Group IDs by kind, in input order, so no request mixes order IDs and client order IDs."""
    out: list[Batch] = []
    for kind in IdKind:
        ids = [ref.value for ref in request.orders if ref.kind is kind]
        out.extend(Batch(kind, tuple(ids[i : i + batch_size])) for i in range(0, len(ids), batch_size))
    return out


def plan(request: CancelRequest, credentials: Credentials, settings: RunSettings, now: datetime) -> Plan:
    """Sign and encode everything up front: the send path then only writes bytes."""
    host, path = endpoint(settings.url)
    auth = frames.auth_frame(credentials, host, path, timestamp_for(now), "auth-1")
    cancels = tuple(
        PlannedCancel(
            f"c-{n}",
            batch,
            frames.cancel_frame(f"c-{n}", request.contract_code, batch.kind, batch.ids),
        )
        for n, batch in enumerate(batches(request, settings.batch_size), start=1)
    )
    return Plan(auth, "auth-1", cancels)


class AuthRejected(Exception):
    """The exchange refused our signature; the message carries its code, text and any clock skew."""


class ConnectionLost(Exception):
    """The stream ended or can no longer be trusted; in-flight IDs must be resent elsewhere."""


class _InFlight(NamedTuple):
    batch: Batch
    deadline: float


class _Run:
    """Mutable bookkeeping of one run; the engine's loop is the only writer."""

    def __init__(
        self,
        request: CancelRequest,
        settings: RunSettings,
        world: World,
        redactor: Redactor,
        first_cid: int,
    ) -> None:
        self.request = request
        self.settings = settings
        self.world = world
        self.redactor = redactor
        self.started = world.clock()
        self.final: dict[tuple[IdKind, str], OrderResult] = {}
        self.sends: dict[tuple[IdKind, str], int] = {}
        self.retries_used: dict[tuple[IdKind, str], int] = {}
        self.other_id: dict[tuple[IdKind, str], str] = {}
        self.queue: list[tuple[float, int, Batch, PlannedCancel | None]] = []
        self.inflight: dict[str, _InFlight] = {}
        self.past: dict[str, Batch] = {}
        self.problems: list[str] = []
        self.requests_sent = 0
        self.requests_answered = 0
        self.cancel_sent = False
        self.seq = itertools.count()
        self.cids = itertools.count(first_cid)

    # --- bookkeeping -------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.world.clock() - self.started

    def emit_frame(self, direction: str, text: str) -> None:
        if self.world.wants_frames:
            self.world.on_event(FrameEvent(direction, self.redactor(text), time.time(), self.elapsed()))

    def note(self, text: str) -> None:
        """Notes quote exception and server text: redacted here, once, for every sink."""
        text = self.redactor(text)
        self.problems.append(text)
        self.world.on_event(NoteEvent(text))

    def progress(self) -> None:
        self.world.on_event(
            ProgressEvent(
                self.requests_sent,
                len(self.queue),
                self.requests_answered,
                len(self.final),
                len(self.request.orders),
            )
        )

    def has_work(self) -> bool:
        """Something is in flight, or queued with an ID still lacking a final answer (a late
        answer may have resolved a queued resend: that alone is no reason to reconnect)."""
        return bool(self.inflight) or any(self.unresolved(entry[2]) for entry in self.queue)

    def unresolved(self, batch: Batch) -> tuple[str, ...]:
        return tuple(i for i in batch.ids if (batch.kind, i) not in self.final)

    def finish(
        self,
        kind: IdKind,
        value: str,
        state: State,
        code: int | None,
        message: str | None,
        other: str | None = None,
    ) -> None:
        key = (kind, value)
        if key in self.final:
            return
        if other:
            self.other_id[key] = other
        other = self.other_id.get(key)
        order_id, client_id = (value, other) if kind is IdKind.ORDER else (other, value)
        self.final[key] = OrderResult(order_id, client_id, state, code, message, self.sends.get(key, 0))

    def enqueue(self, batch: Batch, at: float, planned: PlannedCancel | None = None) -> None:
        heapq.heappush(self.queue, (at, next(self.seq), batch, planned))

    def retry_or_give_up(self, batch: Batch, code: int | None, message: str, now: float) -> None:
        """Resend what still has retries left; the rest ends `rejected` when the exchange answered
        a transient code, `unknown` when it answered nothing."""
        again: list[str] = []
        for value in self.unresolved(batch):
            key = (batch.kind, value)
            if self.retries_used.get(key, 0) < self.settings.retries:
                self.retries_used[key] = self.retries_used.get(key, 0) + 1
                again.append(value)
            elif code is not None:
                self.finish(batch.kind, value, State.REJECTED, code, message)
            else:
                self.finish(batch.kind, value, State.UNKNOWN, None, message)
        if again:
            retry = max(self.retries_used[(batch.kind, v)] for v in again)
            delay = self.world.backoff.delay(retry, code == reconcile.RATE_LIMITED, self.world.rng)
            self.enqueue(Batch(batch.kind, tuple(again)), now + delay)

    def give_up_all(self, message: str) -> None:
        """Everything without a final answer is `unknown`: the run could not learn its fate."""
        self.queue.clear()
        self.inflight.clear()
        for ref in self.request.orders:
            self.finish(ref.kind, ref.value, State.UNKNOWN, None, message)

    def lose_inflight(self, reason: str) -> None:
        now = self.world.clock()
        for inflight in self.inflight.values():
            self.retry_or_give_up(inflight.batch, None, reason, now)
        self.inflight.clear()

    # --- the wire ----------------------------------------------------------------------

    def send(self, conn: Connection, text: str) -> None:
        conn.send(text)
        self.emit_frame("sent", text)

    def send_cancel(self, conn: Connection, batch: Batch, planned: PlannedCancel | None, now: float) -> None:
        """Write a planned frame as built; a resend or a split gets a fresh cid and frame."""
        if planned is not None and planned.batch == batch:
            cid, text = planned.cid, planned.text
        else:
            cid = f"c-{next(self.cids)}"
            text = frames.cancel_frame(cid, self.request.contract_code, batch.kind, batch.ids)
        self.inflight[cid] = _InFlight(batch, now + self.settings.timeout)
        self.past[cid] = batch
        for value in batch.ids:
            self.sends[(batch.kind, value)] = self.sends.get((batch.kind, value), 0) + 1
        self.cancel_sent = True
        self.send(conn, text)
        self.requests_sent += 1

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

    def handle_answer(self, answer: frames.Answer, now: float) -> None:
        if answer.cid is None:
            return
        inflight = self.inflight.pop(answer.cid, None)
        if inflight is None:
            late = self.past.get(answer.cid)
            if late is not None and answer.ok:
                self.apply_items(late, frames.cancel_items(answer.data), now, late=True)
            return
        self.requests_answered += 1
        batch = Batch(inflight.batch.kind, self.unresolved(inflight.batch))
        verdict = reconcile.request_verdict(answer.ok, answer.code, len(batch.ids))
        if verdict is reconcile.Verdict.PER_ORDER:
            self.apply_items(batch, frames.cancel_items(answer.data), now, late=False)
        elif verdict is reconcile.Verdict.RETRY:
            self.retry_or_give_up(batch, answer.code, answer.message, now)
        elif verdict is reconcile.Verdict.SPLIT:
            half = len(batch.ids) // 2
            for part in (batch.ids[:half], batch.ids[half:]):
                self.enqueue(Batch(batch.kind, part), now)
        else:
            for value in batch.ids:
                self.finish(batch.kind, value, State.REJECTED, answer.code, answer.message)

    def apply_items(
        self, batch: Batch, items: tuple[frames.AnswerItem, ...] | None, now: float, late: bool
    ) -> None:
        """Per-order results by ID. An ID the answer leaves out, or lists twice with different
        codes, is never assumed cancelled: it goes again like an unanswered one."""
        wanted = set(self.unresolved(batch))
        answers: dict[str, frames.AnswerItem] = {}
        conflicting: set[str] = set()
        for item in items or ():
            mine = item.order_id if batch.kind is IdKind.ORDER else item.client_order_id
            if mine not in wanted or item.code is None:
                continue
            if mine in answers and answers[mine].code != item.code:
                conflicting.add(mine)
            answers.setdefault(mine, item)
        transient: list[str] = []
        last: tuple[int | None, str] = (None, "")
        for mine, item in answers.items():
            if mine in conflicting:
                continue
            other = item.client_order_id if batch.kind is IdKind.ORDER else item.order_id
            state = reconcile.order_state(item.code) if item.code is not None else None
            if state is None:
                transient.append(mine)
                last = (item.code, item.message)
            else:
                self.finish(batch.kind, mine, state, item.code, item.message, other)
            wanted.discard(mine)
        if late:
            return
        if transient:
            self.retry_or_give_up(Batch(batch.kind, tuple(transient)), last[0], last[1], now)
        if wanted:
            missing = tuple(v for v in batch.ids if v in wanted)
            self.retry_or_give_up(
                Batch(batch.kind, missing),
                None,
                "missing from, or contradicted in, the exchange's answer",
                now,
            )

    def expire(self, now: float) -> None:
        for cid, inflight in list(self.inflight.items()):
            if inflight.deadline <= now:
                del self.inflight[cid]
                timeout = f"no answer within {self.settings.timeout:g} s"
                self.retry_or_give_up(inflight.batch, None, timeout, now)

    def pump(self, conn: Connection, pacer: Pacer) -> None:
        """Write whatever pacing and back-off allow, then wait for the nearest deadline."""
        while self.queue or self.inflight:
            now = self.world.clock()
            self.expire(now)
            while self.queue and self.queue[0][0] <= now and pacer.delay(now) == 0.0:
                _, _, batch, planned = heapq.heappop(self.queue)
                todo = self.unresolved(batch)
                if todo:
                    self.send_cancel(conn, Batch(batch.kind, todo), planned, now)
                    pacer.record(self.world.clock())  # when written, as SPEC section 1 counts
                    self.progress()
            wake = [f.deadline for f in self.inflight.values()]
            if self.queue:
                wake.append(max(self.queue[0][0], now + pacer.delay(now)))
            if not wake:
                return
            event = self.receive(conn, max(min(wake) - self.world.clock(), 0.0))
            if isinstance(event, frames.Answer):
                self.handle_answer(event, self.world.clock())
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
    run = _Run(request, settings, world, redactor, len(first.cancels) + 1)
    for cancel in first.cancels:
        run.enqueue(cancel.batch, run.started, cancel)
    pacer = Pacer(settings.max_rate)
    interrupted = False
    conn: Connection | None = None
    failures = 0
    try:
        while run.has_work():
            if failures > settings.retries:
                run.give_up_all(run.problems[-1] if run.problems else "could not reach the exchange")
                break
            if failures:
                world.sleep(world.backoff.delay(failures, False, world.rng))
            signed = first.auth if conn is None and failures == 0 and not run.cancel_sent else None
            answered = run.requests_answered
            try:
                conn = world.connect(settings.url, settings.timeout, settings.ca_bundle)
                host, path = endpoint(settings.url)
                signed = signed or frames.auth_frame(
                    credentials, host, path, timestamp_for(world.wall_clock()), first.auth_cid
                )
                run.authenticate(conn, signed, first.auth_cid)
                run.pump(conn, pacer)
            except TlsError as exc:
                run.note(str(exc))
                run.give_up_all(str(exc))
            except AuthRejected as exc:
                if not run.cancel_sent:
                    raise CredentialsError(str(exc)) from None
                run.note(str(exc))
                run.give_up_all(str(exc))
            except (TransportError, ConnectionLost) as exc:
                # Only a connection that got answers counts as working: one that authenticates
                # and then drops every time must not reconnect forever.
                failures = 1 if run.requests_answered > answered else failures + 1
                run.note(f"{exc}; reconnecting" if failures <= settings.retries else str(exc))
                run.lose_inflight(str(exc))
            finally:
                if conn is not None:
                    conn.close()
                    conn = None
    except KeyboardInterrupt:
        interrupted = True
        run.give_up_all("interrupted before the exchange answered")
    return Report(
        contract_code=request.contract_code,
        url=settings.url,
        simulated=simulated,
        elapsed_ms=int(run.elapsed() * 1000),
        duplicates_dropped=request.duplicates_dropped,
        results=tuple(_result_for(run, ref) for ref in request.orders),
        interrupted=interrupted,
        problems=tuple(run.problems),
    )


def _result_for(run: _Run, ref: OrderRef) -> OrderResult:
    key = (ref.kind, ref.value)
    found = run.final.get(key)
    if found is not None:
        return found
    run.finish(ref.kind, ref.value, State.UNKNOWN, None, "no answer")
    return run.final[key]


def redacted_plan_frames(prepared: Plan, redactor: Redactor) -> Iterable[str]:
    """The frames --dry-run shows, through the same redaction as -v."""
    redactor.add_secret(prepared.auth.signature)
    yield redactor(prepared.auth.text)
    for cancel in prepared.cancels:
        yield redactor(cancel.text)
