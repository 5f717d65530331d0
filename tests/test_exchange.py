"""The simulator's exchange rules, pure: no sockets, no clock, every time passed in.

What the engine's tests trust the simulator to do (codes per order state, limits, signatures,
pushes, REST answers) is pinned here, fast and deterministically; test_simulator.py checks the
same rules arrive over real sockets.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from htx_cancel.signing import sign, signed_params, timestamp_for
from htx_cancel.simulator import Faults, SimOrder, demo_book, open_book
from htx_cancel.simulator.book import BIG_ID_START, state_number, state_word
from htx_cancel.simulator.exchange import (
    NOTIFY_PATH,
    OPENS_PATH,
    ORDER_PATH,
    READ_BUDGET,
    TRADE_BUDGET,
    WS_PATH,
    Exchange,
    Verdict,
)

KEY, SECRET = "access-key-0001", "secret-key-0001"
HOST = "sim.example"
MOMENT = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW_MS = int(MOMENT.timestamp() * 1000)


def exchange(orders: list[SimOrder] | None = None, **faults: Any) -> Exchange:
    return Exchange(demo_book() if orders is None else orders, {KEY: SECRET}, Faults(**faults), NOW_MS)


def auth_message(
    *, key: str = KEY, secret: str = SECRET, path: str = WS_PATH, moment: datetime = MOMENT
) -> dict[str, object]:
    params = signed_params(key, timestamp_for(moment))
    return {
        "op": "auth",
        "type": "api",
        "cid": "a-1",
        **params,
        "Signature": sign(secret, HOST, path, params),
    }


def cancel(
    ex: Exchange,
    order_ids: list[Any] | None = None,
    client_ids: list[Any] | None = None,
    *,
    contract: str = "BTC-USDT",
    t: float = 0.0,
    key: str | None = KEY,
    forced: int | None = None,
) -> Any:
    data: dict[str, object] = {"contract_code": contract}
    if order_ids is not None:
        data["order_id"] = order_ids
    if client_ids is not None:
        data["client_order_id"] = client_ids
    message = {"op": "cancel_batch_orders", "cid": "c-1", "data": data}
    return ex.cancel_batch(message, key, t, NOW_MS + 1000, forced)


def codes(result: Any) -> dict[str, object]:
    return {e["orderId"] or e["clientOrderId"]: e["code"] for e in result.answer["data"]}


def rest_params(
    path: str, own: dict[str, str], *, key: str = KEY, secret: str = SECRET
) -> list[tuple[str, str]]:
    params = {**signed_params(key, timestamp_for(MOMENT)), **own}
    return [*params.items(), ("Signature", sign(secret, HOST, path, params))]


def rest(ex: Exchange, path: str, own: dict[str, str], *, t: float = 0.0, forced: int | None = None) -> Any:
    return ex.rest(path, rest_params(path, own), HOST, t, NOW_MS, forced)


# ------------------------------------------------------------------------------ the book


def test_demo_book_table() -> None:
    book = {o.order_id: o for o in demo_book()}
    assert [book[str(n)].status for n in range(101, 111)] == ["open"] * 10
    assert [book[str(n)].client_order_id for n in (101, 110, 111, 112, 113)] == [
        "5101",
        "5110",
        "5111",
        "5112",
        "5113",
    ]
    assert (book["111"].volume, book["111"].trade_volume, state_word(book["111"])) == (
        "10",
        "4",
        "partially_filled",
    )
    assert book["112"].fills_on_cancel and book["112"].volume == "5"
    assert book["113"].status == "cancelling" and state_word(book["113"]) == "new"
    assert {book[n].status for n in ("201", "202")} == {"cancelled"}
    assert {book[n].status for n in ("301", "302")} == {"filled"}
    assert {book[n].contract_code for n in ("501", "502", "503")} == {"ETH-USDT"}
    assert {o.side for o in book.values() if o.contract_code == "BTC-USDT" and o.status == "open"} == {
        "buy",
        "sell",
    }
    assert "404" not in book


def test_open_book_is_open_alternating_and_above_float_precision() -> None:
    book = open_book(3) + open_book(2, "ETH-USDT", start=7)
    assert [o.order_id for o in book[:3]] == [str(BIG_ID_START + n) for n in range(3)]
    assert float(book[1].order_id) == float(book[2].order_id)  # what a float would do to them
    assert [o.side for o in book[3:]] == ["buy", "sell"] and book[4].contract_code == "ETH-USDT"
    assert all(o.status == "open" and o.client_order_id == o.order_id for o in book)


@pytest.mark.parametrize(
    "bad",
    [
        SimOrder("x1", None, "open"),
        SimOrder("0", None, "open"),
        SimOrder("1", "abc", "open"),
        SimOrder("1", None, "gone"),
        SimOrder("1", None, "open", side="long"),
        SimOrder("1", None, "open", volume="1", trade_volume="2"),
        SimOrder("1", None, "open", volume="lots"),
        SimOrder("1", None, "open", volume="NaN"),
    ],
)
def test_impossible_orders_are_refused(bad: SimOrder) -> None:
    with pytest.raises(ValueError):
        exchange([bad])


def test_book_copies_and_stamps() -> None:
    given = SimOrder("1", None, "filled", volume="3")
    ex = exchange([given])
    held = ex.order("1")
    assert (held.trade_volume, held.created_time, held.updated_time) == ("3", NOW_MS, NOW_MS)
    assert given.trade_volume == "0" and given.created_time is None  # the caller's object untouched
    held.status = "open"
    assert ex.order("1").status == "filled"
    with pytest.raises(KeyError):
        ex.order("2")


@pytest.mark.parametrize(
    ("order", "word", "number"),
    [
        (SimOrder("1", None, "open"), "new", 3),
        (SimOrder("1", None, "open", volume="10", trade_volume="4"), "partially_filled", 4),
        (SimOrder("1", None, "cancelled", volume="10", trade_volume="0.5"), "partially_canceled", 5),
        (SimOrder("1", None, "filled"), "filled", 6),
        (SimOrder("1", None, "cancelled"), "canceled", 7),
        (SimOrder("1", None, "cancelling"), "new", 3),
    ],
)
def test_state_words(order: SimOrder, word: str, number: int) -> None:
    assert (state_word(order), state_number(order)) == (word, number)


# ------------------------------------------------------------------------------ signatures


def test_htx_test_vector() -> None:
    key, secret = "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx", "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx"
    ex = Exchange([], {key: secret}, Faults(), 0)
    fields = {
        **signed_params(key, "2017-05-11T15:19:30"),
        "Signature": "mdfQ70CyiPMrMn7ErCVGIvHfoeXOFMXg0sZSQvJPP58=",
    }
    now = int(datetime(2017, 5, 11, 15, 19, 30, tzinfo=timezone.utc).timestamp() * 1000)
    assert ex.verify(fields, None, "api.hbdm.com", "/linear-swap-trade", now) is Verdict.OK
    assert ex.verify(fields, None, "api.hbdm.vn", "/linear-swap-trade", now) is Verdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        ({}, Verdict.OK),
        ({"AccessKeyId": ""}, Verdict.MISSING),
        ({"Signature": None}, Verdict.MISSING),
        ({"SignatureVersion": 2}, Verdict.MISSING),  # a number is not the string "2"
        ({"Timestamp": ""}, Verdict.NO_TIMESTAMP),
        ({"SignatureMethod": "HmacSHA1"}, Verdict.BAD_METHOD),
        ({"SignatureVersion": "1"}, Verdict.BAD_VERSION),
        ({"Timestamp": "2026-3-01T12:00:00"}, Verdict.BAD_TIMESTAMP),
        ({"Timestamp": "2026-02-30T12:00:00"}, Verdict.BAD_TIMESTAMP),
        ({"AccessKeyId": "someone-else"}, Verdict.UNKNOWN_KEY),
        ({"Signature": "AAAA"}, Verdict.BAD_SIGNATURE),
    ],
)
def test_signature_verdicts(change: dict[str, object], verdict: Verdict) -> None:
    message = {**auth_message(), **change}
    assert exchange().verify(message, None, HOST, WS_PATH, NOW_MS) is verdict


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_five_minute_window_either_side(offset: int, ok: bool) -> None:
    message = auth_message(moment=MOMENT + timedelta(seconds=offset))
    verdict = exchange().verify(message, None, HOST, WS_PATH, NOW_MS)
    assert verdict is (Verdict.OK if ok else Verdict.STALE)


def test_signed_path_and_host_matter() -> None:
    ex = exchange()
    notify = auth_message(path=NOTIFY_PATH)
    assert ex.socket_auth(notify, HOST, NOTIFY_PATH, NOW_MS) == (0, KEY)
    assert ex.socket_auth(notify, HOST, WS_PATH, NOW_MS) == (2003, None)
    assert ex.socket_auth(auth_message(), "other.host", WS_PATH, NOW_MS) == (2003, None)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": "key"}, 2013),
        ({"type": None}, 2002),
        ({"Timestamp": None}, 2002),
        ({"Signature": "x"}, 2003),
    ],
)
def test_socket_auth_codes(change: dict[str, object], code: int) -> None:
    message = {k: v for k, v in {**auth_message(), **change}.items() if v is not None}
    assert exchange().socket_auth(message, HOST, WS_PATH, NOW_MS) == (code, None)


def test_trade_auth_answer_forms() -> None:
    assert exchange().trade_auth_answer("a-1", 0, 5) == {
        "code": 200,
        "message": "Success",
        "ts": 5,
        "cid": "a-1",
    }
    assert exchange(string_codes=True).trade_auth_answer(None, 2003, 5) == {
        "code": "2003",
        "message": "Authentication failed.",
        "ts": 5,
    }
    op_form = exchange(auth_form="op")
    assert op_form.trade_auth_answer("a-1", 0, 5) == {
        "op": "auth",
        "type": "api",
        "err-code": 0,
        "ts": 5,
        "data": {"user-id": "12345678"},
    }
    assert op_form.trade_auth_answer("a-1", 2001, 5)["err-msg"] == "Invalid authentication."


def test_notify_auth_answer_is_htx_documented_form() -> None:
    ex = exchange()
    assert ex.notify_auth_answer("n-1", 0, 7) == {
        "op": "auth",
        "cid": "n-1",
        "type": "api",
        "err-code": 0,
        "ts": 7,
        "data": {"user-id": "12345678"},
    }
    refused = ex.notify_auth_answer("n-1", 2003, 7)
    assert (refused["err-code"], refused["err-msg"]) == (
        2003,
        "Authentication failed.",
    ) and "data" not in refused


# ------------------------------------------------------------------------------ cancel_batch_orders


def test_cancel_codes_by_order_state() -> None:
    ex = exchange()
    result = cancel(ex, ["101", "201", "301", "404", "113"])
    assert result.code == 200 and result.applied
    assert result.answer["cid"] == "c-1" and result.answer["message"] == "Success"
    assert codes(result) == {"101": 200, "201": 1071, "301": 1063, "404": 1061, "113": 1062}
    assert result.answer["data"][0] == {
        "orderId": "101",
        "clientOrderId": "5101",
        "code": 200,
        "message": "Success",
    }
    assert ex.order("101").status == "cancelled" and ex.order("101").updated_time == NOW_MS + 1000
    assert codes(cancel(ex, ["101"])) == {"101": 1071}
    assert result.settling == ("113",) and ex.order("113").status == "cancelling"


def test_cancel_by_client_id_fills_in_the_order_id() -> None:
    result = cancel(exchange(), client_ids=["5102", "9999"])
    assert result.answer["data"] == [
        {"orderId": "102", "clientOrderId": "5102", "code": 200, "message": "Success"},
        {"orderId": None, "clientOrderId": "9999", "code": 1061, "message": "The order does not exist."},
    ]


def test_another_contracts_order_is_not_found_and_untouched() -> None:
    ex = exchange()
    result = cancel(ex, ["501"], ["5502"])
    assert result.answer["data"] == [
        {"orderId": "501", "clientOrderId": None, "code": 1061, "message": "The order does not exist."},
        {"orderId": None, "clientOrderId": "5502", "code": 1061, "message": "The order does not exist."},
    ]
    assert ex.order("501").status == ex.order("502").status == "open"
    assert codes(cancel(ex, ["501"], contract="ETH-USDT")) == {"501": 200}


def test_snake_spelling_numbers_string_codes() -> None:
    result = cancel(exchange(spelling="snake", numbers=True, string_codes=True), [101])
    assert result.answer["code"] == "200"
    assert result.answer["data"] == [
        {"order_id": 101, "client_order_id": 5101, "code": "200", "message": "Success"}
    ]


@pytest.mark.parametrize(
    "data",
    [
        None,
        ["101"],
        {"order_id": ["101"]},
        {"contract_code": "btc-usdt", "order_id": ["101"]},
        {"contract_code": "BTC-USDT", "order_id": []},
        {"contract_code": "BTC-USDT"},
        {"contract_code": "BTC-USDT", "order_id": "101"},
        {"contract_code": "BTC-USDT", "order_id": [True]},
        {"contract_code": "BTC-USDT", "order_id": [1.5]},
        {"contract_code": "BTC-USDT", "order_id": ["101"], "client_order_id": {"a": 1}},
    ],
)
def test_bad_input_is_1030_and_applies_nothing(data: object) -> None:
    ex = exchange()
    result = ex.cancel_batch({"op": "cancel_batch_orders", "cid": "x", "data": data}, KEY, 0.0, NOW_MS)
    assert (result.code, result.applied, result.answer["code"]) == (1030, False, 1030)
    assert "data" not in result.answer and ex.order("101").status == "open"


def test_id_cap_counts_both_kinds() -> None:
    ex = exchange(max_ids=3)
    over = cancel(ex, ["101", "102"], ["5103", "5104"])
    assert (over.code, over.applied) == (1052, False) and ex.order("101").status == "open"
    assert cancel(ex, ["101", "102"], ["5103"]).code == 200


def test_unauthenticated_is_2002_and_not_counted() -> None:
    ex = exchange(rate_limit=1)
    assert cancel(ex, ["101"], key=None).code == 2002
    assert cancel(ex, ["101"]).code == 200


def test_rate_window_counts_arrivals_per_account_including_refused() -> None:
    ex = exchange(rate_limit=2, rate_window=3.0)
    assert cancel(ex, ["101"], t=0.0, forced=1004).code == 1004  # counted all the same
    assert cancel(ex, ["102"], t=1.0).code == 200
    limited = cancel(ex, ["103"], t=2.9)
    assert (limited.code, limited.rate_limited, limited.applied) == (1032, True, False)
    assert limited.answer["message"] == "Maximum number of access attempts exceeded."
    assert cancel(ex, ["103"], t=2.9, key="other").code == 200  # another account's budget
    assert cancel(ex, ["104"], t=3.5).code == 1032  # 1.0, 2.9 (refused, still counted) and 3.5
    assert cancel(ex, ["104"], t=6.45).code == 200  # only 3.5 and 6.45 are left in the window
    forced = cancel(ex, ["105"], t=100.0, forced=1032)
    assert forced.code == 1032 and not forced.rate_limited


def test_trade_and_read_budgets_are_apart() -> None:
    ex = exchange(rate_limit=1, read_rate_limit=1)
    assert not ex.count_arrival(TRADE_BUDGET, KEY, 0.0)
    assert not ex.count_arrival(READ_BUDGET, KEY, 0.0)
    assert ex.count_arrival(TRADE_BUDGET, KEY, 0.1) and ex.count_arrival(READ_BUDGET, KEY, 0.1)


# ------------------------------------------------------------------------------ pushes


def test_pushes_carry_the_final_state() -> None:
    ex = exchange()
    result = cancel(ex, ["101", "111", "112", "201"])
    assert codes(result) == {"101": 200, "111": 200, "112": 200, "201": 1071}
    states = [(p["order_id"], p["state"], p["trade_volume"], p["volume"]) for p in result.pushes]
    assert states == [
        ("101", "canceled", "0", "1"),
        ("111", "partially_canceled", "4", "10"),
        ("112", "filled", "5", "5"),
    ]
    first = result.pushes[0]
    assert first["client_order_id"] == "5101" and first["contract_code"] == "BTC-USDT"
    assert (first["side"], first["margin_mode"], first["cancel_reason"]) == ("buy", "cross", "")
    assert first["updated_time"] == NOW_MS + 1000 and first["created_time"] == NOW_MS
    assert result.pushes[1]["trade_avg_price"] == "60000" and first["trade_avg_price"] == "0"
    assert ex.order("112").status == "filled" and codes(cancel(ex, ["112"])) == {"112": 1063}


def test_a_cancel_in_progress_settles_once() -> None:
    ex = exchange()
    assert codes(cancel(ex, ["113"])) == {"113": 1062}
    assert codes(cancel(ex, ["113"])) == {"113": 1062}
    pushed = ex.settle("113", NOW_MS + 50)
    assert pushed is not None and (pushed["state"], pushed["updated_time"]) == ("canceled", NOW_MS + 50)
    assert ex.settle("113", NOW_MS + 60) is None and ex.settle("999", NOW_MS) is None
    assert codes(cancel(ex, ["113"])) == {"113": 1071}


def test_push_frame_and_its_stale_copy() -> None:
    data = cancel(exchange(), ["111"]).pushes[0]
    frame = Exchange.push_frame(data, 9)
    assert (frame["op"], frame["topic"], frame["contract_code"], frame["ts"], frame["uid"]) == (
        "notify",
        "orders",
        "BTC-USDT",
        9,
        "12345678",
    )
    assert frame["data"] == data and Exchange.push_frame(data, 9, as_list=True)["data"] == [data]
    stale = Exchange.stale_copy(data)
    assert (stale["state"], stale["trade_volume"], stale["updated_time"]) == (
        "partially_canceled",
        "3",
        NOW_MS + 999,
    )
    assert Exchange.stale_copy({"trade_volume": "0", "updated_time": 5})["trade_volume"] == "0"
    assert Exchange.stale_copy({"trade_volume": "0.5", "updated_time": 5})["trade_volume"] == "0.0"


# ------------------------------------------------------------------------------ subscriptions


@pytest.mark.parametrize(
    ("message", "key", "code", "covers"),
    [
        ({"op": "sub", "cid": "s", "topic": "orders", "contract_code": "BTC-USDT"}, KEY, 0, "BTC-USDT"),
        ({"op": "sub", "cid": "s", "topic": "orders"}, KEY, 0, "*"),
        ({"op": "sub", "cid": "s", "topic": "orders", "contract_code": "BTC-USDT"}, None, 2002, None),
        ({"op": "sub", "cid": "s", "topic": "positions", "contract_code": "BTC-USDT"}, KEY, 2010, None),
        ({"op": "sub", "cid": "s", "topic": "orders", "contract_code": "btc"}, KEY, 2011, None),
    ],
)
def test_subscribe_rules(message: dict[str, object], key: str | None, code: int, covers: str | None) -> None:
    answer, contract = exchange().subscribe(message, key, 3)
    assert (answer["op"], answer["cid"], answer["topic"], answer["ts"], answer["err-code"]) == (
        "sub",
        "s",
        message["topic"],
        3,
        code,
    )
    assert contract == covers and ("err-msg" in answer) == (code != 0)
    assert answer.get("contract_code") == message.get("contract_code")


def test_refused_subscription_shape() -> None:
    message = {"op": "sub", "cid": "s", "topic": "orders", "contract_code": "BTC-USDT"}
    assert exchange().refuse_subscription(message, 2014, 3) == {
        "op": "sub",
        "cid": "s",
        "topic": "orders",
        "ts": 3,
        "err-code": 2014,
        "err-msg": "Repeated subscription.",
        "contract_code": "BTC-USDT",
    }


# ------------------------------------------------------------------------------ REST: signatures


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda p: [(k, "x" if k == "Signature" else v) for k, v in p], 12008),
        (lambda p: [(k, v) for k, v in p if k != "Timestamp"], 12006),
        (lambda p: [(k, v) for k, v in p if k != "AccessKeyId"], 2002),
        (lambda p: [(k, "1" if k == "SignatureVersion" else v) for k, v in p], 12002),
        (lambda p: [(k, "HmacMD5" if k == "SignatureMethod" else v) for k, v in p], 12003),
        (lambda p: [(k, "2020-01-01T00:00:00" if k == "Timestamp" else v) for k, v in p], 12001),
        (lambda p: [(k, "someone" if k == "AccessKeyId" else v) for k, v in p], 12009),
        (
            lambda p: [(k, "ETH-USDT" if k == "contract_code" else v) for k, v in p],
            12008,
        ),  # not what was signed
        (lambda p: [*p, ("order_id", "102")], 1030),  # a name twice
    ],
)
def test_rest_signature_failures(tamper: Any, code: int) -> None:
    params = tamper(
        rest_params(ORDER_PATH, {"contract_code": "BTC-USDT", "margin_mode": "cross", "order_id": "101"})
    )
    answer = exchange().rest(ORDER_PATH, params, HOST, 0.0, NOW_MS)
    assert answer.code == code and answer.body["code"] == code and answer.body["data"] is None
    assert answer.body["ts"] == NOW_MS and isinstance(answer.body["message"], str)


def test_rest_signs_the_path_and_every_param() -> None:
    params = rest_params(OPENS_PATH, {"contract_code": "BTC-USDT"})
    assert exchange().rest(ORDER_PATH, params, HOST, 0.0, NOW_MS).code == 12008
    assert exchange().rest(OPENS_PATH, params, HOST, 0.0, NOW_MS).code == 200


def test_reads_have_their_own_window_and_forced_codes_count() -> None:
    ex = exchange(read_rate_limit=2, rate_limit=1)
    own = {"contract_code": "BTC-USDT"}
    assert rest(ex, OPENS_PATH, own, t=0.0, forced=1004).code == 1004
    assert cancel(ex, ["101"], t=0.0).code == 200  # the cancels' budget is untouched
    assert rest(ex, OPENS_PATH, own, t=0.1).code == 200
    limited = rest(ex, OPENS_PATH, own, t=0.2)
    assert (limited.code, limited.rate_limited, limited.access_key) == (1032, True, KEY)
    assert rest(ex, OPENS_PATH, own, t=3.05).code == 1032  # 0.1, 0.2 (refused, still counted)
    assert rest(ex, OPENS_PATH, own, t=6.1).code == 200


# ------------------------------------------------------------------------------ REST: the order query


def query(ex: Exchange, **own: str) -> Any:
    return rest(ex, ORDER_PATH, {"contract_code": "BTC-USDT", "margin_mode": "cross", **own})


def test_order_query_answer() -> None:
    answer = query(exchange(), order_id="111")
    assert answer.code == 200 and answer.access_key == KEY
    body = answer.body
    assert (body["code"], body["message"], body["success"]) == (200, None, True)
    data = body["data"]
    assert {k: data[k] for k in ("order_id", "client_order_id", "contract_code", "side", "volume")} == {
        "order_id": "111",
        "client_order_id": "5111",
        "contract_code": "BTC-USDT",
        "side": "buy",
        "volume": "10",
    }
    assert (data["state"], data["trade_volume"], data["margin_mode"]) == ("partially_filled", "4", "cross")
    assert data["created_time"] == data["updated_time"] == str(NOW_MS)


def test_order_query_finds_finished_orders_and_order_id_wins() -> None:
    ex = exchange()
    cancel(ex, ["101", "112"])
    assert query(ex, order_id="101").body["data"]["state"] == "canceled"
    filled = query(ex, client_order_id="5112").body["data"]
    assert (filled["order_id"], filled["state"], filled["trade_volume"]) == ("112", "filled", "5")
    assert query(ex, order_id="301", client_order_id="5101").body["data"]["order_id"] == "301"
    assert query(ex, order_id="113").body["data"]["state"] == "new"  # still live while cancelling


@pytest.mark.parametrize(
    ("own", "code"),
    [
        ({"order_id": "404"}, 1061),
        ({"client_order_id": "404"}, 1061),
        ({"order_id": "501"}, 1061),  # ETH-USDT's order, asked about on BTC-USDT
        ({}, 1030),
        ({"order_id": "1e3"}, 1030),
        ({"order_id": "-101"}, 1030),
        ({"order_id": "101", "margin_mode": "isolated"}, 1030),
        ({"order_id": "101", "contract_code": "btc-usdt"}, 1030),
    ],
)
def test_order_query_refusals(own: dict[str, str], code: int) -> None:
    answer = query(exchange(), **own)
    assert answer.code == code and answer.body["code"] == code
    assert answer.body["message"] == {1061: "The order does not exist.", 1030: "Input error."}[code]


def test_order_query_without_margin_mode_is_1030() -> None:
    assert rest(exchange(), ORDER_PATH, {"contract_code": "BTC-USDT", "order_id": "101"}).code == 1030


# ------------------------------------------------------------------------------ REST: open orders


def listing(ex: Exchange, **own: str) -> Any:
    return rest(ex, OPENS_PATH, {"contract_code": "BTC-USDT", **own})


def ids(answer: Any) -> list[str]:
    return [item["id"] for item in answer.body["data"]]


def test_listing_shape_and_only_live_orders_of_the_contract() -> None:
    answer = listing(exchange(), limit="100")
    assert answer.code == 200 and answer.short_page
    assert (answer.body["message"], answer.body["ts"]) == ("Success", NOW_MS)
    assert ids(answer) == [str(n) for n in range(101, 114)]
    first = answer.body["data"][0]
    assert first["id"] == first["order_id"] == "101"
    assert {
        k: first[k] for k in ("client_order_id", "side", "volume", "trade_volume", "state", "margin_mode")
    } == {
        "client_order_id": "5101",
        "side": "buy",
        "volume": "1",
        "trade_volume": "0",
        "state": "new",
        "margin_mode": "cross",
    }
    assert first["created_time"] == str(NOW_MS)
    assert ids(listing(exchange(), contract_code="ETH-USDT")) == ["501", "502", "503"]


def test_listing_pages_in_ascending_id_order() -> None:
    book = open_book(130) + open_book(5, "ETH-USDT", start=BIG_ID_START + 1000)
    ex = exchange(list(reversed(book)))
    first = listing(ex, limit="100")
    assert len(ids(first)) == 100 and not first.short_page
    assert ids(first) == sorted(ids(first), key=int) and ids(first)[0] == str(BIG_ID_START)
    second = listing(ex, limit="100", **{"from": ids(first)[-1], "direct": "next"})
    assert len(ids(second)) == 30 and second.short_page
    assert ids(second)[0] == str(BIG_ID_START + 100)
    assert len(ids(listing(ex))) == 10  # the default limit
    back = listing(ex, limit="3", **{"from": str(BIG_ID_START + 10), "direct": "prev"})
    assert ids(back) == [str(BIG_ID_START + n) for n in (7, 8, 9)]


def test_listing_changes_with_the_book() -> None:
    ex = exchange()
    cancel(ex, ["101", "102"])
    assert ids(listing(ex, limit="3")) == ["103", "104", "105"]
    ex.add([SimOrder("120", None, "open", side="sell")], NOW_MS)
    assert ids(listing(ex, limit="100"))[-1] == "120"


def test_listing_state_as_a_number() -> None:
    data = listing(exchange(list_state_number=True), limit="100").body["data"]
    assert {item["order_id"]: item["state"] for item in data}["111"] == 4
    assert data[0]["state"] == 3


@pytest.mark.parametrize(
    "own",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"from": "abc"},
        {"direct": "up"},
        {"contract_code": ""},
        {"margin_mode": "isolated"},
    ],
)
def test_listing_bad_input_is_1030(own: dict[str, str]) -> None:
    assert listing(exchange(), **own).code == 1030
