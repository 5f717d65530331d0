"""`--confirm` end to end (SPEC section 7): the real CLI in a subprocess, over real loopback
sockets, against the simulator's trade socket, notification socket and REST order query.

Each test asserts the exit code, every row's fields, and what reached the simulator: the
subscription, the pushes, the cancels and the signed order queries. Every run goes through
`run_cli`'s leak check, and `confirm_run` adds the REST signatures to it (they travel
URL-encoded in a query string, where the socket leak check does not look).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import hmac
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from clirun import (
    ACCESS_KEY,
    CREDENTIALS,
    SECRET,
    Result,
    assert_no_leak,
    assert_no_rest_leak,
    base_env,
    run_cli,
)
from conftest import SimFactory

from htx_cancel.simulator import NOTIFY_PATH, ORDER_PATH, Faults, RestRecord, Simulator

CONFIRM_FIELDS = ("confirmed", "final_state", "filled_volume", "volume")

Facts = tuple[str, int, bool | None, str | None, str | None, str | None]

DEMO: dict[str, Facts] = {
    # order ID: (state, code, confirmed, final_state, filled_volume, volume), as SPEC 7.4 says
    "101": ("cancelled", 200, True, "canceled", "0", "1"),
    "111": ("cancelled", 200, True, "partially_canceled", "4", "10"),
    "112": ("filled", 200, True, "filled", "5", "5"),
    "113": ("cancelled", 1062, True, "canceled", "0", "1"),
    "201": ("already_cancelled", 1071, None, None, None, None),
    "301": ("filled", 1063, None, None, None, None),
    "404": ("not_found", 1061, None, None, None, None),
}
ALL_DEMO = ",".join(DEMO)
ACCEPTED = {"101", "111", "112", "113"}
"""The demo orders whose cancel is answered 200 or 1062: the only ones that need confirming."""


# --------------------------------------------------------------------------- helpers


def confirm_run(sim: Simulator, *args: str, timeout: str = "0.3", log: Path | None = None) -> Result:
    """`htx-cancel BTC-USDT ARGS --confirm --timeout T` against `sim`, leak-checked, REST included."""
    argv = ["BTC-USDT", *args, "--confirm", "--timeout", timeout]
    if log is not None:
        argv += ["--log-file", str(log)]
    result = run_cli(argv, sim, log_file=log)
    assert_no_rest_leak(result, sim, log)
    return result


def sign(path: str, params: dict[str, str], host: str = "127.0.0.1") -> str:
    """HTX signature version 2, computed here independently of the client's code."""
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
    text = f"GET\n{host}\n{path}\n{query}"
    return base64.b64encode(hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).digest()).decode()


def order_queries(sim: Simulator) -> list[RestRecord]:
    queries = [r for r in sim.rest_requests if r.path == ORDER_PATH]
    assert len(queries) == len(sim.rest_requests), "a REST request other than the order query"
    for record in queries:
        # The simulator checked the signature (anything else answers an auth code), and the
        # signature is the one HTX's rule gives for exactly these parameters.
        assert (record.method, record.status, record.code) == ("GET", 200, 200), record
        signed = {k: v for k, v in record.params.items() if k != "Signature"}
        assert record.params["Signature"] == sign(ORDER_PATH, signed)
        assert record.query.endswith("&Signature=" + quote(record.params["Signature"], safe=""))
        assert (signed["contract_code"], signed["margin_mode"]) == ("BTC-USDT", "cross")
        assert signed["AccessKeyId"] == ACCESS_KEY
    return queries


def queried_ids(sim: Simulator) -> list[str]:
    """Order IDs queried, in order; every query by order ID (the run knows it)."""
    queries = order_queries(sim)
    assert all("client_order_id" not in r.params for r in queries)
    return [r.params["order_id"] for r in queries]


def rows(result: Result) -> dict[str, dict[str, Any]]:
    """--json rows by order ID (client order ID when the order ID is unknown)."""
    document = result.json()
    return {r["order_id"] or r["client_order_id"]: r for r in document["results"]}


