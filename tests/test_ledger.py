"""The ledger, in-process: SPEC section 2's table row by row, retries, splits, late, partial and
contradictory answers. No socket: answers go in as the codec decodes them, states come out.

The expected states are written out here, not read from `reconcile`, so a change to the rules
in the code fails these tests.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from htx_cancel import frames
from htx_cancel.ledger import MISSING, NO_CODE, Ledger
from htx_cancel.models import Batch, IdKind, OrderRef, State

CODES_TSV = Path(__file__).parent / "data" / "htx-error-codes.tsv"
LISTED = sorted({int(row["code"]) for row in csv.DictReader(CODES_TSV.open(), delimiter="\t")})
UNLISTED = [0, 1, 199, 201, 404, 999, 1006, 1031, 1999, 9999, 123456789]

FINAL: dict[int, State] = {
    200: State.CANCELLED,
    1071: State.ALREADY_CANCELLED,
    1062: State.CANCELLING,
    1061: State.NOT_FOUND,
    1017: State.NOT_FOUND,
    1063: State.FILLED,
}
TRANSIENT = {1000, 1001, 1002, 1003, 1004, 1005, 1032}


def order_refs(*ids: str, kind: IdKind = IdKind.ORDER) -> tuple[OrderRef, ...]:
    return tuple(OrderRef(kind, i) for i in ids)


def make(*ids: str, retries: int = 0, kind: IdKind = IdKind.ORDER) -> Ledger:
    """A ledger with every ID sent in one request `c-1` at t=0 (deadline 10)."""
    ledger = Ledger(order_refs(*ids, kind=kind), retries, lambda retry, limited: 1.0 if limited else 0.5)
    ledger.schedule(Batch(kind, ids), 0.0)
    item = ledger.pop_due(0.0)
    assert item is not None
    ledger.sent("c-1", item.batch, 10.0)
    return ledger


def answer(
    cid: str | None = "c-1",
    code: int | None = 200,
    data: object = None,
    ok: bool | None = None,
    message: str = "",
) -> frames.Answer:
    ok = code in (0, 200) if ok is None else ok
    return frames.Answer(cid, False, ok, code, message, None, data)


def item(
    order_id: str | None, code: int | None, client: str | None = None, message: str = "m"
) -> dict[str, object]:
    return {"order_id": order_id, "client_order_id": client, "code": code, "message": message}


def states(ledger: Ledger) -> list[State]:
    return [r.state for r in ledger.results()]


def expected_per_order(code: int, retries_left: bool) -> State | None:
    """SPEC section 2: None means 'sent again'."""
    if code in FINAL:
        return FINAL[code]
    if code in TRANSIENT:
        return None if retries_left else State.REJECTED
    return State.REJECTED


@pytest.mark.parametrize("code", LISTED + UNLISTED)
@pytest.mark.parametrize("retries", [0, 1])
def test_every_per_order_code_maps_to_the_spec_state(code: int, retries: int) -> None:
    ledger = make("11", retries=retries)
    ledger.answered(answer(data=[item("11", code, client="5011")]), 1.0)
    want = expected_per_order(code, retries_left=retries > 0)
    result = ledger.results()[0]
    if want is None:
        assert ledger.resolved == 0 and ledger.has_work()
        assert ledger.next_send_at() == pytest.approx(1.0 + (1.0 if code == 1032 else 0.5))
    else:
        assert (result.state, result.code, result.message) == (want, code, "m")
        assert result.client_order_id == "5011" and result.attempts == 1
        assert not ledger.has_work()


@pytest.mark.parametrize("code", [c for c in LISTED + UNLISTED if c not in (0, 200)])
@pytest.mark.parametrize("size", [1, 2])
def test_every_whole_request_code_maps_to_the_spec_decision(code: int, size: int) -> None:
    ids = ("11", "12")[:size]
    ledger = make(*ids, retries=1)
    ledger.answered(answer(code=code, message="whole"), 1.0)
    if code in TRANSIENT:
        assert ledger.resolved == 0
        again = ledger.pop_due(10.0)
        assert again is not None and again.batch.ids == ids
    elif code == 1052 and size > 1:
        halves = [ledger.pop_due(1.0), ledger.pop_due(1.0)]
        assert [h.batch.ids for h in halves if h] == [("11",), ("12",)]
        assert ledger.resolved == 0
    else:
        assert states(ledger) == [State.REJECTED] * size
        assert {r.code for r in ledger.results()} == {code}


def test_a_split_is_not_a_retry_and_1052_for_one_id_is_rejected() -> None:
    ledger = make("11", "12", retries=0)
    ledger.answered(answer(code=1052), 1.0)
    first, second = ledger.pop_due(1.0), ledger.pop_due(1.0)
    assert first is not None and second is not None
    ledger.sent("c-2", first.batch, 11.0)
    ledger.sent("c-3", second.batch, 11.0)
    ledger.answered(answer("c-2", data=[item("11", 200)]), 2.0)
    ledger.answered(answer("c-3", code=1052), 2.0)
    assert states(ledger) == [State.CANCELLED, State.REJECTED]
    assert ledger.results()[1].code == 1052
    assert [r.attempts for r in ledger.results()] == [2, 2]


@pytest.mark.parametrize(
    "bad",
    [
        answer(code=None, ok=False),  # {"cid": ...}
        answer(code=None, ok=False, message="n/a"),  # {"code": "n/a"}: as_code gives None
        answer(code=None, ok=False, message="error"),  # {"status": "error"}
    ],
)
def test_an_answer_without_a_code_is_like_no_answer(bad: frames.Answer) -> None:
    ledger = make("11", "12", retries=1)
    ledger.answered(bad, 1.0)
    assert ledger.resolved == 0
    again = ledger.pop_due(5.0)
    assert again is not None and again.batch.ids == ("11", "12")
    ledger.sent("c-2", again.batch, 15.0)
    ledger.answered(bad._replace(cid="c-2"), 6.0)
    assert states(ledger) == [State.UNKNOWN, State.UNKNOWN]
    assert {r.code for r in ledger.results()} == {None}
    assert {r.message for r in ledger.results()} == {NO_CODE}


def test_per_order_items_decide_whatever_the_envelope_says() -> None:
    ledger = make("11", "12", retries=0)
    ledger.answered(answer(code=None, ok=False, data=[item("11", 200), item("12", 1071)]), 1.0)
    assert states(ledger) == [State.CANCELLED, State.ALREADY_CANCELLED]


def test_an_envelope_error_cannot_override_per_order_answers() -> None:
    ledger = make("11", "12", retries=0)
    ledger.answered(answer(code=1030, data=[item("11", 200)]), 1.0)
    assert states(ledger) == [State.CANCELLED, State.UNKNOWN]
    assert ledger.results()[1].message == MISSING


def test_only_a_real_code_makes_rejected() -> None:
    ledger = make("11", retries=0)
    ledger.answered(answer(data=[item("11", None)]), 1.0)
    assert states(ledger) == [State.UNKNOWN]


def test_an_id_missing_from_the_answer_goes_again_and_then_is_unknown() -> None:
    ledger = make("11", "12", retries=1)
    ledger.answered(answer(data=[item("11", 200)]), 1.0)
    again = ledger.pop_due(5.0)
    assert again is not None and again.batch.ids == ("12",)
    ledger.sent("c-2", again.batch, 15.0)
    ledger.answered(answer("c-2", data=[]), 6.0)
    assert states(ledger) == [State.CANCELLED, State.UNKNOWN]
    assert [r.attempts for r in ledger.results()] == [1, 2]


def test_contradictory_items_for_one_id_are_not_believed() -> None:
    ledger = make("11", "12", retries=0)
    ledger.answered(answer(data=[item("11", 200), item("11", 1063), item("12", 200)]), 1.0)
    assert states(ledger) == [State.UNKNOWN, State.CANCELLED]


def test_the_same_item_twice_is_not_a_contradiction() -> None:
    ledger = make("11", retries=0)
    ledger.answered(answer(data=[item("11", 200), item("11", 200)]), 1.0)
    assert states(ledger) == [State.CANCELLED]


def test_items_for_ids_we_did_not_send_are_ignored() -> None:
    ledger = make("11", retries=0)
    ledger.answered(answer(data=[item("99", 200), item("11", 1061)]), 1.0)
    assert states(ledger) == [State.NOT_FOUND]
    assert len(ledger.results()) == 1


def test_client_id_requests_match_by_client_id_and_fill_in_the_order_id() -> None:
    ledger = make("5011", kind=IdKind.CLIENT)
    ledger.answered(answer(data=[item("11", 200, client="5011"), item("5011", 1063)]), 1.0)
    result = ledger.results()[0]
    assert (result.order_id, result.client_order_id, result.state) == ("11", "5011", State.CANCELLED)


def test_a_late_answer_settles_ids_but_its_envelope_does_not() -> None:
    ledger = make("11", "12", retries=1)
    ledger.expire(10.0, "no answer within 10 s")
    assert ledger.resolved == 0
    again = ledger.pop_due(20.0)
    assert again is not None
    ledger.sent("c-2", again.batch, 30.0)
    ledger.answered(answer("c-1", code=1030), 21.0)  # late whole-request error: ignored
    assert ledger.resolved == 0
    ledger.answered(answer("c-1", data=[item("11", 200)]), 21.0)  # late per-order answer: true
    ledger.answered(answer("c-2", data=[item("11", 1071), item("12", 1071)]), 22.0)
    assert states(ledger) == [State.CANCELLED, State.ALREADY_CANCELLED]


def test_the_first_final_answer_stands_against_a_later_contradiction() -> None:
    ledger = make("11", retries=0)
    ledger.answered(answer(data=[item("11", 1063)]), 1.0)
    ledger.answered(answer(data=[item("11", 200)]), 2.0)
    assert states(ledger) == [State.FILLED]


def test_a_real_answer_after_giving_up_replaces_unknown() -> None:
    ledger = make("11", retries=0)
    ledger.expire(10.0, "no answer within 10 s")
    assert states(ledger) == [State.UNKNOWN]
    ledger.answered(answer("c-1", data=[item("11", 200)]), 11.0)
    assert states(ledger) == [State.CANCELLED]


def test_retries_are_counted_per_id_until_exhausted() -> None:
    ledger = make("11", retries=2)
    for n in range(2, 4):
        ledger.expire(100.0 * n, "timeout")
        again = ledger.pop_due(100.0 * n + 10)
        assert again is not None and again.batch.ids == ("11",)
        ledger.sent(f"c-{n}", again.batch, 100.0 * n + 20)
    ledger.expire(1000.0, "timeout")
    result = ledger.results()[0]
    assert (result.state, result.attempts, result.message) == (State.UNKNOWN, 3, "timeout")
    assert not ledger.has_work()


def test_transient_after_the_last_retry_is_rejected_with_its_code() -> None:
    ledger = make("11", retries=1)
    ledger.answered(answer(code=1004, message="busy"), 1.0)
    again = ledger.pop_due(5.0)
    assert again is not None
    ledger.sent("c-2", again.batch, 15.0)
    ledger.answered(answer("c-2", code=1004, message="busy"), 6.0)
    result = ledger.results()[0]
    assert (result.state, result.code, result.message, result.attempts) == (State.REJECTED, 1004, "busy", 2)


def test_rate_limit_backs_off_longer() -> None:
    ledger = make("11", "12", retries=1)
    ledger.answered(answer(code=1032), 1.0)
    assert ledger.next_send_at() == 2.0
    ledger = make("11", "12", retries=1)
    ledger.answered(answer(code=1004), 1.0)
    assert ledger.next_send_at() == 1.5


def test_a_failed_write_is_requeued_and_is_no_attempt() -> None:
    ledger = Ledger(order_refs("11"), 0, lambda retry, limited: 0.0)
    ledger.schedule(Batch(IdKind.ORDER, ("11",)), 0.0)
    item_ = ledger.pop_due(0.0)
    assert item_ is not None
    ledger.requeue(item_)
    assert ledger.results()[0].attempts == 0
    again = ledger.pop_due(0.0)
    assert again == item_


def test_lost_connection_resends_only_what_is_unresolved() -> None:
    ledger = make("11", "12", retries=2)
    ledger.answered(answer("c-1", data=[item("11", 200)]), 1.0)  # partial: 12 goes again
    queued = ledger.pop_due(5.0)
    assert queued is not None
    ledger.sent("c-2", queued.batch, 15.0)
    ledger.lose_inflight("connection lost", 6.0)
    again = ledger.pop_due(10.0)
    assert again is not None and again.batch.ids == ("12",)


def test_queued_batches_settled_meanwhile_are_not_sent() -> None:
    ledger = make("11", "12", retries=1)
    ledger.expire(10.0, "timeout")
    ledger.answered(answer("c-1", data=[item("11", 200), item("12", 200)]), 10.1)  # late, whole
    assert ledger.pop_due(100.0) is None
    assert not ledger.has_work()
    assert states(ledger) == [State.CANCELLED, State.CANCELLED]


def test_give_up_all_leaves_answers_standing() -> None:
    ledger = make("11", "12", retries=3)
    ledger.answered(answer(data=[item("11", 200)]), 1.0)
    ledger.give_up_all("interrupted")
    assert states(ledger) == [State.CANCELLED, State.UNKNOWN]
    assert ledger.results()[1].message == "interrupted"
    assert not ledger.has_work()


def test_answers_to_unknown_cids_change_nothing() -> None:
    ledger = make("11")
    ledger.answered(answer("c-99", data=[item("11", 200)]), 1.0)
    ledger.answered(answer(None, data=[item("11", 200)]), 1.0)
    assert ledger.resolved == 0 and ledger.requests_answered == 0


def test_a_queued_batch_partly_settled_meanwhile_goes_out_trimmed() -> None:
    ledger = make("11", "12", "13", retries=1)
    ledger.expire(10.0, "timeout")  # all three queued again
    ledger.answered(answer("c-1", data=[item("12", 1071)]), 10.1)  # a late answer settles 12
    again = ledger.pop_due(100.0)
    assert again is not None
    assert again.batch == Batch(IdKind.ORDER, ("11", "13"))
