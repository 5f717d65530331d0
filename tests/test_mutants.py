"""Mutants the fast tests let through, killed (issue #10, point 5).

A mutation run over the pure modules (mutmut 3.8.1 for function bodies, plus a hand-rolled AST
pass for the module-level tables that mutmut 3 never touches) found changes to the code that no
fast test noticed. Each test here kills one class of them; its docstring says which. As in
test_ledger.py, expected values are written out, never read from the module under test, so a
changed rule fails here. In-process, no socket, no clock: the whole file runs in well under a
second.
"""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from htx_cancel import frames, reconcile
from htx_cancel.confirm import Confirmations
from htx_cancel.frames import OrderUpdate
from htx_cancel.ledger import MISSING, Ledger
from htx_cancel.models import Batch, IdKind, OrderRef, OrderResult, State
from htx_cancel.pacing import Backoff, Pacer
from htx_cancel.plan import PlannedCancel
from htx_cancel.redaction import Redactor
from htx_cancel.signing import payload, timestamp_for

ORDER, CLIENT = IdKind.ORDER, IdKind.CLIENT
MIB = 1 << 20
"""frames.MAX_FRAME_BYTES as its docstring states it: 1 MiB."""

# --- helpers ---------------------------------------------------------------------------------


def refs(*ids: str, kind: IdKind = ORDER) -> tuple[OrderRef, ...]:
    return tuple(OrderRef(kind, i) for i in ids)


def fixed_backoff(retry: int, limited: bool) -> float:
    return 1.0 if limited else 0.5


def sent_ledger(
    *ids: str,
    retries: int = 0,
    kind: IdKind = ORDER,
    backoff: Callable[[int, bool], float] = fixed_backoff,
) -> Ledger:
    """Every ID sent in one request `c-1` at t=0, deadline 10."""
    ledger = Ledger(refs(*ids, kind=kind), retries, backoff)
    ledger.schedule(Batch(kind, ids), 0.0)
    item = ledger.pop_due(0.0)
    assert item is not None
    ledger.sent("c-1", item.batch, 10.0)
    return ledger


def answer(cid: str = "c-1", code: int | None = 200, data: object = None, message: str = "") -> frames.Answer:
    return frames.Answer(cid, False, code in (0, 200), code, message, None, data)


def item(order_id: str | None, code: int | None, client: str | None = None) -> dict[str, object]:
    return {"order_id": order_id, "client_order_id": client, "code": code, "message": "m"}


def result_of(ledger: Ledger, value: str, kind: IdKind = ORDER) -> OrderResult:
    return ledger.result(OrderRef(kind, value))


# --- the classes issue #10 names, each pinned without the error-code table -------------------


@pytest.mark.parametrize("code", [0, 1, 201, 404, 1006, 1031, 1051, 1064, 1999, 9999])
def test_named_an_unlisted_per_order_code_is_rejected_never_cancelled(code: int) -> None:
    """Mutant: `STATE_BY_CODE.get(code, State.REJECTED)` -> `State.CANCELLED` (or None)."""
    assert reconcile.order_state(code) is State.REJECTED
    ledger = sent_ledger("11", retries=3)
    ledger.answered(answer(data=[item("11", code)]), 1.0)
    assert (result_of(ledger, "11").state, result_of(ledger, "11").code) == (State.REJECTED, code)
    assert not ledger.has_work()


def test_named_1062_is_cancelling_and_1017_is_not_found() -> None:
    """Mutants: the 1062 or the 1017 entry dropped from STATE_BY_CODE (both become rejected)."""
    assert reconcile.order_state(1062) is State.CANCELLING
    assert reconcile.order_state(1017) is State.NOT_FOUND
    ledger = sent_ledger("11", "12", retries=3)
    ledger.answered(answer(data=[item("11", 1062), item("12", 1017)]), 1.0)
    assert [r.state for r in ledger.results()] == [State.CANCELLING, State.NOT_FOUND]
    assert [r.code for r in ledger.results()] == [1062, 1017]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1004, 1005, 1032])
def test_named_1000_to_1005_and_1032_are_transient(code: int) -> None:
    """Mutant: 1005 (or any other transient code) dropped from TRANSIENT_CODES: the IDs must go
    again, per order and whole-request, and end `rejected` with the code after the last retry."""
    assert reconcile.order_state(code) is None
    assert reconcile.request_verdict(False, code, 2) is reconcile.Verdict.RETRY
    per_order = sent_ledger("11", retries=1)
    per_order.answered(answer(data=[item("11", code)]), 1.0)
    assert per_order.resolved == 0
    again = per_order.pop_due(5.0)
    assert again is not None and again.batch.ids == ("11",)
    whole = sent_ledger("11", "12", retries=1)
    whole.answered(answer(code=code, message="busy"), 1.0)
    assert whole.resolved == 0
    again = whole.pop_due(5.0)
    assert again is not None and again.batch.ids == ("11", "12")
    whole.sent("c-2", again.batch, 15.0)
    whole.answered(answer("c-2", code=code, message="busy"), 6.0)
    assert {(r.state, r.code, r.attempts) for r in whole.results()} == {(State.REJECTED, code, 2)}