def facts(row: dict[str, Any]) -> Facts:
    return (
        row["state"],
        row["code"],
        row["confirmed"],
        row["final_state"],
        row["filled_volume"],
        row["volume"],
    )


def assert_demo_rows(result: Result, ids: str) -> None:
    got = rows(result)
    assert list(got) == ids.split(",")
    for order_id, row in got.items():
        assert facts(row) == DEMO[order_id], order_id
        assert row["attempts"] == 1
    if "112" in got:
        assert "filled" in got["112"]["message"]


def subscribed(sim: Simulator) -> None:
    """One subscription to the orders topic of the run's contract, acknowledged."""
    subs = sim.subscriptions
    assert len(subs) == 1
    sub = subs[0]
    assert (sub.op, sub.topic, sub.contract_code, sub.err_code) == ("sub", "orders", "BTC-USDT", 0)
    assert sim.notify_connections == 1


def err_lines(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.strip()]


def says_why(result: Result, *words: str) -> None:
    """stderr gives the reason on one line (holding every word), says it once rather than once
    per order, and stays short."""
    lines = err_lines(result)
    assert any(all(word in line for word in words) for line in lines), result.err
    assert len(set(lines)) == len(lines) <= 3, result.err


# --------------------------------------------------------------------------- 7.4: the three cases


def test_partial_fill_is_cancelled_confirmed_with_its_volumes(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = confirm_run(sim, "-o", "111", "--json")
    assert result.code == 0
    row = rows(result)["111"]
    assert facts(row) == ("cancelled", 200, True, "partially_canceled", "4", "10")
    assert (row["client_order_id"], row["message"], row["attempts"]) == ("5111", "Success", 1)
    summary = result.json()["summary"]
    assert summary["cancelled"] == 1 and sum(summary.values()) == 1
    subscribed(sim)
    assert [(p.order_id, p.state, p.trade_volume) for p in sim.pushes] == [("111", "partially_canceled", "4")]
    assert sim.rest_requests == []  # the push confirmed it: nothing to ask


def test_partial_fill_shows_in_the_table_and_the_summary(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = confirm_run(sim, "-o", "101,111")
    assert result.code == 0
    lines = result.out.splitlines()
    row_111 = next(line for line in lines if line.startswith("111 "))
    assert "4 of 10" in row_111 and "cancelled" in row_111
    row_101 = next(line for line in lines if line.startswith("101 "))
    assert "0 of 1" in row_101
    summary = lines[-1]
    assert "2 cancelled" in summary
    assert "1 order had partly filled before the cancel" in summary
    assert "not confirmed" not in summary


def test_fill_racing_the_cancel_is_filled_and_exit_1(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = confirm_run(sim, "-o", "112", "--json")
    assert result.code == 1
    row = rows(result)["112"]
    assert facts(row) == ("filled", 200, True, "filled", "5", "5")
    assert "filled" in row["message"] and row["message"] != "Success"
    assert result.json()["summary"]["filled"] == 1
    assert [c.code for c in sim.cancels] == [200]  # the exchange did accept the cancel
    assert sim.order("112").status == "filled"
    assert sim.rest_requests == []


def test_cancel_in_progress_then_canceled_is_cancelled_confirmed(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = confirm_run(sim, "-o", "113", "--json")
    assert result.code == 0
    row = rows(result)["113"]
    assert facts(row) == ("cancelled", 1062, True, "canceled", "0", "1")
    assert [(p.order_id, p.state) for p in sim.pushes] == [("113", "canceled")]
    assert sim.rest_requests == []


def test_push_before_the_answer_is_not_lost(sim_factory: SimFactory) -> None:
    """push_delay 0: the push may overtake the cancel's answer on the other socket."""
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(push_delay=0.0))
    result = confirm_run(sim, "-o", "101,111,112", "--json")
    assert result.code == 1
    assert_demo_rows(result, "101,111,112")
    assert sim.rest_requests == []


# --------------------------------------------------------------------------- 7.3: the order query


def test_dropped_pushes_are_confirmed_by_one_signed_query_each(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True))
    result = confirm_run(sim, "-o", ALL_DEMO, "--json", timeout="0.3")
    assert result.code == 1  # 112 filled, 301 filled, 404 not found
    assert_demo_rows(result, ALL_DEMO)
    subscribed(sim)
    assert sim.pushes == []
    # One query per accepted order, none for 1071 / 1063 / 1061.
    assert sorted(queried_ids(sim)) == sorted(ACCEPTED)
    # Each only after the wait for its push was over (--timeout after its answer).
    answered = sim.cancels[0].answered_at
    assert answered is not None
    assert all(r.t >= answered + 0.3 for r in sim.rest_requests)


def test_dropped_pushes_all_confirmed_is_exit_0(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True))
    result = confirm_run(sim, "-o", "101,111,113,201", "--json", timeout="0.3")
    assert result.code == 0
    assert_demo_rows(result, "101,111,113,201")
    assert sorted(queried_ids(sim)) == ["101", "111", "113"]
    assert err_lines(result) == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Faults(no_pushes=True, query_error=1004), "1004"),
        (Faults(no_pushes=True, query_http_status=500), "500"),
    ],
    ids=["code-1004", "http-500"],
)
def test_failing_query_leaves_rows_unconfirmed_and_exit_4(
    sim_factory: SimFactory, fault: Faults, said: str
) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=fault)
    result = confirm_run(sim, "-o", "101,113,201", "--json", timeout="0.3")
    assert result.code == 4
    got = rows(result)
    assert facts(got["101"]) == ("cancelled", 200, False, None, None, None)
    assert facts(got["113"]) == ("cancelling", 1062, False, None, None, None)
    assert facts(got["201"]) == DEMO["201"]
    for order_id in ("101", "113"):
        assert "not confirmed" in got[order_id]["message"] and said in got[order_id]["message"]
    # Looked up once each, never retried; stderr says why, in one line.
    assert [r.params["order_id"] for r in sim.rest_requests] == ["101", "113"]
    assert all(r.status == (500 if said == "500" else 200) for r in sim.rest_requests)
    says_why(result, "order query", said)


