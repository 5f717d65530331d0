"""`--all` end to end (SPEC section 8): the real CLI in a subprocess (or on a pseudo-terminal for
the question), over real loopback sockets, against the simulator's REST listing and trade socket.

Each test asserts the exit code, every row, the stderr lines, and what reached the simulator:
the listing requests (paged `limit=100`, then `from=<last id>&direct=next`), the cancels (only
IDs the listing gave, on the contract asked for), and the trade connections (none when nothing
may be cancelled). Every run goes through `run_cli`'s leak check and `assert_no_rest_leak`
(the REST signatures travel URL-encoded in a query string).
"""

from __future__ import annotations

import functools
import json
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from clirun import (
    ACCESS_KEY,
    CREDENTIALS,
    Result,
    assert_no_leak,
    assert_no_rest_leak,
    base_env,
    run_cli,
)
from conftest import SimFactory
from ptyrun import TerminalRun
from ptyrun import run_on_terminal as run_with_cue

from htx_cancel.simulator import OPENS_PATH, Faults, SimOrder, Simulator, open_book
from htx_cancel.simulator.book import BIG_ID_START

PROG = "htx-cancel: "
ETH_START = 2_000_000_000_000_000_000
AUTH_PARAMS = frozenset({"AccessKeyId", "SignatureMethod", "SignatureVersion", "Timestamp", "Signature"})
LISTING_FAILED = PROG + "error: cannot list the open orders of BTC-USDT: "
NOT_CONFIRMED = PROG + "error: not confirmed: nothing was cancelled"
NEEDS_YES = PROG + "error: --all without a terminal to ask on needs --yes: nothing was listed"
NOTHING_OPEN = PROG + "no open orders on BTC-USDT: nothing to cancel"


# --------------------------------------------------------------------------- helpers


def ids(orders: Sequence[SimOrder]) -> list[str]:
    return [o.order_id for o in orders]


def sim_with(sim_factory: SimFactory, orders: list[SimOrder], **faults: Any) -> Simulator:
    return sim_factory(orders, Faults(ping_interval=0, **faults), credentials=CREDENTIALS)


def sweep(
    sim: Simulator, *args: str, stdin: str | None = None, log: Path | None = None, timeout: str = "1"
) -> Result:
    """`htx-cancel BTC-USDT --all ARGS --timeout T` from a script (stdin a pipe), leak-checked,
    REST signatures included."""
    argv = ["BTC-USDT", "--all", *args, "--timeout", timeout]
    if log is not None:
        argv += ["--log-file", str(log)]
    result = run_cli(argv, sim, stdin=stdin, log_file=log, timeout=30)
    assert_no_rest_leak(result, sim, log)
    return result


def err_lines(result: Result) -> list[str]:
    return result.err.splitlines()


def rows(result: Result) -> list[tuple[str, str | None, str, int | None]]:
    """(order_id, client_order_id, state, code) of every --json row, in report order."""
    return [(r["order_id"], r["client_order_id"], r["state"], r["code"]) for r in result.json()["results"]]


def listings(sim: Simulator) -> list[dict[str, str]]:
    """The open-orders requests the simulator received, without their auth parameters."""
    found = []
    for record in sim.rest_requests:
        assert record.path == OPENS_PATH, record.path
        found.append({k: v for k, v in record.params.items() if k not in AUTH_PARAMS})
    return found


FIRST_PAGE = {"contract_code": "BTC-USDT", "limit": "100"}


def cancelled_ids(sim: Simulator) -> list[str]:
    """Every order ID the cancels carried, in the order they reached the wire; all BTC-USDT, by
    order ID only."""
    for cancel in sim.cancels:
        assert cancel.contract_code == "BTC-USDT"
        assert cancel.client_order_ids == ()
    return [i for cancel in sim.cancels for i in cancel.order_ids]


def assert_nothing_listed(sim: Simulator) -> None:
    assert sim.rest_requests == []
    assert_nothing_sent(sim)


def assert_nothing_sent(sim: Simulator) -> None:
    assert sim.cancels == []
    assert sim.connections == 0
    assert sim.received == []


def error_json(result: Result, code: int) -> str:
    document = result.json()
    assert set(document) == {"error"}
    assert document["error"]["exit_code"] == code
    message: str = document["error"]["message"]
    return message


QUESTION_END = b"[y/N] "
run_on_terminal = functools.partial(run_with_cue, cue=QUESTION_END)


def terminal_lines(run: TerminalRun) -> list[str]:
    return run.terminal.replace("\r\n", "\n").splitlines()


# --------------------------------------------------------------------------- 1. paging


def test_130_open_orders_are_listed_in_two_pages_and_all_cancelled(sim_factory: SimFactory) -> None:
    btc = open_book(130)
    eth = open_book(4, "ETH-USDT", start=ETH_START)
    sim = sim_with(sim_factory, btc + eth)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    assert rows(result) == [(i, i, "cancelled", 200) for i in ids(btc)]
    document = result.json()
    assert document["contract_code"] == "BTC-USDT" and document["simulated"] is False
    assert document["summary"]["cancelled"] == 130
    assert sum(document["summary"].values()) == 130
    # Exactly the 130, each once, in batches of 10, all on BTC-USDT.
    sent = cancelled_ids(sim)
    assert sorted(sent) == ids(btc) and len(sent) == 130
    assert [len(c.order_ids) for c in sim.cancels] == [10] * 13
    assert sim.connections == 1
    # Paged: 100 from the start, then 100 after the 100th ID; then the look for newcomers.
    last_of_first_page = str(BIG_ID_START + 99)
    assert listings(sim) == [
        FIRST_PAGE,
        {**FIRST_PAGE, "from": last_of_first_page, "direct": "next"},
        FIRST_PAGE,
    ]
    # All or nothing: the whole listing was in before the first cancel left, the second look
    # only after the last cancel was answered.
    rest = sim.rest_requests
    assert rest[1].answered_at is not None and rest[1].answered_at <= sim.cancels[0].t
    assert all(c.answered_at is not None and c.answered_at <= rest[2].t for c in sim.cancels)
    # The other contract is untouched.
    assert all(sim.order(i).status == "open" for i in ids(eth))
    assert all(sim.order(i).status == "cancelled" for i in ids(btc))

    again = sweep(sim, "--yes", "--json")
    assert again.code == 0
    assert err_lines(again) == [NOTHING_OPEN]
    assert again.json()["results"] == []
    assert len(sim.cancels) == 13 and sim.connections == 1  # nothing more sent
    assert listings(sim)[3:] == [FIRST_PAGE]


