"""One exception hierarchy, each class carrying the exit code SPEC section 5 gives it."""

from __future__ import annotations

import enum

from htx_cancel.models import DONE_STATES, Report, State


class ExitCode(enum.IntEnum):
    """SPEC section 5: what a script can learn from `$?` alone."""

    OK = 0
    NOT_DONE = 1
    USAGE = 2
    CREDENTIALS = 3
    UNKNOWN = 4
    INTERRUPTED = 130


class HtxCancelError(Exception):
    """A failure meant for the user: the message is a finished sentence, the class knows its exit code."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(HtxCancelError):
    """Bad options or input: nothing was sent."""

    exit_code = ExitCode.USAGE


class CredentialsError(HtxCancelError):
    """Credentials missing, unreadable, unsafe, or refused by the exchange before any cancel left."""

    exit_code = ExitCode.CREDENTIALS


class ListingError(HtxCancelError):
    """--all could not read the open orders before anything was cancelled (SPEC section 8.7)."""

    exit_code = ExitCode.UNKNOWN


def exit_code_for(report: Report) -> ExitCode:
    """Derive the exit code from the report alone, so the code and the printed rows cannot disagree.

    An accepted cancel whose final state could not be confirmed (`--confirm`) is as unknown as an
    unanswered one: the order may have filled (SPEC section 5). With `--all`, an order still open
    after the last round makes it at least 1, and a re-listing that failed makes it 4 (what is
    open is not known)."""
    if report.interrupted:
        return ExitCode.INTERRUPTED
    states = {result.state for result in report.results}
    unconfirmed = any(result.confirmed is False for result in report.results)
    if State.UNKNOWN in states or unconfirmed or report.recheck_failed:
        return ExitCode.UNKNOWN
    if states <= DONE_STATES and not report.still_open:
        return ExitCode.OK
    return ExitCode.NOT_DONE