def test_named_1052_for_two_ids_splits_instead_of_rejecting() -> None:
    """Mutant: `batch_len > 1` -> `> 2` (or `>= 1`): 1052 for 2 IDs must split into halves, using no
    retry; for 1 ID it is final."""
    assert reconcile.request_verdict(False, 1052, 2) is reconcile.Verdict.SPLIT
    assert reconcile.request_verdict(False, 1052, 1) is reconcile.Verdict.REJECT
    ledger = sent_ledger("11", "12", retries=0)
    ledger.answered(answer(code=1052), 1.0)
    assert ledger.resolved == 0
    first, second = ledger.pop_due(1.0), ledger.pop_due(1.0)
    assert first is not None and second is not None
    assert (first.batch.ids, second.batch.ids) == (("11",), ("12",))


# --- ledger ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ORDER, CLIENT])
def test_an_id_never_answered_is_unknown_saying_no_answer(kind: IdKind) -> None:
    """Mutants in `Ledger.result`'s fallback: State.UNKNOWN -> CANCELLED or None, the kind, the
    value or the "no answer" message lost. An ID nobody answered is never assumed cancelled."""
    ledger = Ledger(refs("11", kind=kind), 3, fixed_backoff)
    got = result_of(ledger, "11", kind)
    order_id, client_id = ("11", None) if kind is ORDER else (None, "11")
    assert got == OrderResult(order_id, client_id, State.UNKNOWN, None, "no answer", 0)


def test_requests_are_counted_as_written_and_as_answered() -> None:
    """Mutants: the progress counters start at 1, count by 2, or count late answers."""
    ledger = Ledger(refs("11", "12", "13"), 1, fixed_backoff)
    assert (ledger.requests_sent, ledger.requests_answered) == (0, 0)
    for n in (1, 2, 3):
        ledger.sent(f"c-{n}", Batch(ORDER, (f"1{n}",)), 10.0)
    assert ledger.requests_sent == 3
    ledger.answered(answer("c-1", data=[item("11", 200)]), 1.0)
    ledger.answered(answer("c-2", data=[item("12", 200)]), 1.0)
    assert ledger.requests_answered == 2
    ledger.expire(10.0, "timeout")  # c-3 goes again; its answer is now late
    ledger.answered(answer("c-3", data=[item("13", 200)]), 11.0)
    assert (ledger.requests_sent, ledger.requests_answered) == (3, 2)


def test_batches_due_together_go_in_the_order_they_were_scheduled() -> None:
    """Mutant: the tie-breaking sequence number dropped from Queued (ties then sort by ID)."""
    ledger = Ledger(refs("12", "11"), 0, fixed_backoff)
    ledger.schedule(Batch(ORDER, ("12",)), 0.0)
    ledger.schedule(Batch(ORDER, ("11",)), 0.0)
    popped = [ledger.pop_due(0.0), ledger.pop_due(0.0)]
    assert [p.batch.ids for p in popped if p] == [("12",), ("11",)]


def test_a_pre_built_first_frame_comes_back_with_its_batch() -> None:
    """Mutant: `schedule` drops `planned`, so the frame built before the socket opened is lost."""
    batch = Batch(ORDER, ("11",))
    planned = PlannedCancel("c-1", batch, '{"op":"cancel_batch_orders"}')
    ledger = Ledger(refs("11"), 0, fixed_backoff)
    ledger.schedule(batch, 0.0, planned)
    due = ledger.pop_due(0.0)
    assert due is not None and due.planned == planned


def test_the_next_send_time_skips_batches_settled_meanwhile() -> None:
    """Mutant: `heapq.heappop(None)` when the head of the queue was settled by a late answer."""
    ledger = Ledger(refs("11", "12"), 1, fixed_backoff)
    ledger.sent("c-1", Batch(ORDER, ("11",)), 10.0)
    ledger.schedule(Batch(ORDER, ("11",)), 5.0)
    ledger.schedule(Batch(ORDER, ("12",)), 7.0)
    ledger.answered(answer("c-1", data=[item("11", 200)]), 1.0)
    assert ledger.next_send_at() == 7.0
    assert ledger.queued == 1