def test_failing_query_counts_in_the_table_summary(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True, query_error=1004))
    result = confirm_run(sim, "-o", "101,102", timeout="0.3")
    assert result.code == 4
    assert "2 not confirmed" in result.out.splitlines()[-1]


# --------------------------------------------------------------------------- 7.1: the subscription


def test_refused_subscription_still_cancels_and_confirms_by_query(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(sub_error=2010))
    result = confirm_run(sim, "-o", "101,111,112,201", "--json", timeout="0.5")
    assert result.code == 1
    assert_demo_rows(result, "101,111,112,201")
    [sub] = sim.subscriptions
    assert sub.err_code == 2010
    # The refusal opened the gate at once: no wait for --timeout before the cancel.
    assert sim.cancels[0].t - sub.t < 0.25
    assert sorted(queried_ids(sim)) == ["101", "111", "112"]
    says_why(result, "2010", "order query")


def test_refused_subscription_confirms_a_cancel_in_progress(sim_factory: SimFactory) -> None:
    # 113's cancel in progress takes effect 0.3 s after the cancel, within --timeout (0.5 s).
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(sub_error=2010, push_delay=0.3))
    result = confirm_run(sim, "-o", "101,113", "--json", timeout="0.5")
    assert_demo_rows(result, "101,113")
    assert result.code == 0
    assert sorted(queried_ids(sim)) == ["101", "113"]


def test_refused_notification_auth_still_cancels_and_confirms_by_query(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(notify_auth_error=2001))
    result = confirm_run(sim, "-o", "101,111", "--json", timeout="0.5")
    assert result.code == 0  # a refused push socket is no credentials error: the cancel went out
    assert_demo_rows(result, "101,111")
    assert sim.subscriptions == []
    assert sorted(queried_ids(sim)) == ["101", "111"]
    says_why(result, "2001", "order query")


