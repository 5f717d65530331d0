"""SPEC section 7's rules in-process: which pushes count, which wins, when a query is due, and
what the report says. No socket: pushes and query answers go in as the codec decodes them."""

from __future__ import annotations

from htx_cancel.confirm import FILLED_MESSAGE, Confirmations
from htx_cancel.frames import OrderUpdate, order_updates
from htx_cancel.models import IdKind, OrderRef, OrderResult, State

WAIT = 2.0


def ref(value: str, kind: IdKind = IdKind.ORDER) -> OrderRef:
    return OrderRef(kind, value)


def answered(order_id: str | None, code: int, client: str | None = None) -> OrderResult:
    state = {200: State.CANCELLED, 1062: State.CANCELLING, 1071: State.ALREADY_CANCELLED, 1063: State.FILLED}
    return OrderResult(order_id, client, state[code], code, "Success", 1)


def update(
    order_id: str | None,
    state: str,
    filled: str = "0",
    volume: str = "10",
    at: int = 1,
    client: str | None = None,
) -> OrderUpdate:
    return OrderUpdate(order_id, client, "BTC-USDT", "buy", state, volume, filled, at)


def tracker(*refs: OrderRef) -> Confirmations:
    return Confirmations(refs, WAIT)


def test_a_partial_fill_is_cancelled_confirmed_with_its_volumes() -> None:
    c = tracker(ref("11"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    c.pushed(update("11", "partially_canceled", filled="4", volume="10"))
    merged = c.merge(ref("11"), result)
    assert (merged.state, merged.confirmed, merged.final_state) == (
        State.CANCELLED,
        True,
        "partially_canceled",
    )
    assert (merged.filled_volume, merged.volume, merged.code) == ("4", "10", 200)
    assert not c.waiting()


def test_a_fill_racing_the_cancel_is_filled_with_the_answers_code() -> None:
    c = tracker(ref("12"))
    result = answered("12", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    c.pushed(update("12", "filled", filled="5", volume="5"))
    merged = c.merge(ref("12"), result)
    assert (merged.state, merged.code, merged.message, merged.confirmed) == (
        State.FILLED,
        200,
        FILLED_MESSAGE,
        True,
    )
    assert (merged.filled_volume, merged.volume) == ("5", "5")


def test_cancelling_then_canceled_is_cancelled() -> None:
    c = tracker(ref("13"))
    result = answered("13", 1062)
    c.accepted(result, IdKind.ORDER, 1.0)
    c.pushed(update("13", "canceled"))
    assert c.merge(ref("13"), result).state is State.CANCELLED


def test_answers_already_final_are_not_touched() -> None:
    c = tracker(ref("21"), ref("31"))
    for value, code in (("21", 1071), ("31", 1063)):
        result = answered(value, code)
        c.accepted(result, IdKind.ORDER, 1.0)
        c.pushed(update(value, "canceled"))
        assert c.merge(ref(value), result) == result
    assert not c.waiting()


def test_pushes_that_are_not_final_do_not_confirm() -> None:
    c = tracker(ref("11"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    for state in ("new", "partially_filled", "rejected", "canceling"):
        c.pushed(update("11", state))
    assert c.waiting()
    assert c.merge(ref("11"), result).confirmed is False


def test_the_latest_final_push_by_updated_time_wins_whatever_the_order_of_arrival() -> None:
    c = tracker(ref("11"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    c.pushed(update("11", "partially_canceled", filled="4", at=200))
    c.pushed(update("11", "partially_canceled", filled="3", at=100))  # older copy, lower volume
    assert c.merge(ref("11"), result).filled_volume == "4"


def test_a_push_before_the_answer_is_kept() -> None:
    c = tracker(ref("11"))
    c.pushed(update("11", "canceled"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    assert c.merge(ref("11"), result).confirmed is True
    assert c.lookups_due(100.0) == []


def test_pushes_for_orders_not_in_the_run_are_ignored() -> None:
    c = tracker(ref("11"))
    c.pushed(update("99", "canceled"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    assert c.merge(ref("11"), result).confirmed is False


def test_client_id_requests_match_by_client_id_or_the_learned_order_id() -> None:
    c = tracker(ref("5011", IdKind.CLIENT), ref("5012", IdKind.CLIENT))
    first, second = answered("11", 200, client="5011"), answered("12", 200, client="5012")
    c.accepted(first, IdKind.CLIENT, 1.0)
    c.accepted(second, IdKind.CLIENT, 1.0)
    c.pushed(update(None, "canceled", client="5011"))
    c.pushed(update("12", "filled", filled="10"))
    assert c.merge(ref("5011", IdKind.CLIENT), first).confirmed is True
    assert c.merge(ref("5012", IdKind.CLIENT), second).state is State.FILLED


def test_a_query_falls_due_wait_seconds_after_the_answer_by_order_id_first() -> None:
    c = tracker(ref("11"), ref("5012", IdKind.CLIENT))
    first, second = answered("11", 200), answered("12", 1062, client="5012")
    c.accepted(first, IdKind.ORDER, 1.0)
    c.accepted(second, IdKind.CLIENT, 2.0)
    assert c.next_lookup_at() == 1.0 + WAIT
    assert [lk.order_id for lk in c.lookups_due(1.0 + WAIT)] == ["11"]
    due = c.lookups_due(2.0 + WAIT)
    assert [(lk.order_id, lk.client_order_id) for lk in due] == [("11", None), ("12", "5012")]


def test_one_query_per_order_and_its_answer_confirms() -> None:
    c = tracker(ref("11"))
    result = answered("11", 200)
    c.accepted(result, IdKind.ORDER, 1.0)
    (lookup,) = c.lookups_due(10.0)
    c.queried(lookup.key, update("11", "partially_canceled", filled="1"))
    assert c.lookups_due(20.0) == [] and not c.waiting()
    merged = c.merge(ref("11"), result)
    assert (merged.confirmed, merged.filled_volume) == (True, "1")


def test_a_failed_or_unfinished_query_leaves_it_unconfirmed_saying_why() -> None:
    c = tracker(ref("11"), ref("12"))
    for value in ("11", "12"):
        c.accepted(answered(value, 200), IdKind.ORDER, 1.0)
    c.queried((IdKind.ORDER, "11"), None, "order query failed: HTTP 500 Internal Server Error")
    c.queried((IdKind.ORDER, "12"), update("12", "new"))
    first = c.merge(ref("11"), answered("11", 200))
    second = c.merge(ref("12"), answered("12", 200))
    assert (first.state, first.confirmed) == (State.CANCELLED, False)
    assert "HTTP 500" in str(first.message) and "'new'" in str(second.message)
    assert not c.waiting()


def test_giving_up_marks_what_is_still_waiting() -> None:
    c = tracker(ref("11"), ref("12"))
    c.accepted(answered("11", 200), IdKind.ORDER, 1.0)
    c.accepted(answered("12", 200), IdKind.ORDER, 1.0)
    c.pushed(update("12", "canceled"))
    c.give_up("interrupted")
    assert not c.waiting()
    assert "interrupted" in str(c.merge(ref("11"), answered("11", 200)).message)
    assert c.merge(ref("12"), answered("12", 200)).confirmed is True


def test_order_updates_accept_an_object_or_a_list_numbers_and_strings() -> None:
    obj = {"order_id": 11, "client_order_id": "5011", "state": "canceled", "volume": "10", "trade_volume": 4}
    listed = [obj, "junk", {"order_id": "12", "state": 6, "volume": 2.5, "updated_time": "1749714583117"}]
    assert order_updates(obj)[0][:2] == ("11", "5011")
    first, second = order_updates(listed)
    assert (first.trade_volume, second.state, second.volume, second.updated_time) == (
        "4",
        "filled",
        "2.5",
        1749714583117,
    )
    float_id = order_updates({"order_id": 11.0, "state": "canceled"})[0]
    assert float_id.order_id is None  # a float cannot be an exact ID