def test_the_next_deadline_is_the_earliest_in_flight() -> None:
    """Requests are sent with deadlines in write order (a fixed timeout after each write)."""
    ledger = Ledger(refs("11", "12"), 0, fixed_backoff)
    assert ledger.next_deadline() is None
    ledger.sent("c-1", Batch(ORDER, ("11",)), 5.0)
    ledger.sent("c-2", Batch(ORDER, ("12",)), 10.0)
    assert ledger.next_deadline() == 5.0
    ledger.answered(answer("c-1", data=[item("11", 200)]), 1.0)
    assert ledger.next_deadline() == 10.0
    ledger.expire(20.0, "timeout")
    assert ledger.next_deadline() is None


def test_a_request_in_flight_is_work_left() -> None:
    """Mutant: `has_work` ignores what is in flight (the engine would stop waiting for answers)."""
    ledger = sent_ledger("11")
    assert ledger.queued == 0 and ledger.has_work()
    ledger.answered(answer(data=[item("11", 200)]), 1.0)
    assert not ledger.has_work()


def test_a_late_answer_spends_no_retry_and_queues_nothing() -> None:
    """Mutant: `_apply_items(..., late=None)`: a late answer's missing and transient IDs would be
    queued again beside the resend that is already in flight."""
    ledger = sent_ledger("11", "12", "13", retries=2)
    ledger.expire(10.0, "timeout")
    again = ledger.pop_due(20.0)
    assert again is not None
    ledger.sent("c-2", again.batch, 30.0)
    ledger.answered(answer("c-1", data=[item("11", 200), item("12", 1004)]), 21.0)  # late; 13 absent
    assert ledger.queued == 0 and ledger.next_send_at() is None
    assert result_of(ledger, "11").state is State.CANCELLED
    ledger.answered(answer("c-2", data=[item("12", 1071), item("13", 1071)]), 22.0)
    assert [r.attempts for r in ledger.results()] == [2, 2, 2]
    assert not ledger.has_work()


def test_a_success_answer_without_items_goes_again_then_is_unknown() -> None:
    """Mutants: the `answer.ok` without items branch loses `now` (crash) or the MISSING reason."""
    ledger = sent_ledger("11", retries=1)
    ledger.answered(answer(data=None), 1.0)
    assert ledger.resolved == 0 and ledger.next_send_at() == 1.5
    again = ledger.pop_due(1.5)
    assert again is not None
    ledger.sent("c-2", again.batch, 11.5)
    ledger.answered(answer("c-2", data=None), 2.0)
    assert (result_of(ledger, "11").state, result_of(ledger, "11").message) == (State.UNKNOWN, MISSING)


def test_a_whole_request_rejection_keeps_the_exchanges_message() -> None:
    """Mutant: the rejected IDs lose the exchange's message (SPEC: code and message kept)."""
    ledger = sent_ledger("11", "12")
    ledger.answered(answer(code=1030, message="invalid contract code"), 1.0)
    assert {(r.state, r.code, r.message) for r in ledger.results()} == {
        (State.REJECTED, 1030, "invalid contract code")
    }


def test_a_lost_connection_after_the_last_retry_is_unknown_saying_why() -> None:
    """Mutant: `lose_inflight` passes no reason."""
    ledger = sent_ledger("11")
    ledger.lose_inflight("connection lost", 1.0)
    assert (result_of(ledger, "11").state, result_of(ledger, "11").message) == (
        State.UNKNOWN,
        "connection lost",
    )


def test_each_final_result_is_handed_over_once_with_its_kind() -> None:
    """No fast test called `take_settled` (mutants: its list, the kind, the key appended lost)."""
    ledger = sent_ledger("5011", "5012", retries=1, kind=CLIENT)
    ledger.answered(answer(data=[item("11", 200, client="5011")]), 1.0)
    first = ledger.take_settled()
    assert first == [(CLIENT, OrderResult("11", "5011", State.CANCELLED, 200, "m", 1))]
    assert ledger.take_settled() == []
    ledger.give_up_all("interrupted")
    assert [(kind, r.client_order_id, r.state) for kind, r in ledger.take_settled()] == [
        (CLIENT, "5012", State.UNKNOWN)
    ]


def test_items_for_ids_not_in_the_request_settle_nothing() -> None:
    """Mutants: `or` -> `and` in the item filter: items for IDs never sent become final results
    (counted as resolved and handed to `--confirm`)."""
    ledger = sent_ledger("11")
    ledger.answered(answer(data=[item("99", 200), item(None, 200, client="7"), item("11", 1061)]), 1.0)
    assert ledger.resolved == 1
    assert [r.order_id for _, r in ledger.take_settled()] == ["11"]


def test_a_transient_item_does_not_stop_the_items_after_it() -> None:
    """Mutant: `continue` -> `break` after a transient item: the rest of the answer is ignored."""
    ledger = sent_ledger("11", "12", retries=1)
    ledger.answered(answer(data=[item("11", 1004), item("12", 200)]), 1.0)
    assert result_of(ledger, "12").state is State.CANCELLED
    again = ledger.pop_due(5.0)
    assert again is not None and again.batch.ids == ("11",)
    assert [r.attempts for r in ledger.results()] == [1, 1]