def test_unacknowledged_subscription_cancels_by_the_timeout_and_confirms_by_query(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(sub_silent=True))
    started = time.monotonic()
    result = confirm_run(sim, "-o", "101,111", "--json", timeout="0.5")
    assert result.code == 0, result.err
    assert_demo_rows(result, "101,111")
    [sub] = sim.subscriptions
    assert sub.err_code is None  # never answered
    first = sim.cancels[0].t
    # The cancel waited for the ack, but no longer than --timeout from the start of the run.
    assert 0.35 <= first - sub.t <= 0.5 + 0.1
    assert first - started < 0.5 + 1.0  # process start-up included
    assert sorted(queried_ids(sim)) == ["101", "111"]
    says_why(result, "not acknowledged")


@pytest.mark.parametrize("latency", [0.0, 0.05])
def test_first_cancel_waits_for_the_subscription_ack(sim_factory: SimFactory, latency: float) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(latency=latency))
    result = confirm_run(sim, "-o", "101,111", "--json", "-v", timeout="0.5")
    assert result.code == 0
    assert_demo_rows(result, "101,111")
    [sub] = sim.subscriptions
    assert sub.err_code == 0
    # The ack is written `latency` after the sub arrived and takes `latency` back; the cancel
    # is recorded as it reaches the simulator. (The simulator does not record when the ack
    # was written, so this is the bound its records allow.)
    first = min(c.t for c in sim.cancels)
    assert first >= sub.t + 2 * latency - 0.001
    assert first > sub.t
    # ... and on the client's own timeline: the ack was read before the cancel was written.
    lines = result.err.splitlines()
    ack = next(i for i, line in enumerate(lines) if "notify <<" in line and '"op": "sub"' in line)
    cancel = next(i for i, line in enumerate(lines) if ">> " in line and "cancel_batch_orders" in line)
    assert ack < cancel
    assert sim.rest_requests == []


# --------------------------------------------------------------------------- 7.2: pushes


def test_duplicate_final_push_the_latest_by_updated_time_wins(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(duplicate_pushes=True))
    result = confirm_run(sim, "-o", "111,112", "--json")
    assert result.code == 1
    assert_demo_rows(result, "111,112")  # 4 of 10 and 5 of 5, not the stale 3 and 4
    pushed = [(p.order_id, p.trade_volume, p.stale) for p in sim.pushes]
    assert pushed == [("111", "4", False), ("111", "3", True), ("112", "5", False), ("112", "4", True)]
    real, stale = sim.pushes[0], sim.pushes[1]
    assert stale.t >= real.t and stale.updated_time < real.updated_time  # received last, older
    assert sim.rest_requests == []


@pytest.mark.parametrize("as_list", [False, True], ids=["object", "list"])
@pytest.mark.parametrize("gzip", [False, True], ids=["text", "gzip"])
def test_both_push_forms(sim_factory: SimFactory, as_list: bool, gzip: bool) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(push_as_list=as_list, notify_gzip=gzip))
    result = confirm_run(sim, "-o", "111,112,113", "--json")
    assert result.code == 1
    assert_demo_rows(result, "111,112,113")
    assert len(sim.pushes) == 3
    assert sim.rest_requests == []  # every one confirmed by its push


def test_client_ids_are_matched_confirmed_and_both_ids_shown(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = confirm_run(sim, "-c", "5111,5112", "--json")
    assert result.code == 1
    results = result.json()["results"]
    assert [(r["order_id"], r["client_order_id"]) for r in results] == [("111", "5111"), ("112", "5112")]
    assert [facts(r) for r in results] == [DEMO["111"], DEMO["112"]]
    assert sim.cancels[0].client_order_ids == ("5111", "5112") and sim.cancels[0].order_ids == ()
    assert sim.rest_requests == []


def test_client_ids_without_pushes_are_queried_by_their_order_id(sim_factory: SimFactory) -> None:
    """HTX keeps client order IDs for a few hours only: the answer gave the order ID, use it."""
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True))
    result = confirm_run(sim, "-c", "5111,5113", "--json", timeout="0.3")
    assert result.code == 0
    results = result.json()["results"]
    assert [(r["order_id"], r["client_order_id"]) for r in results] == [("111", "5111"), ("113", "5113")]
    assert [facts(r) for r in results] == [DEMO["111"], DEMO["113"]]
    assert sorted(queried_ids(sim)) == ["111", "113"]