def test_exactly_100_open_orders_take_a_second_empty_page(sim_factory: SimFactory) -> None:
    """A full page may not be the last: the listing asks once more and stops at the empty page."""
    btc = open_book(100)
    sim = sim_with(sim_factory, btc)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0, result.err
    assert [r[0] for r in rows(result)] == ids(btc)
    assert listings(sim) == [
        FIRST_PAGE,
        {**FIRST_PAGE, "from": btc[-1].order_id, "direct": "next"},
        FIRST_PAGE,
    ]


def test_listed_state_as_a_number_is_read(sim_factory: SimFactory) -> None:
    """HTX's example writes `state` as 3 where its table has words: both are open orders."""
    btc = open_book(3)
    sim = sim_with(sim_factory, btc, list_state_number=True)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0, result.err
    assert [r[0] for r in rows(result)] == ids(btc)
    assert cancelled_ids(sim) == ids(btc)


def test_ids_as_json_integers_stay_exact_and_other_contracts_are_left_out(sim_factory: SimFactory) -> None:
    """An ID above 2**53 written as a JSON integer is cancelled digit for digit; a listed entry
    of another contract is never cancelled. The same body answers the second look: the order is
    still listed after its cancel was accepted, which is a cancel under way, not an order left
    open (exit 0, nothing named)."""
    big = BIG_ID_START + 1  # 1329854623927160833: a float would make it ...832 or ...840
    body = {
        "code": 200,
        "data": [
            {"id": big, "order_id": big, "contract_code": "BTC-USDT", "side": "sell", "state": "new"},
            {"id": big + 7, "order_id": big + 7, "contract_code": "ETH-USDT", "side": "buy", "state": "new"},
        ],
    }
    sim = sim_with(sim_factory, open_book(8), list_body=json.dumps(body).encode())
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0
    assert rows(result) == [(str(big), str(big), "cancelled", 200)]
    assert cancelled_ids(sim) == [str(big)]
    assert err_lines(result) == []