def test_an_item_for_an_id_settled_meanwhile_lends_its_code_to_no_other() -> None:
    """Mutant: `_open` looks up `None` (every ID of the batch open): an item for an ID a late answer
    had settled then joined the transient ones, and its code became theirs."""
    ledger = sent_ledger("11", "12", retries=1)
    ledger.expire(10.0, "timeout")
    again = ledger.pop_due(20.0)
    assert again is not None and again.batch.ids == ("11", "12")
    ledger.sent("c-2", again.batch, 30.0)
    ledger.answered(answer("c-1", data=[item("11", 200)]), 21.0)  # late: 11 is settled
    ledger.answered(answer("c-2", data=[item("12", 1004), item("11", 1032)]), 22.0)
    assert (result_of(ledger, "11").state, result_of(ledger, "11").code) == (State.CANCELLED, 200)
    assert (result_of(ledger, "12").state, result_of(ledger, "12").code) == (State.REJECTED, 1004)


def test_transient_items_after_the_last_retry_keep_their_own_codes() -> None:
    """SPEC section 2: the exchange's own code and message are kept beside each ID's state."""
    ledger = sent_ledger("11", "12", retries=0)
    ledger.answered(
        answer(
            data=[
                {"order_id": "11", "code": 1004, "message": "busy"},
                {"order_id": "12", "code": 1032, "message": "rate limited"},
            ]
        ),
        1.0,
    )
    assert [(r.state, r.code, r.message) for r in ledger.results()] == [
        (State.REJECTED, 1004, "busy"),
        (State.REJECTED, 1032, "rate limited"),
    ]


def test_the_back_off_is_told_the_retry_number_and_whether_rate_limited() -> None:
    """Mutants: the back-off gets `None` for the retry number (no exponential growth)."""
    calls: list[tuple[int, bool]] = []

    def backoff(retry: int, limited: bool) -> float:
        calls.append((retry, limited))
        return 0.0

    ledger = sent_ledger("11", retries=3, backoff=backoff)
    ledger.answered(answer(code=1032), 1.0)
    for n, code in ((2, 1004), (3, None)):
        again = ledger.pop_due(1.0 * n)
        assert again is not None
        ledger.sent(f"c-{n}", again.batch, 10.0 * n)
        if code is None:
            ledger.expire(10.0 * n, "timeout")
        else:
            ledger.answered(answer(f"c-{n}", code=code), 1.0 * n)
    assert calls == [(1, True), (2, False), (3, False)]


def test_an_unknown_result_keeps_its_first_reason() -> None:
    """Mutant: `or` -> `and` in `_finish`: an `unknown` would be overwritten by a later `unknown`
    (the specific reason replaced by "interrupted", and handed over twice)."""
    ledger = sent_ledger("11")
    ledger.expire(10.0, "no answer within 10 s")
    assert len(ledger.take_settled()) == 1
    ledger.give_up_all("interrupted")
    assert result_of(ledger, "11").message == "no answer within 10 s"
    assert ledger.take_settled() == []


# --- pacing ----------------------------------------------------------------------------------


def test_the_pace_waits_for_the_oldest_request_to_leave_the_window() -> None:
    """Mutants: `sent[0] + window + now`, `sent[1]`: the wait is measured from the oldest request
    (the old test only looked at t=0 with every request at one instant)."""
    pacer = Pacer(2)
    pacer.record(0.0)
    pacer.record(1.0)
    assert pacer.delay(2.0) == 1.25
    assert pacer.delay(3.25) == 0.0
    pacer.record(3.25)
    assert pacer.delay(3.5) == 0.75


def test_the_default_window_is_htxs_3_seconds_plus_a_quarter() -> None:
    """Mutants: WINDOW 3.0 -> 2.0/4.0, MARGIN 0.25 -> 1.25 (the property test reads WINDOW from the
    module, so it moves with it). README: 3 s plus a 0.25 s margin."""
    pacer = Pacer(60)
    for _ in range(60):
        pacer.record(1.0)
    assert pacer.delay(1.0) == 3.25
    assert pacer.delay(4.0) == 0.25
    assert pacer.delay(4.25) == 0.0


