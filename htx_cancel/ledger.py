"""A run's bookkeeping: decoded answers in, one state per ID out. No I/O, no clock of its own.

The engine owns the sockets and the time; it tells the ledger what it wrote, what came back and
what time it is, and asks it what to write next. Everything SPEC section 2 decides (code ->
state, retry or give up, 1052 splits, late, partial and contradictory answers) happens here, so
the table can be tested row by row, in-process, without a socket.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from htx_cancel import frames, reconcile
from htx_cancel.models import Batch, IdKind, OrderRef, OrderResult, State
from htx_cancel.plan import PlannedCancel

Key = tuple[IdKind, str]

MISSING: Final = "missing from, or contradicted in, the exchange's answer"
NO_CODE: Final = "the exchange answered without a code"


class Queued(NamedTuple):
    """A batch waiting to be written; `planned` is its pre-built frame when it is the first try."""

    at: float
    seq: int
    batch: Batch
    planned: PlannedCancel | None


class InFlight(NamedTuple):
    batch: Batch
    deadline: float


class Ledger:
    """Mutable bookkeeping of one run; the engine's loop is its only caller.

    `backoff(retry, rate_limited)` gives the delay before a resend (injected, with its jitter, so
    tests can make it zero or fixed)."""

    def __init__(
        self, orders: Sequence[OrderRef], retries: int, backoff: Callable[[int, bool], float]
    ) -> None:
        self.orders = tuple(orders)
        self._retries = retries
        self._backoff = backoff
        # One dict per kind, keyed by the ID's own string: a (kind, ID) tuple per key cost over
        # 100 bytes an ID, and a run may hold a million.
        self._final: dict[IdKind, dict[str, OrderResult]] = {kind: {} for kind in IdKind}
        self._sends: dict[IdKind, dict[str, int]] = {kind: {} for kind in IdKind}
        self._retries_used: dict[IdKind, dict[str, int]] = {kind: {} for kind in IdKind}
        self._other_id: dict[IdKind, dict[str, str]] = {kind: {} for kind in IdKind}
        self._texts: dict[str, str] = {}
        self._codes: dict[int, int] = {}
        self._queue: list[Queued] = []
        self._inflight: dict[str, InFlight] = {}
        self._past: dict[str, Batch] = {}
        self._settled: list[Key] = []
        self._seq = itertools.count()
        self.requests_sent = 0
        self.requests_answered = 0

    # --- what to write, and when ---------------------------------------------------------

    def schedule(self, batch: Batch, at: float, planned: PlannedCancel | None = None) -> None:
        heapq.heappush(self._queue, Queued(at, next(self._seq), batch, planned))

    def pop_due(self, now: float) -> Queued | None:
        """The next batch due by `now`, trimmed to IDs still without a final answer (a late answer
        may have settled some since it was queued)."""
        while self._queue and self._queue[0].at <= now:
            item = heapq.heappop(self._queue)
            todo = self.unresolved(item.batch)
            if len(todo) == len(item.batch.ids):
                return item
            if todo:
                return item._replace(batch=Batch(item.batch.kind, todo))
        return None

    def requeue(self, item: Queued) -> None:
        """A write that failed reached nobody: the batch goes back as it was, using no retry."""
        heapq.heappush(self._queue, item)

    def next_send_at(self) -> float | None:
        """When the earliest queued batch is due; batches settled meanwhile are dropped first."""
        while self._queue and not self.unresolved(self._queue[0].batch):
            heapq.heappop(self._queue)
        return self._queue[0].at if self._queue else None

    def next_deadline(self) -> float | None:
        """In-flight requests are kept in the order they were written, each due a fixed timeout
        after its write: the first one is the earliest (no scan of thousands in flight)."""
        return next(iter(self._inflight.values())).deadline if self._inflight else None

    def has_work(self) -> bool:
        """Something is in flight, or queued with an ID still lacking a final answer."""
        return bool(self._inflight) or self.next_send_at() is not None

    # --- what happened -------------------------------------------------------------------

    def sent(self, cid: str, batch: Batch, deadline: float) -> None:
        """Called once the frame is written (a write that failed is not an attempt), with
        deadlines that never go back: each is the write time plus the same timeout."""
        self._inflight[cid] = InFlight(batch, deadline)
        self._past[cid] = batch
        sends = self._sends[batch.kind]
        for value in batch.ids:
            sends[value] = sends.get(value, 0) + 1
        self.requests_sent += 1

    def answered(self, answer: frames.Answer, now: float) -> None:
        """Apply one answer matched by cid. Per-order items decide whenever they are there; the
        envelope decides only for the rest, and only a real code ever makes `rejected`."""
        if answer.cid is None:
            return
        inflight = self._inflight.pop(answer.cid, None)
        batch = inflight.batch if inflight is not None else self._past.get(answer.cid)
        if batch is None:
            return
        late = inflight is None
        if not late:
            self.requests_answered += 1
        items = frames.cancel_items(answer.data)
        if items and any(self._mine(batch.kind, item) in batch.ids for item in items):
            self._apply_items(batch, items, now, late)
            return
        if late:
            return  # the IDs were sent again; that request's answer decides
        batch = Batch(batch.kind, self.unresolved(batch))
        if answer.ok:
            self._retry_or_give_up(batch, None, MISSING, now)
            return
        if answer.code is None:
            self._retry_or_give_up(batch, None, NO_CODE, now)
            return
        verdict = reconcile.request_verdict(answer.ok, answer.code, len(batch.ids))
        if verdict is reconcile.Verdict.RETRY:
            self._retry_or_give_up(batch, answer.code, answer.message, now)
        elif verdict is reconcile.Verdict.SPLIT:
            half = len(batch.ids) // 2
            for part in (batch.ids[:half], batch.ids[half:]):
                self.schedule(Batch(batch.kind, part), now)
        else:
            for value in batch.ids:
                self._finish(batch.kind, value, State.REJECTED, answer.code, answer.message)

    def expire(self, now: float, reason: str) -> None:
        """Requests unanswered at their deadline go again, or end `unknown` (in write order, so the
        look stops at the first one still in time)."""
        while self._inflight:
            cid, inflight = next(iter(self._inflight.items()))
            if inflight.deadline > now:
                return
            del self._inflight[cid]
            self._retry_or_give_up(inflight.batch, None, reason, now)

    def lose_inflight(self, reason: str, now: float) -> None:
        """The connection is gone: everything in flight has an unknown fate and goes again."""
        lost, self._inflight = list(self._inflight.values()), {}
        for inflight in lost:
            self._retry_or_give_up(inflight.batch, None, reason, now)

    def give_up_all(self, reason: str) -> None:
        """Everything without a final answer is `unknown`: the run could not learn its fate."""
        self._queue.clear()
        self._inflight.clear()
        for ref in self.orders:
            self._finish(ref.kind, ref.value, State.UNKNOWN, None, reason)

    # --- the report ----------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def resolved(self) -> int:
        return sum(len(final) for final in self._final.values())

    def result(self, ref: OrderRef) -> OrderResult:
        """The ID's final result; one never answered is `unknown` (never assumed cancelled)."""
        found = self._final[ref.kind].get(ref.value)
        return (
            found if found is not None else self._make(ref.kind, ref.value, State.UNKNOWN, None, "no answer")
        )

    def results(self) -> tuple[OrderResult, ...]:
        return tuple(self.result(ref) for ref in self.orders)

    def take_settled(self) -> list[tuple[IdKind, OrderResult]]:
        """Results that became final since the last call (for `--confirm`, which needs to know
        when each cancel was accepted)."""
        settled, self._settled = self._settled, []
        return [(kind, self._final[kind][value]) for kind, value in settled]

    def unresolved(self, batch: Batch) -> tuple[str, ...]:
        final = self._final[batch.kind]
        return tuple(i for i in batch.ids if i not in final)

    # --- inside --------------------------------------------------------------------------

    @staticmethod
    def _mine(kind: IdKind, item: frames.AnswerItem) -> str | None:
        return item.order_id if kind is IdKind.ORDER else item.client_order_id

    def _open(self, batch: Batch) -> dict[str, str]:
        """IDs an answer may still settle: no final state yet, or only `unknown` (a real answer
        arriving after the run stopped waiting for it is better than not knowing). Each maps to
        itself, so results keep the request's own string, not a second copy from the answer."""
        final = self._final[batch.kind]
        return {i: i for i in batch.ids if (found := final.get(i)) is None or found.state is State.UNKNOWN}

    def _apply_items(
        self, batch: Batch, items: tuple[frames.AnswerItem, ...], now: float, late: bool
    ) -> None:
        """Per-order results by ID. An ID the answer leaves out, or lists twice with different
        codes, is never assumed cancelled: it goes again like an unanswered one."""
        wanted = self._open(batch)
        answers: dict[str, frames.AnswerItem] = {}
        conflicting: set[str] = set()
        for item in items:
            mine = self._mine(batch.kind, item)
            if mine is None or mine not in wanted or item.code is None:
                continue
            if mine in answers and answers[mine].code != item.code:
                conflicting.add(mine)
            answers.setdefault(mine, item)
        transient: dict[tuple[int, str], list[str]] = {}
        for mine, item in answers.items():
            if mine in conflicting or item.code is None:
                continue
            value = wanted.pop(mine)
            other = item.client_order_id if batch.kind is IdKind.ORDER else item.order_id
            if other:
                self._other_id[batch.kind][value] = other
            state = reconcile.order_state(item.code)
            if state is None:
                transient.setdefault((item.code, item.message), []).append(value)
                continue
            self._finish(batch.kind, value, state, item.code, item.message)
        if late:
            return
        # Each transient answer keeps its own code and message (and its own back-off: a 1032
        # waits longer than a 1004), to the last retry and into the report.
        for (code, message), ids in transient.items():
            self._retry_or_give_up(Batch(batch.kind, tuple(ids)), code, message, now)
        final = self._final[batch.kind]
        missing = tuple(v for v in batch.ids if v in wanted and v not in final)
        if missing:
            self._retry_or_give_up(Batch(batch.kind, missing), None, MISSING, now)

    def _retry_or_give_up(self, batch: Batch, code: int | None, message: str, now: float) -> None:
        """Resend what still has retries left; the rest ends `rejected` when the exchange answered
        a transient code, `unknown` when it answered nothing usable."""
        again: list[str] = []
        retries_used = self._retries_used[batch.kind]
        for value in self.unresolved(batch):
            used = retries_used.get(value, 0)
            if used < self._retries:
                retries_used[value] = used + 1
                again.append(value)
            elif code is not None:
                self._finish(batch.kind, value, State.REJECTED, code, message)
            else:
                self._finish(batch.kind, value, State.UNKNOWN, None, message)
        if again:
            retry = max(retries_used[v] for v in again)
            delay = self._backoff(retry, code == reconcile.RATE_LIMITED)
            self.schedule(Batch(batch.kind, tuple(again)), now + delay)

    def _finish(
        self,
        kind: IdKind,
        value: str,
        state: State,
        code: int | None,
        message: str | None,
    ) -> None:
        """The first final answer stands; only `unknown` gives way, to a real answer. Codes and
        messages repeat across thousands of IDs: one shared copy of each is kept."""
        final = self._final[kind]
        found = final.get(value)
        if found is not None and (found.state is not State.UNKNOWN or state is State.UNKNOWN):
            return
        if message is not None:
            message = self._texts.setdefault(message, message)
        if code is not None:
            code = self._codes.setdefault(code, code)
        final[value] = self._make(kind, value, state, code, message)
        self._settled.append((kind, value))

    def _make(
        self, kind: IdKind, value: str, state: State, code: int | None, message: str | None
    ) -> OrderResult:
        other = self._other_id[kind].get(value)
        order_id, client_id = (value, other) if kind is IdKind.ORDER else (other, value)
        return OrderResult(order_id, client_id, state, code, message, self._sends[kind].get(value, 0))