# --------------------------------------------------------------------------- 2. --side


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_side_cancels_only_that_side(sim_factory: SimFactory, side: str) -> None:
    btc = open_book(12)  # odd IDs buy, even IDs sell: 6 and 6
    eth = open_book(2, "ETH-USDT", start=ETH_START)
    sim = sim_with(sim_factory, btc + eth)
    result = sweep(sim, "--yes", "--side", side, "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    wanted = [o.order_id for o in btc if o.side == side]
    assert len(wanted) == 6
    assert rows(result) == [(i, i, "cancelled", 200) for i in wanted]
    assert cancelled_ids(sim) == wanted
    for order in btc + eth:
        expected = "cancelled" if order.order_id in wanted else "open"
        assert sim.order(order.order_id).status == expected, order
    # The other side stays open, and is not "still open" either: the second look is narrowed too.
    assert listings(sim) == [FIRST_PAGE, FIRST_PAGE]


# --------------------------------------------------------------------------- 3. the question


def ask_env(sim: Simulator) -> dict[str, str]:
    return base_env(sim.url)


QUESTION = "Cancel 5 open orders on BTC-USDT (2 buy, 3 sell)? [y/N] "


@pytest.mark.parametrize("answer", [b"y\n", b"yes\n", b"YES\n"])
def test_yes_on_the_terminal_cancels(sim_factory: SimFactory, answer: bytes) -> None:
    btc = open_book(5)  # starts even: 2 buy, 3 sell
    sim = sim_with(sim_factory, btc)
    run = run_on_terminal(["BTC-USDT", "--all", "--json", "--timeout", "1"], ask_env(sim), typed=answer)
    assert run.code == 0, run.terminal
    assert terminal_lines(run) == [QUESTION + answer.decode().strip()]
    result = Result(run.code, run.out, run.terminal)
    assert rows(result) == [(i, i, "cancelled", 200) for i in ids(btc)]
    assert cancelled_ids(sim) == ids(btc)
    assert listings(sim) == [FIRST_PAGE, FIRST_PAGE]
    assert_no_leak(result, sim)
    assert_no_rest_leak(result, sim)


@pytest.mark.parametrize(
    ("answer", "echoed"),
    [(b"n\n", "n"), (b"no\n", "no"), (b"\n", ""), (b"yy\n", "yy"), (b"\x04", "")],
    ids=["n", "no", "empty-line", "yy", "ctrl-d"],
)
def test_anything_but_yes_is_exit_2_with_nothing_sent(
    sim_factory: SimFactory, answer: bytes, echoed: str
) -> None:
    sim = sim_with(sim_factory, open_book(5))
    run = run_on_terminal(["BTC-USDT", "--all", "--json", "--timeout", "1"], ask_env(sim), typed=answer)
    assert run.code == 2, run.terminal
    assert terminal_lines(run) == [QUESTION + echoed, NOT_CONFIRMED]
    assert "nothing was cancelled" in error_json(Result(run.code, run.out, run.terminal), 2)
    assert listings(sim) == [FIRST_PAGE]  # it listed to ask, and did nothing more
    assert_nothing_sent(sim)
    assert all(o.status == "open" for o in sim.orders())


def test_ctrl_c_at_the_question_is_exit_130_with_nothing_sent(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(5))
    run = run_on_terminal(["BTC-USDT", "--all", "--timeout", "1"], ask_env(sim), typed=b"\x03")
    assert run.code == 130, run.terminal
    assert run.terminal.startswith(QUESTION)
    assert "Traceback" not in run.terminal
    assert listings(sim) == [FIRST_PAGE]
    assert_nothing_sent(sim)


def test_ctrl_c_at_the_question_still_prints_the_empty_report(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(5))
    run = run_on_terminal(["BTC-USDT", "--all", "--json", "--timeout", "1"], ask_env(sim), typed=b"\x03")
    assert run.code == 130, run.terminal
    assert run.out, "nothing on stdout"
    assert json.loads(run.out)["results"] == []


@pytest.mark.parametrize(("stdin_tty", "stderr_tty"), [(True, False), (False, True)])
def test_no_question_unless_stdin_and_stderr_are_both_terminals(
    sim_factory: SimFactory, stdin_tty: bool, stderr_tty: bool
) -> None:
    sim = sim_with(sim_factory, open_book(5))
    run = run_on_terminal(
        ["BTC-USDT", "--all"], ask_env(sim), typed=None, stdin_tty=stdin_tty, stderr_tty=stderr_tty
    )
    assert run.code == 2
    said = run.terminal if stderr_tty else run.err
    assert said.replace("\r\n", "\n").splitlines() == [NEEDS_YES]
    assert run.out == ""
    assert_nothing_listed(sim)


def test_yes_on_a_terminal_asks_nothing(sim_factory: SimFactory) -> None:
    btc = open_book(5)
    sim = sim_with(sim_factory, btc)
    run = run_on_terminal(
        ["BTC-USDT", "--all", "--yes", "--json", "--timeout", "1"], ask_env(sim), typed=None
    )
    assert run.code == 0, run.terminal
    assert run.terminal == ""
    assert cancelled_ids(sim) == ids(btc)


# --------------------------------------------------------------------------- 4, 5. scripts


def test_without_a_terminal_all_needs_yes_and_lists_nothing(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(5))
    result = sweep(sim, "--json")
    assert result.code == 2
    assert err_lines(result) == [NEEDS_YES]
    assert "--yes" in error_json(result, 2)
    assert_nothing_listed(sim)


@pytest.mark.parametrize(
    ("args", "stdin", "named"),
    [
        (["--all", "--yes", "-o", "1"], None, "-o/--order-id"),
        (["--all", "--yes", "--order-id", "1,2"], None, "-o/--order-id"),
        (["--all", "--yes", "-c", "1"], None, "-c/--client-order-id"),
        (["--all", "--yes", "-f", "IDS"], None, "-f/--file"),
        (["--all", "--yes", "-f", "-"], "101\n", "-f/--file"),
        (["--all", "--yes", "--client-ids"], None, "--client-ids"),
        (["--all", "--yes"], "101\n102\n", "standard input"),
        (["--all"], "101\n", "standard input"),
        (["--side", "buy", "-o", "1"], None, "--side goes with --all"),
        (["--side", "sell"], "101\n", "--side goes with --all"),
        (["--yes", "-o", "1"], None, "--yes goes with --all"),
        (["--all", "--yes", "--side", "both"], None, "--side"),
    ],
    ids=[
        "-o",
        "--order-id",
        "-c",
        "-f",
        "-f -",
        "--client-ids",
        "piped",
        "piped-no-yes",
        "side-without-all",
        "side-piped",
        "yes-without-all",
        "bad-side",
    ],
)
def test_conflicts_are_exit_2_with_nothing_listed(
    sim_factory: SimFactory, tmp_path: Path, args: list[str], stdin: str | None, named: str
) -> None:
    sim = sim_with(sim_factory, open_book(5))
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("101\n")
    argv = ["BTC-USDT", *[str(ids_file) if a == "IDS" else a for a in args], "--json"]
    result = run_cli(argv, sim, stdin=stdin)
    assert result.code == 2, result.err
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(PROG + "error: ") and named in lines[0], lines
    error_json(result, 2)
    assert_nothing_listed(sim)


@pytest.mark.parametrize("stdin", ["devnull", "closed-empty-pipe", "open-empty-pipe"])
def test_all_with_nothing_on_stdin_works(sim_factory: SimFactory, stdin: str) -> None:
    """cron gives /dev/null; a wrapper may give an empty pipe, closed or still held open."""
    btc = open_book(3)
    sim = sim_with(sim_factory, btc)
    argv = [sys.executable, "-m", "htx_cancel", "BTC-USDT", "--all", "--yes", "--json", "--timeout", "1"]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL if stdin == "devnull" else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(sim.url),
    )
    try:
        # communicate() closes a pipe it has nothing to write to at once: an empty, closed pipe.
        out, err = proc.communicate(timeout=20) if stdin != "open-empty-pipe" else _wait_holding_stdin(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = Result(proc.returncode, out, err)
    assert result.code == 0, result.err
    assert result.err == ""
    assert [r[0] for r in rows(result)] == ids(btc)
    assert cancelled_ids(sim) == ids(btc)


def _wait_holding_stdin(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for the exit with stdin still open (nothing written), then close it."""
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    proc.wait(timeout=20)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdin.close()
    return out, err


def test_empty_book_is_an_empty_report_a_stderr_line_and_exit_0(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(3, "ETH-USDT", start=ETH_START))
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0
    assert err_lines(result) == [NOTHING_OPEN]
    document = result.json()
    assert document["results"] == []
    assert set(document["summary"].values()) == {0} and len(document["summary"]) == 7
    assert listings(sim) == [FIRST_PAGE]
    assert_nothing_sent(sim)  # no socket is opened for nothing

    table = sweep(sim, "--yes")
    assert table.code == 0
    assert err_lines(table) == [NOTHING_OPEN]
    assert re.fullmatch(r"no orders in \d+ ms\n", table.out), table.out
    quiet = sweep(sim, "--yes", "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    assert_nothing_sent(sim)


def test_empty_side_says_which_side(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, [o for o in open_book(6) if o.side == "buy"])
    result = sweep(sim, "--yes", "--side", "sell", "--json")
    assert result.code == 0
    assert err_lines(result) == [PROG + "no open orders on BTC-USDT (sell side): nothing to cancel"]
    assert result.json()["results"] == []
    assert_nothing_sent(sim)


# --------------------------------------------------------------------------- 7, 8. more rounds


def test_orders_placed_during_the_run_get_a_second_round(sim_factory: SimFactory) -> None:
    btc = open_book(3)
    late = [
        SimOrder("900", None, "open", side="sell"),
        SimOrder("901", "77", "open", side="buy"),
        SimOrder("902", None, "open", contract_code="ETH-USDT"),
    ]
    sim = sim_with(sim_factory, btc, add_after_first_listing=late)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0, result.err
    assert err_lines(result) == [PROG + "2 more open order(s) appeared during the run: one more round"]
    assert rows(result) == [
        *[(i, i, "cancelled", 200) for i in ids(btc)],
        ("900", None, "cancelled", 200),
        ("901", "77", "cancelled", 200),
    ]
    assert [c.order_ids for c in sim.cancels] == [tuple(ids(btc)), ("900", "901")]
    assert cancelled_ids(sim) == [*ids(btc), "900", "901"]
    # Listed, cancelled, listed again (900 and 901 new), cancelled, listed a last time.
    assert listings(sim) == [FIRST_PAGE] * 3
    rest = sim.rest_requests
    assert sim.cancels[0].t >= (rest[0].answered_at or 0) and sim.cancels[1].t >= (rest[1].answered_at or 0)
    assert rest[2].t >= (sim.cancels[1].answered_at or 0)
    assert sim.order("902").status == "open"
    assert result.json()["summary"]["cancelled"] == 5


def test_second_round_respects_the_side(sim_factory: SimFactory) -> None:
    btc = open_book(4)
    late = [SimOrder("900", None, "open", side="sell"), SimOrder("901", None, "open", side="buy")]
    sim = sim_with(sim_factory, btc, add_after_first_listing=late)
    result = sweep(sim, "--yes", "--side", "buy", "--json")
    assert result.code == 0, result.err
    buys = [o.order_id for o in btc if o.side == "buy"]
    assert [r[0] for r in rows(result)] == [*buys, "901"]
    assert cancelled_ids(sim) == [*buys, "901"]
    assert sim.order("900").status == "open"


def test_an_order_still_open_after_the_last_round_is_named_and_exit_1(sim_factory: SimFactory) -> None:
    """An order whose cancel the exchange refused (1030 for its request) is still listed on the
    second look: it was not new, so no second round; stderr names it, exit 1."""
    btc = open_book(3)
    stuck = SimOrder("114", None, "open", side="buy")
    sim = sim_with(sim_factory, [*btc, stuck], request_errors=[1030])
    result = sweep(sim, "--yes", "--json", "--batch-size", "1")
    assert result.code == 1
    assert err_lines(result) == [PROG + "still open on BTC-USDT after the last round: 114"]
    states = {r[0]: r[2] for r in rows(result)}  # listed in id order: 114's request goes first
    assert states == {"114": "rejected", **dict.fromkeys(ids(btc), "cancelled")}
    assert listings(sim) == [FIRST_PAGE, FIRST_PAGE]


def test_many_still_open_are_named_twenty_then_counted(sim_factory: SimFactory) -> None:
    stuck = [SimOrder(str(n), None, "open", side="buy") for n in range(1001, 1026)]
    sim = sim_with(sim_factory, stuck, request_errors=[1030] * 3)
    result = sweep(sim, "--yes", "--output", "csv")
    assert result.code == 1
    named = ", ".join(str(n) for n in range(1001, 1021))
    assert err_lines(result) == [PROG + f"still open on BTC-USDT after the last round: {named} and 5 more"]
    assert len(result.out.splitlines()) == 26


def test_still_open_is_named_under_quiet_too(sim_factory: SimFactory) -> None:
    """An order whose cancel was refused stays open: named on stderr even with -q (SPEC 8.5)."""
    sim = sim_with(sim_factory, [SimOrder("114", None, "open", side="buy")], request_errors=[1030])
    result = sweep(sim, "--yes", "-q")
    assert result.code == 1
    assert result.out == ""
    assert err_lines(result) == [PROG + "still open on BTC-USDT after the last round: 114"]


def test_a_cancel_in_progress_still_listed_is_not_called_still_open(sim_factory: SimFactory) -> None:
    """1062 is done (cancel under way); the exchange may list the order a moment longer."""
    sim = sim_with(sim_factory, [SimOrder("113", None, "cancelling", side="buy")], push_delay=60)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0
    assert [r["state"] for r in result.json()["results"]] == ["cancelling"]
    assert "still open" not in result.err


def test_an_order_added_after_every_listing_is_not_chased_for_ever(sim_factory: SimFactory) -> None:
    """The simulator can add orders after the first listing only (`add_after_first_listing`);
    this adds one after the second look too, by hand, between the rounds' REST calls: the run
    stops after its one extra round and names what is left."""
    btc = open_book(2)
    sim = sim_with(sim_factory, btc, add_after_first_listing=[SimOrder("900", None, "open")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", "BTC-USDT", "--all", "--yes", "--json", "--timeout", "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(sim.url),
    )
    try:
        deadline = time.monotonic() + 20
        while len(sim.rest_requests) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
        sim.add_orders([SimOrder("901", None, "open")])  # placed during the second round
        added_at = time.monotonic()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = Result(proc.returncode, out, err)
    assert_no_leak(result, sim)
    assert_no_rest_leak(result, sim)
    rest = sim.rest_requests
    if len(rest) < 3 or added_at > rest[2].t:
        pytest.skip("901 was placed after the last look began (a slow machine): nothing to see")
    assert result.code == 1
    assert [r[0] for r in rows(result)] == [*ids(btc), "900"]
    assert err_lines(result) == [
        PROG + "1 more open order(s) appeared during the run: one more round",
        PROG + "still open on BTC-USDT after the last round: 901",
    ]
    assert sim.order("901").status == "open"
    assert len(listings(sim)) == 3


# --------------------------------------------------------------------------- 9. listing failures


def _entry(n: int, **changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": str(n),
        "order_id": str(n),
        "client_order_id": None,
        "contract_code": "BTC-USDT",
        "side": "buy",
        "volume": "1",
        "trade_volume": "0",
        "state": "new",
    }
    entry.update(changes)
    return entry


def _page(entries: list[dict[str, Any]]) -> bytes:
    return json.dumps({"code": 200, "data": entries, "message": "Success"}).encode()


HUGE = _page([_entry(10**9 + n) for n in range(30_000)])
"""About 4.9 MB: over the REST client's 4 MiB cap (rest.MAX_BODY)."""


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ({"list_error": 1030}, "the open-orders listing answered 1030 "),
        ({"list_error": 1032}, "the open-orders listing answered 1032 "),
        ({"list_http_status": 500}, "HTTP 500 Internal Server Error"),
        ({"list_http_status": 502}, "HTTP 502 Bad Gateway"),
        ({"list_body": b"\x00\xffnot json {"}, "the answer is not JSON"),
        ({"list_body": b"[]"}, "the answer is not a JSON object"),
        ({"list_body": b'{"code": 200, "data": {"orders": []}}'}, "without a list of orders"),
        ({"list_body": b'{"code": 200}'}, "without a list of orders"),
        ({"list_body": b'{"data": []}'}, "answered without a code"),
        (
            {
                "list_body": _page(
                    [_entry(BIG_ID_START, id=float(BIG_ID_START), order_id=float(BIG_ID_START))]
                )
            },
            "an entry that is not an order",
        ),
        ({"list_body": b'{"code":200,"data":[{"id":5.0,"order_id":5.0,"side":"buy"}]}'}, "not an order"),
        ({"list_body": _page([_entry(5, id=True, order_id=[5])])}, "not an order"),
        ({"list_body": _page([_entry(5, order_id="5x", id="5x")])}, "not an order"),
        ({"list_body": _page([_entry(5, order_id="-5", id="-5")])}, "not an order"),
        ({"list_body": b'{"code":200,"data":["101"]}'}, "not an order"),
        ({"list_body": HUGE}, f"over the {4 * 1024 * 1024} allowed"),
        ({"list_body": _page([_entry(10**6 + n) for n in range(100)])}, "does not move on to a next page"),
    ],
    ids=[
        "code-1030",
        "code-1032",
        "http-500",
        "http-502",
        "garbage",
        "top-level-list",
        "data-object",
        "no-data",
        "no-code",
        "float-id",
        "small-float-id",
        "wrong-types",
        "id-with-letters",
        "negative-id",
        "entry-a-string",
        "huge",
        "page-repeats-forever",
    ],
)
def test_listing_failure_before_any_cancel_is_one_line_and_exit_4(
    sim_factory: SimFactory, faults: dict[str, Any], reason: str
) -> None:
    sim = sim_with(sim_factory, open_book(5), **faults)
    started = time.monotonic()
    result = sweep(sim, "--yes", "--json")
    assert time.monotonic() - started < 10
    assert result.code == 4, result.err
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(LISTING_FAILED) and reason in lines[0], lines
    assert reason in error_json(result, 4)
    assert sim.rest_requests, "nothing was listed"
    assert_nothing_sent(sim)
    assert all(o.status == "open" for o in sim.orders())