def test_back_off_is_half_fixed_half_random_up_to_the_cap() -> None:
    """Mutant: `rng() * ceiling / 3`: with rng at its ends the delay is exactly half or all of the
    ceiling (the old test's ranges could not tell)."""
    backoff = Backoff(base=0.2, rate_limited_base=1.0, cap=5.0)
    low, high = (lambda: 0.0), (lambda: 1.0)
    assert backoff.delay(1, False, low) == pytest.approx(0.1)
    assert backoff.delay(1, False, high) == pytest.approx(0.2)
    assert backoff.delay(3, False, high) == pytest.approx(0.8)
    assert backoff.delay(1, True, high) == pytest.approx(1.0)
    assert backoff.delay(20, True, high) == pytest.approx(5.0)
    assert backoff.delay(20, True, low) == pytest.approx(2.5)


def test_the_default_back_off_is_positive_and_longer_after_a_rate_limit() -> None:
    """Mutants of Backoff's defaults that break its promise: never zero, a rate limit waits longer."""
    backoff = Backoff()
    assert 0 < backoff.base < backoff.rate_limited_base <= backoff.cap


# --- confirm ---------------------------------------------------------------------------------


def update(
    order_id: str | None, state: str, filled: str = "0", at: int | None = 1, client: str | None = None
) -> OrderUpdate:
    return OrderUpdate(order_id, client, "BTC-USDT", "buy", state, "10", filled, at)


def accepted(order_id: str | None, code: int = 200, client: str | None = None) -> OrderResult:
    state = State.CANCELLED if code == 200 else State.CANCELLING
    return OrderResult(order_id, client, state, code, "Success", 1)


def test_a_rejected_row_with_a_success_code_is_never_confirmed() -> None:
    """Mutant: `and` -> `or` in `accepted`: `{"status": "error", "code": 200}` makes a rejected row
    with code 200; a push must not turn it into `cancelled`."""
    c = Confirmations(refs("11"), 2.0)
    rejected = OrderResult("11", None, State.REJECTED, 200, "error", 1)
    c.accepted(rejected, ORDER, 1.0)
    c.pushed(update("11", "canceled"))
    assert not c.waiting()
    assert c.merge(OrderRef(ORDER, "11"), rejected) == rejected


def test_a_query_that_found_nothing_leaves_the_row_unconfirmed() -> None:
    """Mutant: `update.state if update or True`: a query answered with no order crashed."""
    c = Confirmations(refs("11"), 2.0)
    c.accepted(accepted("11"), ORDER, 1.0)
    c.queried((ORDER, "11"), None)
    merged = c.merge(OrderRef(ORDER, "11"), accepted("11"))
    assert merged.confirmed is False and "order query" in str(merged.message)


def test_giving_up_keeps_what_the_query_said() -> None:
    """Mutant: `and` -> `or` in `give_up`: a queried order's reason would become "interrupted"."""
    c = Confirmations(refs("11"), 2.0)
    c.accepted(accepted("11"), ORDER, 1.0)
    c.queried((ORDER, "11"), update("11", "new"))
    c.give_up("interrupted")
    message = str(c.merge(OrderRef(ORDER, "11"), accepted("11")).message)
    assert "'new'" in message and "interrupted" not in message


def test_giving_up_on_a_client_id_order() -> None:
    """Mutant: `_final(key, None)` in `give_up`: a client-ID row still waiting crashed the run."""
    c = Confirmations(refs("5011", kind=CLIENT), 2.0)
    row = accepted("11", client="5011")
    c.accepted(row, CLIENT, 1.0)
    c.give_up("interrupted")
    assert not c.waiting()
    merged = c.merge(OrderRef(CLIENT, "5011"), row)
    assert merged.confirmed is False and "interrupted" in str(merged.message)


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Success", "Success (final state not confirmed: no final push or order query answer)"),
        (None, "(final state not confirmed: no final push or order query answer)"),
    ],
)
def test_an_unconfirmed_row_says_so_after_the_exchanges_message(message: str | None, shown: str) -> None:
    """Mutants of `merge`'s message: the default reason, `or` -> `and`, lstrip -> rstrip, and the
    UNCONFIRMED marker render.py splits on."""
    c = Confirmations(refs("11"), 2.0)
    row = accepted("11")._replace(message=message)
    c.accepted(row, ORDER, 1.0)
    assert c.merge(OrderRef(ORDER, "11"), row).message == shown


def test_a_confirmed_client_id_row_learns_its_order_id_from_the_push() -> None:
    """Mutants: `order_id=None`, dropped, or `result.order_id and update.order_id`."""
    c = Confirmations(refs("5011", kind=CLIENT), 2.0)
    row = accepted(None, client="5011")
    c.accepted(row, CLIENT, 1.0)
    c.pushed(update("11", "canceled", client="5011"))
    merged = c.merge(OrderRef(CLIENT, "5011"), row)
    assert (merged.order_id, merged.client_order_id, merged.confirmed) == ("11", "5011", True)