def test_pings_on_the_notification_socket_are_answered_while_waiting(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(ping_interval=0.05, no_pushes=True))
    result = confirm_run(sim, "-o", "101", "--json", timeout="0.5")
    assert result.code == 0
    pongs = [
        r
        for r in sim.received
        if r.socket == "notify" and r.message is not None and r.message.get("op") == "pong"
    ]
    assert len(pongs) >= 4  # ~0.5 s of waiting for a push at one ping every 0.05 s
    all_pongs = [
        r for r in sim.received if r.message is not None and "pong" in {r.message.get("op"), *r.message}
    ]
    # Each echoed its ping exactly; the last may arrive as the client hangs up, recorded on arrival
    # but never matched by a simulator whose connection is already closing.
    assert len(all_pongs) - 1 <= sim.pongs <= len(all_pongs)


# --------------------------------------------------------------------------- 7.5 and 7.6


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_without_confirm_the_fields_are_null_and_nothing_else_connects(
    sim_factory: SimFactory, fmt: str
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "111,112,201", "--output", fmt], sim)
    assert result.code == 0
    if fmt == "json":
        records = result.json()["results"]
    elif fmt == "jsonl":
        records = [json.loads(line) for line in result.out.splitlines()]
    else:
        records = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["order_id"] for r in records] == ["111", "112", "201"]
    null = "" if fmt == "csv" else None
    for record in records:
        assert [record[f] for f in CONFIRM_FIELDS] == [null] * 4
    # 112 filled as it was cancelled, but without --confirm the report says only what the
    # exchange answered: the cancel was accepted.
    assert [r["state"] for r in records] == ["cancelled", "cancelled", "already_cancelled"]
    assert sim.notify_connections == 0 and sim.subscriptions == []
    assert sim.rest_requests == []


def test_dry_run_prints_the_notification_auth_and_the_subscription_and_opens_nothing(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "111,201", "--confirm", "--dry-run"], sim)
    assert result.code == 0
    frames = [json.loads(line) for line in result.out.splitlines()]
    assert [f["op"] for f in frames] == ["auth", "auth", "sub", "cancel_batch_orders"]
    trade_auth, notify_auth, sub, cancel = frames
    assert trade_auth["cid"] != notify_auth["cid"]
    for auth in (trade_auth, notify_auth):
        assert auth["Signature"] == "<redacted>"
        assert auth["AccessKeyId"] == f"{ACCESS_KEY[:4]}...{ACCESS_KEY[-4:]}"
    assert {k: v for k, v in sub.items() if k != "cid"} == {
        "op": "sub",
        "topic": "orders",
        "contract_code": "BTC-USDT",
    }
    assert isinstance(sub["cid"], str) and sub["cid"]
    assert cancel["data"] == {"contract_code": "BTC-USDT", "order_id": ["111", "201"]}
    # The signatures the dry run computed (for both paths) are nowhere in what it printed.
    for auth, path in ((trade_auth, urlsplit(sim.url).path), (notify_auth, NOTIFY_PATH)):
        params = {
            "AccessKeyId": ACCESS_KEY,
            "SignatureMethod": "HmacSHA256",
            "SignatureVersion": "2",
            "Timestamp": auth["Timestamp"],
        }
        real = sign(path, params)
        assert real not in result.out and real not in result.err
    assert sim.connections == 0 and sim.notify_connections == 0
    assert sim.received == [] and sim.rest_requests == []