class _FailFromListing(Faults):
    """Answers listings normally until the `nth` (1-based), then with `code` or HTTP `status`:
    the simulator has no fault for a listing that fails part way, so this reads the two fields
    as the simulator does, live, once per listing request."""

    def __init__(self, nth: int, *, code: int | None = None, status: int | None = None) -> None:
        self._nth, self._code, self._status, self._status_reads, self._code_reads = nth, code, status, 0, 0
        super().__init__(ping_interval=0)

    @property
    def list_http_status(self) -> int | None:
        self._status_reads += 1
        return self._status if self._status_reads >= self._nth else None

    @list_http_status.setter
    def list_http_status(self, value: int | None) -> None:
        pass

    @property
    def list_error(self) -> int | None:
        self._code_reads += 1
        return self._code if self._code_reads >= self._nth else None

    @list_error.setter
    def list_error(self, value: int | None) -> None:
        pass


@pytest.mark.parametrize(
    ("fault", "reason"),
    [({"code": 1032}, "answered 1032 "), ({"status": 502}, "HTTP 502 Bad Gateway")],
    ids=["code-1032", "http-502"],
)
def test_a_second_page_that_fails_cancels_nothing(
    sim_factory: SimFactory, fault: dict[str, int], reason: str
) -> None:
    """No cancel on a partial listing: the first 100 are known, the rest are not."""
    sim = sim_factory(open_book(130), _FailFromListing(2, **fault), credentials=CREDENTIALS)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 4, result.err
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(LISTING_FAILED) and reason in lines[0], lines
    assert len(sim.rest_requests) == 2
    assert sim.rest_requests[1].params["from"] == str(BIG_ID_START + 99)
    assert_nothing_sent(sim)


