"""Turn a Report (and run events) into text: table, json, jsonl, csv, verbose lines, progress.

Rich is imported inside the functions that draw with it, so scripts asking for JSON never load
it and the cancel frames leave before any rendering code is imported.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import IO, Any, Final

from htx_cancel.models import (
    FrameEvent,
    NoteEvent,
    OrderResult,
    ProgressEvent,
    Report,
    State,
)

FIELDS: Final = ("order_id", "client_order_id", "state", "code", "message", "attempts")

STATE_STYLE: Final = {
    State.CANCELLED: "green",
    State.ALREADY_CANCELLED: "green",
    State.CANCELLING: "cyan",
    State.NOT_FOUND: "yellow",
    State.FILLED: "magenta",
    State.REJECTED: "red",
    State.UNKNOWN: "bold red",
}


def result_dict(result: OrderResult) -> dict[str, Any]:
    """The per-ID object of SPEC section 4, shared by json, jsonl and csv."""
    return {
        "order_id": result.order_id,
        "client_order_id": result.client_order_id,
        "state": result.state.value,
        "code": result.code,
        "message": result.message,
        "attempts": result.attempts,
    }


def report_document(report: Report) -> dict[str, Any]:
    """The --json document; its keys are pinned by a test because scripts depend on them."""
    return {
        "contract_code": report.contract_code,
        "url": report.url,
        "simulated": report.simulated,
        "elapsed_ms": report.elapsed_ms,
        "duplicates_dropped": report.duplicates_dropped,
        "summary": report.summary(),
        "results": [result_dict(r) for r in report.results],
    }


# JSON is written ASCII-escaped ("\u6210\u529f" for a localised message): still the same JSON
# to jq, and it cannot fail on a terminal or pipe whose encoding is not UTF-8.


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2) + "\n"


def render_jsonl(report: Report) -> str:
    return "".join(json.dumps(result_dict(r)) + "\n" for r in report.results)


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in report.results:
        writer.writerow(result_dict(result))
    return buffer.getvalue()


def error_json(exit_code: int, message: str) -> str:
    """Exits 2 and 3 still give `jq` a document to read."""
    return json.dumps({"error": {"exit_code": exit_code, "message": message}}) + "\n"


def summary_line(report: Report) -> str:
    """Counts of the states that occurred, in SPEC order, and the elapsed time."""
    counts = ", ".join(f"{n} {state}" for state, n in report.summary().items() if n)
    prefix = "SIMULATED: " if report.simulated else ""
    suffix = " (interrupted)" if report.interrupted else ""
    return f"{prefix}{counts or 'no orders'} in {report.elapsed_ms} ms{suffix}"


def render_table(report: Report, out: IO[str], no_color: bool) -> None:
    """A Rich table on a terminal; plain aligned text with no colour in a pipe or with NO_COLOR."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, no_color=no_color, highlight=False, soft_wrap=False, emoji=False)
    if not console.is_terminal:
        console = Console(file=out, no_color=True, highlight=False, width=250, color_system=None, emoji=False)
    table = Table(
        title="SIMULATED" if report.simulated else None,
        box=box.SIMPLE_HEAD,
        title_style="bold yellow",
    )
    for name in ("Order ID", "Client order ID", "State", "Code", "Message"):
        table.add_column(name, no_wrap=name != "Message", overflow="fold")
    for r in report.results:
        # Text, not markup: an exchange message like "bad [/param]" must print as it came.
        table.add_row(
            Text(r.order_id or "-"),
            Text(r.client_order_id or "-"),
            Text(r.state.value, style=STATE_STYLE[r.state]),
            Text("" if r.code is None else str(r.code)),
            Text(r.message or ""),
        )
    console.print(table)
    console.print(summary_line(report), markup=False)


def frame_line(event: FrameEvent) -> str:
    """One -v line: elapsed time, direction arrow, the redacted frame."""
    arrow = ">>" if event.direction == "sent" else "<<"
    return f"[{event.elapsed * 1000:8.1f} ms] {arrow} {event.text}"


def audit_line(event: FrameEvent | NoteEvent) -> str:
    """One --log-file JSON line: UTC wall time so lines from several runs sort and join."""
    if isinstance(event, FrameEvent):
        stamp = datetime.fromtimestamp(event.wall_time, timezone.utc)
        body: dict[str, Any] = {"direction": event.direction, "frame": event.text}
    else:
        stamp = datetime.now(timezone.utc)
        body = {"note": event.text}
    return json.dumps({"ts": stamp.isoformat(timespec="milliseconds"), **body}, ensure_ascii=False)


class ProgressDisplay:
    """Requests sent/answered and IDs resolved, drawn on stderr only while more than one request
    is in flight; Rich loads on the first event, after the first cancel frame has left."""

    def __init__(self, err: IO[str]) -> None:
        self._err = err
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def update(self, event: ProgressEvent) -> None:
        if self._progress is None:
            if event.requests_sent - event.requests_answered < 2:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description:>18}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(file=self._err),
                transient=True,
            )
            self._progress.start()
            self._tasks = {
                "sent": self._progress.add_task("requests sent", total=None),
                "answered": self._progress.add_task("requests answered", total=None),
                "resolved": self._progress.add_task("IDs resolved", total=event.total),
            }
        planned = event.requests_sent + event.requests_queued
        self._progress.update(self._tasks["sent"], completed=event.requests_sent, total=planned)
        self._progress.update(
            self._tasks["answered"], completed=event.requests_answered, total=event.requests_sent
        )
        self._progress.update(self._tasks["resolved"], completed=event.resolved)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
