"""Exit codes are a contract with every script that runs us: SPEC section 5, row by row."""

from __future__ import annotations

import pytest

from htx_cancel.errors import ExitCode, exit_code_for
from htx_cancel.models import OrderResult, Report, State


def report(*states: State, interrupted: bool = False) -> Report:
    results = tuple(OrderResult(str(n), None, s, None, None, 1) for n, s in enumerate(states, 1))
    return Report("BTC-USDT", "wss://x/y", False, 1, 0, results, interrupted=interrupted)


def test_exit_code_values_are_the_spec_table() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130]


@pytest.mark.parametrize(
    ("states", "code"),
    [
        ((State.CANCELLED, State.ALREADY_CANCELLED, State.CANCELLING), ExitCode.OK),
        ((State.CANCELLED, State.NOT_FOUND), ExitCode.NOT_DONE),
        ((State.FILLED,), ExitCode.NOT_DONE),
        ((State.REJECTED, State.CANCELLED), ExitCode.NOT_DONE),
        ((State.REJECTED, State.UNKNOWN), ExitCode.UNKNOWN),
        ((State.CANCELLED, State.UNKNOWN), ExitCode.UNKNOWN),
    ],
)
def test_exit_code_for_report(states: tuple[State, ...], code: ExitCode) -> None:
    assert exit_code_for(report(*states)) is code


def test_interrupted_wins() -> None:
    assert exit_code_for(report(State.CANCELLED, State.UNKNOWN, interrupted=True)) is ExitCode.INTERRUPTED


def test_summary_has_all_seven_states() -> None:
    assert report(State.FILLED).summary() == {
        "cancelled": 0,
        "already_cancelled": 0,
        "cancelling": 0,
        "not_found": 0,
        "filled": 1,
        "rejected": 0,
        "unknown": 0,
    }


def confirmed_report(*rows: tuple[State, bool | None]) -> Report:
    results = tuple(
        OrderResult(str(n), None, s, 200, None, 1, confirmed=c) for n, (s, c) in enumerate(rows, 1)
    )
    return Report("BTC-USDT", "wss://x/y", False, 1, 0, results, confirm=True)


@pytest.mark.parametrize(
    ("rows", "code"),
    [
        (((State.CANCELLED, True), (State.ALREADY_CANCELLED, None)), ExitCode.OK),
        (((State.CANCELLED, True), (State.FILLED, True)), ExitCode.NOT_DONE),  # filled as it was cancelled
        (((State.CANCELLED, False), (State.CANCELLED, True)), ExitCode.UNKNOWN),  # no final state
        (((State.CANCELLING, False), (State.NOT_FOUND, None)), ExitCode.UNKNOWN),
    ],
)
def test_an_unconfirmed_accepted_cancel_is_exit_4(
    rows: tuple[tuple[State, bool | None], ...], code: ExitCode
) -> None:
    assert exit_code_for(confirmed_report(*rows)) is code