def test_a_later_final_push_replaces_an_earlier_one() -> None:
    """Mutant: `(update.updated_time and 0)`: only the first push would ever count."""
    c = Confirmations(refs("11"), 2.0)
    c.accepted(accepted("11"), ORDER, 1.0)
    c.pushed(update("11", "partially_canceled", filled="3", at=100))
    c.pushed(update("11", "partially_canceled", filled="4", at=200))
    assert c.merge(OrderRef(ORDER, "11"), accepted("11")).filled_volume == "4"


@pytest.mark.parametrize("at", [None, 1749714583117])
def test_final_pushes_with_the_same_or_no_time_the_later_arrival_wins(at: int | None) -> None:
    """Mutants: `>=` -> `>`, `known.updated_time or 1`: ties go to the push that came last."""
    c = Confirmations(refs("11"), 2.0)
    c.accepted(accepted("11"), ORDER, 1.0)
    c.pushed(update("11", "partially_canceled", filled="3", at=at))
    c.pushed(update("11", "filled", filled="10", at=at))
    merged = c.merge(OrderRef(ORDER, "11"), accepted("11"))
    assert (merged.state, merged.filled_volume) == (State.FILLED, "10")


# --- frames: builders ------------------------------------------------------------------------


def test_frames_are_compact_json() -> None:
    """Mutants: `_dumps` without `separators` (pretty-printed frames: more bytes per cancel)."""
    assert frames.cancel_frame("c-1", "BTC-USDT", ORDER, ("1", "2")) == (
        '{"op":"cancel_batch_orders","cid":"c-1","data":{"contract_code":"BTC-USDT","order_id":["1","2"]}}'
    )


def test_the_subscribe_frame() -> None:
    """No fast test built the `orders` subscription (SPEC section 7.1)."""
    assert frames.subscribe_frame("s-1", "BTC-USDT") == (
        '{"op":"sub","cid":"s-1","topic":"orders","contract_code":"BTC-USDT"}'
    )


# --- frames: decoding caps -------------------------------------------------------------------


def json_of_length(n: int) -> str:
    text = '{"a":"' + "x" * (n - 8) + '"}'
    assert len(text) == n
    return text


def test_a_frame_of_exactly_one_mib_inflates_and_one_byte_more_does_not() -> None:
    """Mutants: decompress limit `MAX - 1`, `>=` for `>`, `and` for `or`, MAX_FRAME_BYTES halved."""
    assert frames.decode(gzip.compress(json_of_length(MIB).encode())) == {"a": "x" * (MIB - 8)}
    with pytest.raises(frames.FrameError, match="inflates beyond"):
        frames.decode(gzip.compress(json_of_length(MIB + 1).encode()))


def test_text_of_exactly_one_mib_decodes_and_one_char_more_does_not() -> None:
    """Mutants: `len(text) >= MAX` for `>`; text frames as `None`."""
    assert frames.decode(json_of_length(MIB)) == {"a": "x" * (MIB - 8)}
    with pytest.raises(frames.FrameError, match="larger than"):
        frames.decode(json_of_length(MIB + 1))


def test_gzip_with_back_references_across_the_full_window_inflates() -> None:
    """Mutant: _GZIP_WBITS 16 + 15 -> 15 + 15 (a 16 KiB window: far back-references fail)."""
    noise = f"{random.Random(10).getrandbits(4 * 20000):x}"
    text = '{"a":"' + noise + noise + '"}'
    assert frames.decode(gzip.compress(text.encode())) == {"a": noise + noise}


def test_plain_bytes_and_text_are_json_too() -> None:
    """Mutants: every binary frame inflated (`or True`); `text = None` for text frames."""
    assert frames.decode(b'{"a":1}') == {"a": 1}
    assert frames.decode('{"a":1}') == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\x1f\x8bnot gzip at all", "not gzip"),
        (b"\xff\xfe{}", "UTF-8"),
        ("{", "not valid JSON"),
        ("[1]", "JSON list, not an object"),
        ("2", "JSON int, not an object"),
    ],
)
def test_a_bad_frame_is_refused_saying_what_was_wrong(raw: bytes | str, says: str) -> None:
    """Mutants: FrameError(None), `type(None).__name__`: the engine reports these texts."""
    with pytest.raises(frames.FrameError, match=says):
        frames.decode(raw)


# --- frames: codes, IDs, classification ------------------------------------------------------


def test_codes_and_times_stop_at_fifteen_digits() -> None:
    """Mutants: `abs(value) <= 10**15`, `11**15`, `10**16`; _CODE `{1,14}`."""
    assert frames.as_code(10**15 - 1) == 10**15 - 1
    assert frames.as_code(-(10**15) + 1) == -(10**15) + 1
    assert frames.as_code(10**15) is None and frames.as_code(-(10**15)) is None
    assert frames.as_code("9" * 15) == 10**15 - 1 and frames.as_code("9" * 16) is None