def test_a_failing_second_look_keeps_the_report_and_is_exit_4(sim_factory: SimFactory) -> None:
    """After cancels, a listing that fails cannot take back what was done: the rows are reported,
    stderr says newcomers may still be open, and the exit code says the outcome is not known."""
    btc = open_book(3)
    sim = sim_factory(btc, _FailFromListing(2, status=500), credentials=CREDENTIALS)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 4
    assert rows(result) == [(i, i, "cancelled", 200) for i in ids(btc)]
    lines = err_lines(result)
    # The reason is said (today twice: sweep's note and the CLI's exit-4 line; see the report).
    assert lines and all(
        line.startswith(PROG + "cannot list the open orders of BTC-USDT: ") for line in lines
    )
    assert all(
        "HTTP 500 Internal Server Error; orders placed during the run may still be open" in x for x in lines
    )
    assert len(sim.rest_requests) == 2
    assert cancelled_ids(sim) == ids(btc)


def test_listing_is_bounded_by_the_timeout(sim_factory: SimFactory) -> None:
    """The REST calls share the trade socket's --timeout: a slow answer is exit 4, in time."""
    sim = sim_with(sim_factory, open_book(3), latency=0.4)
    started = time.monotonic()
    result = sweep(sim, "--yes", timeout="0.2")
    took = time.monotonic() - started
    sim.faults.latency = 0
    assert result.code == 4
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(LISTING_FAILED), lines
    assert lines[0].endswith(f"{OPENS_PATH}: timed out after 0.2 s (waiting for the answer)"), lines
    assert took < 5
    assert_nothing_sent(sim)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_sim(sim_factory: SimFactory, ca: trustme.CA) -> Simulator:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return sim_factory(open_book(3), Faults(ping_interval=0), credentials=CREDENTIALS, ssl_context=context)