def test_verbose_and_log_mark_the_notification_frames(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    log = tmp_path / "audit.jsonl"
    result = confirm_run(sim, "-o", "111", "--json", "-v", log=log)
    assert result.code == 0
    notify = [line for line in result.err.splitlines() if "] notify " in line]
    assert any("notify >> " in line and '"op":"auth"' in line and "<redacted>" in line for line in notify)
    assert any("notify >> " in line and '"op":"sub"' in line for line in notify)
    assert any("notify << " in line and '"op": "notify"' in line and '"111"' in line for line in notify)
    trade = [line for line in result.err.splitlines() if "] >> " in line or "] << " in line]
    assert any("cancel_batch_orders" in line for line in trade)
    assert not any("notify" in line or "/v5/" in line for line in trade)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    channels = {(e.get("channel"), e.get("direction")) for e in entries if "frame" in e}
    assert {("trade", "sent"), ("trade", "received"), ("notify", "sent"), ("notify", "received")} <= channels
    logged_notify = [e["frame"] for e in entries if e.get("channel") == "notify" and e["direction"] == "sent"]
    assert any('"op":"auth"' in f and "<redacted>" in f for f in logged_notify)


def test_verbose_and_log_mark_the_order_queries(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True))
    log = tmp_path / "audit.jsonl"
    result = confirm_run(sim, "-o", "111,113", "--json", "-v", log=log, timeout="0.3")
    assert result.code == 0
    assert sorted(queried_ids(sim)) == ["111", "113"]
    rest_out = [line for line in result.err.splitlines() if "] rest " in line]
    sent = [line for line in rest_out if "rest >> " in line]
    assert len(sent) == 2
    for line in sent:
        assert f"GET {sim.rest_url}{ORDER_PATH}?" in line
        assert line.endswith("&Signature=<redacted>")
    assert len([line for line in rest_out if "rest << " in line]) == 2
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    logged = [e for e in entries if e.get("channel") == "rest"]
    assert [e["direction"] for e in logged] == ["sent", "received", "sent", "received"]
    assert all(e["frame"].endswith("Signature=<redacted>") for e in logged if e["direction"] == "sent")
    # What the leak check looks for really was on the wire (it cannot pass for want of it).
    assert len({r.params["Signature"] for r in sim.rest_requests}) == 2


# --------------------------------------------------------------------------- Ctrl-C