def test_the_largest_id_is_nineteen_digits() -> None:
    """Mutant: _ID `{1,18}`: SPEC allows IDs up to 9223372036854775807."""
    assert frames.as_id("9223372036854775807") == "9223372036854775807"
    assert frames.as_id(9223372036854775807) == "9223372036854775807"
    assert frames.as_id(" 42 ") == "42"


def test_a_ping_in_the_op_form_is_a_ping_echoing_its_ts() -> None:
    """Mutants: `op == "ping"` spelled otherwise; `message.get("ts")` lost or replaced."""
    assert frames.classify({"op": "ping", "ts": "1492420473058"}) == frames.Ping("1492420473058", False)
    assert frames.classify({"op": "ping", "ts": 7}) == frames.Ping(7, False)


@pytest.mark.parametrize("key", ["err-msg", "err_msg", "message", "msg"])
def test_every_spelling_of_the_message_is_read(key: str) -> None:
    """Mutants: one of the four message spellings dropped or misspelt."""
    event = frames.classify({"cid": "c-1", "code": 1030, key: "bad"})
    assert isinstance(event, frames.Answer) and event.message == "bad"


def test_a_message_that_is_not_text_is_kept_as_text() -> None:
    """Mutants of `_text`: a number as message became "" or "None"."""
    event = frames.classify({"cid": "c-1", "code": 1030, "message": 42})
    assert isinstance(event, frames.Answer) and event.message == "42"
    nothing = frames.classify({"cid": "c-1", "code": 1030})
    assert isinstance(nothing, frames.Answer) and nothing.message == ""


def test_close_and_error_notices_keep_their_code() -> None:
    """Mutants: `op in ("close", "error")` misspelt; the notice's code dropped."""
    assert frames.classify({"op": "error", "err-code": 2002, "err-msg": "x"}) == frames.Notice(
        "error", 2002, "x"
    )
    assert frames.classify({"op": "close", "code": "4001"}) == frames.Notice("close", 4001, "")


def test_a_push_carries_its_topic_and_data() -> None:
    """Mutants of the `notify` branch: op misspelt, topic or data lost, topic type check."""
    data = [{"order_id": 11}]
    assert frames.classify({"op": "notify", "topic": "orders.btc-usdt", "data": data}) == frames.Push(
        "orders.btc-usdt", data
    )
    assert frames.classify({"op": "notify", "topic": 5, "data": data}) == frames.Push(None, data)


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ({"code": 200, "data": []}, frames.Other(None)),  # no cid: answers nothing of ours
        ({"op": "sub", "code": 200}, frames.Other("sub")),
        ({"op": "unsub", "cid": "c-1", "code": 200}, frames.Other("unsub")),
        ({"op": 5, "cid": "c-1"}, frames.Other(None)),
    ],
)
def test_frames_that_answer_nothing_of_ours_are_other(message: dict[str, object], event: object) -> None:
    """Mutants: `has_cid and op in ANSWER_OPS` -> `or`; `Other(op)` lost or not type-checked."""
    assert frames.classify(message) == event


@pytest.mark.parametrize("op", ["cancel_batch_orders", "sub"])
def test_answers_may_name_their_op(op: str) -> None:
    """Mutants: "cancel_batch_orders" or "sub" dropped from ANSWER_OPS (the answer is then lost)."""
    event = frames.classify({"op": op, "cid": "c-1", "code": 200, "data": []})
    assert event == frames.Answer("c-1", False, True, 200, "", None, [])


@pytest.mark.parametrize(
    ("message", "ok"),
    [
        ({"cid": "c", "status": "ok"}, True),
        ({"cid": "c", "status": "error"}, False),
        ({"cid": "c", "status": "error", "code": 200}, False),
        ({"cid": "c"}, False),
    ],
)
def test_status_decides_when_the_code_does_not(message: dict[str, object], ok: bool) -> None:
    """Mutants: the `status` key or its "ok"/"error" values misspelt."""
    event = frames.classify(message)
    assert isinstance(event, frames.Answer) and event.ok is ok


def test_cancel_items_skip_junk_anywhere_and_read_every_spelling() -> None:
    """Mutants: `continue` -> `break` on a non-object entry; order_id_str, err-code, err_code,
    err-msg, err_msg, msg dropped or misspelt."""
    items = frames.cancel_items(
        [
            "junk",
            {"order_id_str": "1", "err-code": 1061, "err-msg": "a"},
            7,
            {"order_id": 2, "err_code": "1071", "err_msg": "b"},
            {"orderId": 3, "code": 200, "msg": "c"},
        ]
    )
    assert items == (
        frames.AnswerItem("1", None, 1061, "a"),
        frames.AnswerItem("2", None, 1071, "b"),
        frames.AnswerItem("3", None, 200, "c"),
    )