def test_listing_over_tls_with_an_untrusted_certificate_is_exit_4(
    sim_factory: SimFactory, ca: trustme.CA
) -> None:
    sim = _tls_sim(sim_factory, ca)
    result = sweep(sim, "--yes")
    assert result.code == 4
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(LISTING_FAILED), lines
    assert f"GET https://localhost:{urlsplit(sim.url).port}{OPENS_PATH}: " in lines[0]
    assert "TLS certificate verification failed" in lines[0]
    assert sim.rest_requests == [] and sim.connections == 0


def test_listing_over_tls_trusts_ssl_cert_file_like_the_socket(
    sim_factory: SimFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    sim = _tls_sim(sim_factory, ca)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    argv = ["BTC-USDT", "--all", "--yes", "--json", "--timeout", "1"]
    result = run_cli(argv, sim, env=base_env(sim.url, SSL_CERT_FILE=str(bundle)))
    assert_no_rest_leak(result, sim)
    assert result.code == 0, result.err
    assert [r[0] for r in rows(result)] == ids(open_book(3))
    assert len(sim.rest_requests) == 2 and sim.connections == 1


@pytest.mark.parametrize("why", ["wrong-secret", "clock-10-min-behind"])
def test_listing_refused_for_its_credentials_is_exit_3(sim_factory: SimFactory, why: str) -> None:
    if why == "wrong-secret":
        sim = sim_factory(open_book(3), Faults(ping_interval=0), credentials={ACCESS_KEY: "another-secret"})
    else:
        sim = sim_factory(open_book(3), Faults(ping_interval=0, clock_skew=600), credentials=CREDENTIALS)
    result = sweep(sim, "--yes")
    assert len(sim.rest_requests) == 1 and sim.cancels == []
    assert result.code == 3, result.err
    if why != "wrong-secret":
        assert "clock" in result.err


def test_the_listed_ids_get_the_engines_retries(sim_factory: SimFactory) -> None:
    """Same engine as any IDs: a connection dropped after the first request was applied is
    reconnected, the unanswered IDs resent (the applied ten answer 1071), nothing is lost."""
    btc = open_book(25)
    sim = sim_with(sim_factory, btc, drop_after_cancel=1)
    result = sweep(sim, "--yes", "--json")
    assert result.code == 0, result.err
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(PROG + "connection lost"), lines
    got = [(r["order_id"], r["state"]) for r in result.json()["results"]]
    assert got == [(i, "already_cancelled") for i in ids(btc)[:10]] + [
        (i, "cancelled") for i in ids(btc)[10:]
    ]
    assert sim.connections == 2
    assert sorted(set(cancelled_ids(sim))) == ids(btc)
    assert all(o.status == "cancelled" for o in sim.orders())
    assert listings(sim) == [FIRST_PAGE, FIRST_PAGE]


# --------------------------------------------------------------------------- 10. --max-orders


def test_max_orders_below_the_listed_count_is_exit_2_with_nothing_sent(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(12))
    result = sweep(sim, "--yes", "--max-orders", "11", "--json")
    assert result.code == 2
    message = PROG + "error: 12 open orders listed, more than --max-orders 11; nothing sent"
    assert err_lines(result) == [message]
    assert error_json(result, 2) == message.removeprefix(PROG + "error: ")
    assert listings(sim) == [FIRST_PAGE]
    assert_nothing_sent(sim)


def test_max_orders_at_the_listed_count_goes_ahead(sim_factory: SimFactory) -> None:
    btc = open_book(12)
    sim = sim_with(sim_factory, btc)
    result = sweep(sim, "--yes", "--max-orders", "12", "--json")
    assert result.code == 0, result.err
    assert cancelled_ids(sim) == ids(btc)


def test_max_orders_counts_only_the_side_asked_for(sim_factory: SimFactory) -> None:
    btc = open_book(12)
    sim = sim_with(sim_factory, btc)
    result = sweep(sim, "--yes", "--side", "buy", "--max-orders", "6", "-q")
    assert result.code == 0, result.err
    assert cancelled_ids(sim) == [o.order_id for o in btc if o.side == "buy"]


def test_max_orders_is_checked_before_the_question(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(12))
    run = run_on_terminal(["BTC-USDT", "--all", "--max-orders", "3"], ask_env(sim), typed=None)
    assert run.code == 2
    assert terminal_lines(run) == [
        PROG + "error: 12 open orders listed, more than --max-orders 3; nothing sent"
    ]
    assert_nothing_sent(sim)


# --------------------------------------------------------------------------- 11. --dry-run


def _plan(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_dry_run_lists_prints_the_frames_and_cancels_nothing(sim_factory: SimFactory) -> None:
    btc = open_book(23)
    sim = sim_with(sim_factory, btc + open_book(2, "ETH-USDT", start=ETH_START))
    result = sweep(sim, "--dry-run")  # no --yes, no terminal: a dry run asks nothing
    assert result.code == 0, result.err
    assert err_lines(result) == [PROG + "23 open order(s) listed on BTC-USDT; a dry run cancels nothing"]
    frames = _plan(result.out)
    assert frames[0]["op"] == "auth" and frames[0]["Signature"] == "<redacted>"
    cancels = frames[1:]
    assert [f["op"] for f in cancels] == ["cancel_batch_orders"] * 3
    assert [len(f["data"]["order_id"]) for f in cancels] == [10, 10, 3]
    assert [i for f in cancels for i in f["data"]["order_id"]] == ids(btc)
    assert all(
        f["data"]["contract_code"] == "BTC-USDT" and "client_order_id" not in f["data"] for f in cancels
    )
    assert listings(sim) == [FIRST_PAGE]  # the one read-only request; no second look
    assert_nothing_sent(sim)
    assert all(o.status == "open" for o in sim.orders())


def test_dry_run_with_side_and_batch_size(sim_factory: SimFactory) -> None:
    btc = open_book(10)
    sim = sim_with(sim_factory, btc)
    result = sweep(sim, "--dry-run", "--side", "sell", "--batch-size", "2")
    assert result.code == 0, result.err
    sells = [o.order_id for o in btc if o.side == "sell"]
    assert [f["data"]["order_id"] for f in _plan(result.out)[1:]] == [
        sells[i : i + 2] for i in range(0, 5, 2)
    ]
    assert_nothing_sent(sim)


def test_dry_run_on_a_terminal_asks_nothing(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(5))
    run = run_on_terminal(["BTC-USDT", "--all", "--dry-run"], ask_env(sim), typed=None)
    assert run.code == 0, run.terminal
    assert terminal_lines(run) == [PROG + "5 open order(s) listed on BTC-USDT; a dry run cancels nothing"]
    assert len(_plan(run.out)) == 2
    assert_nothing_sent(sim)


def test_dry_run_listing_failure_is_exit_4(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(5), list_http_status=503)
    result = sweep(sim, "--dry-run")
    assert result.code == 4
    lines = err_lines(result)
    assert len(lines) == 1 and lines[0].startswith(LISTING_FAILED) and "HTTP 503" in lines[0]
    assert result.out == ""
    assert_nothing_sent(sim)


# --------------------------------------------------------------------------- 12. --confirm


def test_all_with_confirm_confirms_every_row(sim_factory: SimFactory) -> None:
    btc = open_book(4)
    sim = sim_with(sim_factory, btc)
    result = sweep(sim, "--yes", "--confirm", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    fields = ("order_id", "state", "code", "confirmed", "final_state", "filled_volume", "volume")
    got = [tuple(r[f] for f in fields) for r in result.json()["results"]]
    assert got == [(i, "cancelled", 200, True, "canceled", "0", "1") for i in ids(btc)]
    assert sim.notify_connections == 1
    assert [(s.op, s.topic, s.contract_code, s.err_code) for s in sim.subscriptions] == [
        ("sub", "orders", "BTC-USDT", 0)
    ]
    assert sorted(p.order_id for p in sim.pushes) == ids(btc)
    assert listings(sim) == [FIRST_PAGE, FIRST_PAGE]  # pushes came: no order query


def test_all_with_confirm_and_no_pushes_queries_each_order(sim_factory: SimFactory) -> None:
    btc = open_book(3)
    sim = sim_with(sim_factory, btc, no_pushes=True)
    result = sweep(sim, "--yes", "--confirm", "--json", timeout="0.3")
    assert result.code == 0, result.err
    assert [(r["order_id"], r["confirmed"], r["final_state"]) for r in result.json()["results"]] == [
        (i, True, "canceled") for i in ids(btc)
    ]
    paths = [r.path for r in sim.rest_requests]
    assert paths[0] == OPENS_PATH and paths[-1] == OPENS_PATH
    assert sorted(r.params["order_id"] for r in sim.rest_requests[1:-1]) == ids(btc)


# --------------------------------------------------------------------------- 13. leaks, -v, log


def test_verbose_and_log_show_the_listing_redacted_and_leak_nothing(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    btc = open_book(3)
    sim = sim_with(sim_factory, btc, add_after_first_listing=[SimOrder("900", None, "open")])
    log = tmp_path / "audit.jsonl"
    result = sweep(sim, "--yes", "-v", log=log)  # sweep() checks every REST signature, every form
    assert result.code == 0, result.err
    assert len(sim.rest_requests) == 3
    rest_lines = [line for line in err_lines(result) if " rest >> " in line]
    assert len(rest_lines) == 3
    for line in rest_lines:
        assert re.search(r"GET http://127\.0\.0\.1:\d+/v5/trade/order/opens\?", line), line
        assert "AccessKeyId=leak...0001" in line and line.endswith("&Signature=<redacted>"), line
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    rest_logged = [e for e in logged if e.get("channel") == "rest" and e["direction"] == "sent"]
    assert len(rest_logged) == 3
    assert all(e["frame"].endswith("&Signature=<redacted>") for e in rest_logged)
    answers = [e for e in logged if e.get("channel") == "rest" and e["direction"] == "received"]
    assert len(answers) == 3 and all(json.loads(e["frame"])["code"] == 200 for e in answers)
    # The raw queries the simulator saw did carry real signatures (so the check above means something).
    assert all("Signature=" in r.query and "redacted" not in r.query for r in sim.rest_requests)


def test_verbose_timings_of_an_all_run_never_go_back(sim_factory: SimFactory) -> None:
    sim = sim_with(sim_factory, open_book(3), add_after_first_listing=[SimOrder("900", None, "open")])
    result = sweep(sim, "--yes", "-v", "-q")
    assert result.code == 0, result.err
    times = [float(m.group(1)) for m in re.finditer(r"^\[\s*([\d.]+) ms\]", result.err, re.MULTILINE)]
    assert len(times) >= 9
    assert times == sorted(times), times


# --------------------------------------------------------------------------- 14. --simulate


DEMO_BTC_OPEN = [str(n) for n in range(101, 114)]


def test_simulate_all_on_a_terminal_asks_and_cancels_the_demo_books_open_orders() -> None:
    run = run_on_terminal(["BTC-USDT", "--all", "--simulate", "--json"], base_env(), typed=b"y\n")
    lines = terminal_lines(run)
    assert re.fullmatch(
        r"htx-cancel: SIMULATED: cancelling against the built-in simulator at ws://127\.0\.0\.1:\d+/linear-swap-trade",
        lines[0],
    ), lines
    assert lines[1] == "Cancel 13 open orders on BTC-USDT (7 buy, 6 sell)? [y/N] y"
    document = json.loads(run.out)
    assert document["simulated"] is True
    got = [(r["order_id"], r["state"], r["code"]) for r in document["results"]]
    assert got == [(i, "cancelled", 200) for i in DEMO_BTC_OPEN[:-1]] + [("113", "cancelling", 1062)]
    # 113's cancel is under way (1062): the second look may still list it, which is not "open".
    assert run.code == 0 and lines[2:] == [], run.terminal


def test_simulate_all_from_a_script_needs_yes_and_lists_nothing() -> None:
    result = run_cli(["BTC-USDT", "--all", "--simulate"], env=base_env())
    assert result.code == 2
    assert err_lines(result) == [NEEDS_YES]  # no "SIMULATED" line: the simulator never started
    assert result.out == ""


def test_simulate_all_with_yes_from_a_script(tmp_path: Path) -> None:
    result = run_cli(["BTC-USDT", "--all", "--simulate", "--yes", "--side", "sell", "--json"], env=base_env())
    assert result.code == 0, result.err
    assert [r["order_id"] for r in result.json()["results"]] == [n for n in DEMO_BTC_OPEN if int(n) % 2 == 0]
    assert err_lines(result)[0].startswith(PROG + "SIMULATED: ")


def _interrupt_the_listing(sim_factory: SimFactory) -> tuple[Result, float, Simulator]:
    """Ctrl-C (SIGINT) while the listing waits on a slow exchange: (result, seconds to the exit)."""
    # 0.5 s each way: the listing is surely in flight when the signal comes. (The simulator's
    # stop() waits out a REST answer's added latency, so more would only slow the teardown.)
    sim = sim_with(sim_factory, open_book(3), latency=0.5)
    argv = ["BTC-USDT", "--all", "--yes", "--json", "-v", "--timeout", "30"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(sim.url),
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # -v shows the listing request as it is written
        assert " rest >> GET " in first, first
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sim.faults.latency = 0
    return Result(proc.returncode, out, first + err), took, sim


def test_interrupt_during_the_listing_is_exit_130_at_once(sim_factory: SimFactory) -> None:
    result, took, sim = _interrupt_the_listing(sim_factory)
    assert took < 0.5, "the listing's answer came before the exit"
    assert result.code == 130, result.err
    assert "Traceback" not in result.err
    assert_nothing_sent(sim)
    assert_no_rest_leak(result, sim)


def test_interrupt_during_the_listing_still_prints_the_empty_report(sim_factory: SimFactory) -> None:
    result, _, _ = _interrupt_the_listing(sim_factory)
    assert result.code == 130
    assert result.out, "nothing on stdout"
    assert result.json()["results"] == []


def test_a_failed_listing_still_ends_the_audit_trail(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_with(sim_factory, open_book(3), list_http_status=500)
    log = tmp_path / "audit.jsonl"
    result = sweep(sim, "--yes", log=log)
    assert result.code == 4
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["event"] == "start" and records[0]["all_open"] is True and records[0]["ids"] is None
    assert records[-1]["event"] == "end" and records[-1]["exit_code"] == 4
    assert "HTTP 500 Internal Server Error" in records[-1]["error"]