def _popen(sim: Simulator, args: list[str], url: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", *args],
        env=base_env(url or sim.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt(proc: subprocess.Popen[str]) -> tuple[Result, float]:
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running 3 s after Ctrl-C; stderr: {err!r}") from None
    return Result(proc.returncode, out, err), time.monotonic() - sent_at


def _logged_frames(log: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(channel, direction, frame) of every socket frame in the audit log so far."""
    found = []
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
                frame = json.loads(entry["frame"]) if entry.get("channel") in ("trade", "notify") else None
            except (ValueError, KeyError):  # a line still being written, or a note
                continue
            if isinstance(frame, dict):
                found.append((entry["channel"], entry["direction"], frame))
    return found


def _answer_at(frames: list[tuple[str, str, dict[str, Any]]]) -> int | None:
    """Where the client logged the first cancel's answer (so it had read it)."""
    for i, (channel, direction, frame) in enumerate(frames):
        if (channel, direction, frame.get("cid")) == ("trade", "received", "c-1"):
            return i
    return None


def _logged_answer(log: Path) -> bool:
    return _answer_at(_logged_frames(log)) is not None


def _waiting_for_pushes(log: Path) -> bool:
    """The client answered a notification-socket ping after it read the cancel's answer: the
    trade socket is closed and it is in the wait for pushes."""
    frames = _logged_frames(log)
    answer = _answer_at(frames)
    return answer is not None and any(
        (c, d, f.get("op")) == ("notify", "sent", "pong") for c, d, f in frames[answer:]
    )


def _await(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert condition(), what


def test_ctrl_c_while_waiting_for_pushes_exits_130_with_rows_unconfirmed(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True, ping_interval=0.05))
    log = tmp_path / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101,201", "--json", "--confirm", "--timeout", "30", "--log-file", str(log)]
    proc = _popen(sim, args)
    _await(lambda: _waiting_for_pushes(log), proc, "the client never got to the wait for pushes")
    result, took = _interrupt(proc)
    assert took < 1.0
    assert result.code == 130
    assert_no_leak(result, sim, log)
    assert_no_rest_leak(result, sim, log)
    got = rows(result)
    assert facts(got["101"]) == ("cancelled", 200, False, None, None, None)
    assert "interrupted" in got["101"]["message"]
    assert facts(got["201"]) == DEMO["201"]
    assert sim.rest_requests == []  # interrupted before any query fell due


def test_ctrl_c_while_waiting_for_the_subscription_sends_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(sub_silent=True))
    proc = _popen(sim, ["BTC-USDT", "-o", "101", "--json", "--confirm", "--timeout", "30"])
    _await(lambda: bool(sim.subscriptions), proc, "the subscription never reached the simulator")
    result, took = _interrupt(proc)
    assert took < 1.0
    assert result.code == 130
    assert_no_leak(result, sim)
    [row] = result.json()["results"]
    assert (row["order_id"], row["state"], row["attempts"]) == ("101", "unknown", 0)
    assert sim.cancels == []


class SlowReturn:
    """A TCP forwarder to the simulator that holds every byte coming back for `delay` seconds:
    a long link, on which closing a WebSocket politely takes a round trip. (The simulator's own
    `latency` does not delay the close handshake, which its WebSocket library answers.)"""

    def __init__(self, target: Simulator, delay: float) -> None:
        parts = urlsplit(target.url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> SlowReturn:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self.lock:
            for sock in [self.listener, *self.sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=_copy, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=_copy, args=(upstream, client, self.delay), daemon=True).start()


def _copy(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Bytes from `source` to `sink`, each chunk written `delay` s after it was read, in order."""
    queue: list[tuple[float, bytes]] = []
    ready = threading.Condition()

    def write() -> None:
        while True:
            with ready:
                ready.wait_for(lambda: bool(queue))
                due, data = queue.pop(0)
            time.sleep(max(due - time.monotonic(), 0.0))
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return

    threading.Thread(target=write, daemon=True).start()
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        with ready:
            queue.append((time.monotonic() + delay, data))
            ready.notify()
        if not data:
            return


def test_ctrl_c_while_the_trade_socket_closes_is_not_lost(sim_factory: SimFactory, tmp_path: Path) -> None:
    """websocket-client's WebSocket.close has a bare `except: pass` around its wait for the peer's
    close frame: a Ctrl-C landing there was swallowed, and the run went on waiting --timeout for
    pushes. The trade socket is closed right after the last answer, just before that wait."""
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(no_pushes=True))
    log = tmp_path / "audit.jsonl"
    with SlowReturn(sim, 0.3) as link:
        args = ["BTC-USDT", "-o", "101", "--json", "--confirm", "--timeout", "30", "--log-file", str(log)]
        proc = _popen(sim, args, url=link.url(urlsplit(sim.url).path))
        # The answer is read, and the client at once closes the trade socket, waiting for the
        # close frame that the slow link holds back: Ctrl-C now.
        # The answer is read, and the client at once closes the trade socket and waits (up to
        # 0.2 s) for the close frame that the slow link holds back for 0.3 s: aim into it.
        _await(lambda: _logged_answer(log), proc, "the cancel's answer never reached the client")
        time.sleep(0.03)
        result, took = _interrupt(proc)
    assert result.code == 130
    assert took < 1.0
    assert facts(rows(result)["101"]) == ("cancelled", 200, False, None, None, None)


# --------------------------------------------------------------------------- the demo


def test_simulate_confirm_shows_every_case() -> None:
    result = run_cli(["BTC-USDT", "-o", ALL_DEMO, "--simulate", "--confirm", "--json", "--timeout", "0.5"])
    assert result.code == 1
    assert result.json()["simulated"] is True
    assert_demo_rows(result, ALL_DEMO)
    assert "SIMULATED" in result.err
    table = run_cli(["BTC-USDT", "-o", ALL_DEMO, "--simulate", "--confirm", "--timeout", "0.5"])
    assert table.code == 1
    assert "SIMULATED" in table.out
    assert "4 of 10" in next(line for line in table.out.splitlines() if line.startswith("111 "))
    assert "1 order had partly filled before the cancel" in table.out.splitlines()[-1]