# --- frames: order updates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "word"),
    [
        (1, "new"),
        (2, "new"),
        (3, "new"),
        (4, "partially_filled"),
        (5, "partially_canceled"),
        (6, "filled"),
        (7, "canceled"),
        (11, "canceling"),
        (8, None),
        (0, None),
    ],
)
def test_htxs_numeric_order_states(number: int, word: str | None) -> None:
    """Mutants of STATE_NUMBERS: an entry dropped, renumbered or renamed (a numeric 5 or 7 must
    read as final, 1-4 and 11 as not)."""
    assert frames.order_updates({"order_id": 11, "state": number})[0].state == word
    assert frames.order_updates({"order_id": 11, "state": str(number)})[0].state == word


@pytest.mark.parametrize(
    ("state", "word"),
    [("partially_canceled", "partially_canceled"), ("Canceled", "canceled"), ("FILLED", "filled")],
)
def test_state_words_keep_underscores_and_are_lower_cased(state: str, word: str) -> None:
    """Mutants: `replace("_", ...)` misspelt (underscored words became None); `.upper()`."""
    assert frames.order_updates({"order_id": 11, "state": state})[0].state == word


@pytest.mark.parametrize(
    ("entry", "ids"),
    [
        ({"order_id_str": "11", "order_id": 12}, ("11", None)),
        ({"orderId": 11, "clientOrderId": "5011"}, ("11", "5011")),
        ({"order_id": "11", "client_order_id": 5011}, ("11", "5011")),
    ],
)
def test_order_updates_read_every_id_spelling(entry: dict[str, object], ids: tuple[str, str | None]) -> None:
    """Mutants: order_id_str (preferred), orderId or clientOrderId dropped or misspelt."""
    assert frames.order_updates(entry)[0][:2] == ids


def test_order_updates_keep_the_contract_and_side_as_plain_words() -> None:
    """Mutants: contract_code/side lost or `_word` always/never accepting. `--all` keeps only
    orders of the asked contract and side by these fields."""
    got = frames.order_updates({"order_id": 11, "contract_code": "BTC-USDT", "side": "sell"})[0]
    assert (got.contract_code, got.side) == ("BTC-USDT", "sell")
    odd = frames.order_updates({"order_id": 11, "contract_code": "BTC\n", "side": "продать"})[0]
    assert (odd.contract_code, odd.side) == (None, None)


@pytest.mark.parametrize(
    ("value", "text"),
    [("19.9", "19.9"), (" 4 ", "4"), (90, "90"), ("abc", None), (".5", None), ("1e3", None), (True, None)],
)
def test_volumes_are_decimal_text_or_nothing(value: object, text: str | None) -> None:
    """Mutants: the _DECIMAL check bypassed (`or True`), `{0,30}`, `[0-8]`."""
    assert frames.as_volume(value) == text


# --- signing and redaction -------------------------------------------------------------------


def test_the_timestamp_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant: `astimezone(None)` (the local zone): invisible while the tests run in UTC."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    try:
        moment = datetime(2017, 5, 11, 15, 19, 30, tzinfo=timezone.utc)
        assert timestamp_for(moment) == "2017-05-11T15:19:30"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_signed_parameters_are_strictly_percent_encoded() -> None:
    """Mutant: `quote(..., safe="")` -> `quote(...)`, which leaves '/' unencoded."""
    signed = payload("h", "/p", {"AccessKeyId": "a/b", "Timestamp": "2017-05-11T15:19:30"})
    assert signed.endswith("AccessKeyId=a%2Fb&Timestamp=2017-05-11T15%3A19%3A30")


def test_a_secret_inside_another_is_removed_whole() -> None:
    """Mutants: secrets sorted without `key=len` or shortest first, which leaves a longer
    secret's ends in the text ("a<redacted>b")."""
    assert Redactor(("zz", "azzb"))("x azzb y") == "x <redacted> y"


def test_a_signatures_url_encoded_form_is_removed_too() -> None:
    """Mutant: `quote(value)` keeps '/' (base64 has it): the encoded signature would leak."""
    redact = Redactor()
    redact.add_secret("SIG+/=")
    assert redact("sig=SIG%2B%2F%3D") == "sig=<redacted>"


def test_a_redactor_without_an_access_key() -> None:
    """Mutant: `self._access_key or len(...)` crashed when no access key was given."""
    assert Redactor(("s3cret",))("a s3cret") == "a <redacted>"


def test_an_access_key_of_four_characters_is_masked_and_of_three_left_alone() -> None:
    """Mutants: `>= 4` -> `> 4` or `>= 5`."""
    assert Redactor((), "abcd")("k=abcd") == "k=****"
    assert Redactor((), "abc")("k=abc") == "k=abc"
