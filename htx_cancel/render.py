"""Turn a Report (and run events) into text: table, json, jsonl, csv, verbose lines, progress.

Renderers only format: every decision (states, codes, confirmation) was made before a report
reaches them. They write to a stream a chunk at a time, so a million-row report costs a small
constant per row on top of the report itself, never one giant string.

The table is drawn by our own writer, not Rich: Rich measures every cell and took ~40 s for
100,000 rows in a pipe, its import alone costs ~22 ms at the end of every run, and its folding
cut IDs and codes on narrow terminals. Rich is imported only by the progress display, inside
the function that draws it, so the cancel path never loads it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from typing import IO, Any, Final, NamedTuple

from htx_cancel.confirm import UNCONFIRMED
from htx_cancel.models import (
    FrameEvent,
    NoteEvent,
    OrderResult,
    ProgressEvent,
    Report,
    State,
)

FIELDS: Final = (
    "order_id",
    "client_order_id",
    "state",
    "code",
    "message",
    "attempts",
    "confirmed",
    "final_state",
    "filled_volume",
    "volume",
)

# SGR parameters: the colour of each state on a terminal.
STATE_COLOUR: Final = {
    State.CANCELLED: "32",
    State.ALREADY_CANCELLED: "32",
    State.CANCELLING: "36",
    State.NOT_FOUND: "33",
    State.FILLED: "35",
    State.REJECTED: "31",
    State.UNKNOWN: "1;31",
}
CONFIRMED_MARK: Final = {True: "yes", False: "no", None: ""}
CONFIRMED_COLOUR: Final = {True: "32", False: "1;31", None: None}
PARTIAL_FILL_COLOUR: Final = "33"
HEADERS: Final = ("Order ID", "Client order ID", "State", "Code")
CONFIRM_HEADERS: Final = ("Filled", "Confirmed")
GAP: Final = "  "
BLOCK_INDENT: Final = "  "
MIN_MESSAGE: Final = 20
"""Below this many columns for the message, a terminal gets one block per order instead."""
CHUNK: Final = 512
"""Rows per write: one write per row is slow on a pty, one write per report is one giant string."""
DEFAULT_WIDTH: Final = 80

_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Exchange text made safe to show on a terminal, one line, exactly as long as it looks.

    Every character Python does not call printable (C0/C1 controls, DEL, format characters such
    as the bidirectional overrides and isolates, line and paragraph separators, unassigned and
    private-use code points, spaces other than U+0020) is shown as a Python-style escape: an
    exchange message cannot clear the screen, move the cursor, reorder the line or forge a row.
    Backslashes are left as they came, so ordinary messages read unchanged."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    n = ord(ch)
    if n <= 0xFF:
        return f"\\x{n:02x}"
    if n <= 0xFFFF:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def cell_width(text: str) -> int:
    """Terminal columns `text` takes (CJK counts two), for aligning printable() text."""
    return len(text) if text.isascii() else _wide_width(text)


@lru_cache(maxsize=4096)
def _wide_width(text: str) -> int:
    width = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _values(result: OrderResult) -> tuple[Any, ...]:
    return (
        result.order_id,
        result.client_order_id,
        result.state.value,
        result.code,
        result.message,
        result.attempts,
        result.confirmed,
        result.final_state,
        result.filled_volume,
        result.volume,
    )


def result_dict(result: OrderResult) -> dict[str, Any]:
    """The per-ID object of SPEC section 4, shared by json, jsonl and csv."""
    return dict(zip(FIELDS, _values(result), strict=True))


def document_head(report: Report) -> dict[str, Any]:
    """The --json document without its results; its keys are pinned by a test because scripts
    depend on them."""
    return {
        "contract_code": report.contract_code,
        "url": report.url,
        "simulated": report.simulated,
        "elapsed_ms": report.elapsed_ms,
        "duplicates_dropped": report.duplicates_dropped,
        "summary": report.summary(),
    }


def _write_chunked(out: IO[str], pieces: Iterable[str]) -> None:
    """Write CHUNK pieces at a time: few writes, and memory that does not grow with the report."""
    it = iter(pieces)
    while batch := "".join(islice(it, CHUNK)):
        out.write(batch)


# JSON is written ASCII-escaped ("\u6210\u529f" for a localised message, "\u001b" for an escape
# character): still the same JSON to jq, it cannot steer a terminal, and it cannot fail on a
# terminal or pipe whose encoding is not UTF-8.

_JSON_KEYS: Final = tuple(f'      "{key}": ' for key in FIELDS)


def _json_value(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _json_items(results: Iterable[OrderResult]) -> Iterator[str]:
    """Each result as json.dumps(indent=2) writes it two levels deep, comma first after the first."""
    separator = "    {\n"
    for result in results:
        body = ",\n".join(key + _json_value(v) for key, v in zip(_JSON_KEYS, _values(result), strict=True))
        yield f"{separator}{body}\n    }}"
        separator = ",\n    {\n"


def render_json(report: Report, out: IO[str]) -> None:
    """The --json document, written result by result; byte for byte what
    `json.dumps(document, indent=2)` gives, without holding it all in memory."""
    head = json.dumps({**document_head(report), "results": []}, indent=2)
    if not report.results:
        out.write(head + "\n")
        return
    out.write(head[: -len("[]\n}")] + "[\n")
    _write_chunked(out, _json_items(report.results))
    out.write("\n  ]\n}\n")


def render_jsonl(report: Report, out: IO[str]) -> None:
    """One JSON object per ID and nothing else, so `jq -c` and line tools need no framing."""
    _write_chunked(out, (json.dumps(result_dict(r)) + "\n" for r in report.results))


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as in the JSON, not Python's True
    if isinstance(value, str):
        return printable(value)
    return value


def render_csv(report: Report, out: IO[str]) -> None:
    """A header and one row per ID; exchange text is escaped, because CSV files get `cat`ed and
    split on newlines by tools that do not honour CSV quoting."""
    for chunk in _csv_chunks(report):
        out.write(chunk)


def _csv_chunks(report: Report) -> Iterator[str]:
    """CHUNK rows at a time through one small buffer: csv.writer writes to its file per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    rows = ([_csv_value(v) for v in _values(r)] for r in report.results)
    while True:
        writer.writerows(islice(rows, CHUNK))
        chunk = buffer.getvalue()
        if not chunk:
            return
        yield chunk
        buffer.seek(0)
        buffer.truncate()


def error_json(exit_code: int, message: str) -> str:
    """Exits 2 and 3 still give `jq` a document to read."""
    return json.dumps({"error": {"exit_code": exit_code, "message": message}}) + "\n"


def partly_filled(result: OrderResult) -> bool:
    """A cancelled order that had filled in part first (SPEC 7.4): the trader's position changed."""
    if result.state is not State.CANCELLED or not result.filled_volume:
        return False
    try:
        volume = Decimal(result.filled_volume)
    except InvalidOperation:
        return False
    return volume.is_finite() and volume != 0


def summary_line(report: Report) -> str:
    """Counts of the states that occurred, in SPEC order, the elapsed time, and with --confirm
    the partial fills and the orders whose final state could not be confirmed."""
    counts = ", ".join(f"{n} {state}" for state, n in report.summary().items() if n)
    prefix = "SIMULATED: " if report.simulated else ""
    suffix = " (interrupted)" if report.interrupted else ""
    notes = ""
    if report.confirm:
        partial = sum(1 for r in report.results if partly_filled(r))
        unconfirmed = sum(1 for r in report.results if r.confirmed is False)
        if partial:
            orders = "order" if partial == 1 else "orders"
            notes += f"; {partial} {orders} had partly filled before the cancel"
        if unconfirmed:
            notes += f"; {unconfirmed} not confirmed"
    return f"{prefix}{counts or 'no orders'} in {report.elapsed_ms} ms{suffix}{notes}"


def outcome_lines(report: Report) -> list[str]:
    """The stderr lines a run's outcome owes its user in every output mode (`-q` included), each
    said once: how many orders are not known and the commonest reason the rows give (exit 4),
    and with --all what is still open or could not be checked."""
    lines = []
    unknown = [r for r in report.results if r.state is State.UNKNOWN]
    unconfirmed = [r for r in report.results if r.confirmed is False]
    parts = []
    if unknown and not report.interrupted:
        parts.append(f"{len(unknown)} of {len(report.results)} order(s) unknown: {_commonest(unknown)}")
    if unconfirmed and not report.interrupted:
        reasons = [r._replace(message=_unconfirmed_reason(r.message)) for r in unconfirmed]
        parts.append(f"{len(unconfirmed)} accepted cancel(s) not confirmed: {_commonest(reasons)}")
    if report.recheck_failed:
        parts.append(f"{report.recheck_failed}; orders placed during the run may still be open")
    if parts:
        lines.append("; ".join(parts) + "; check before acting")
    if report.still_open:
        shown = ", ".join(report.still_open[:20])
        more = len(report.still_open) - 20
        shown += f" and {more} more" if more > 0 else ""
        lines.append(f"still open on {report.contract_code} after the last round: {shown}")
    return lines


def _unconfirmed_reason(message: str | None) -> str:
    """`Success (final state not confirmed: WHY)` -> `WHY`."""
    reason = (message or "").partition(UNCONFIRMED)[2]
    return reason[:-1] if reason.endswith(")") else reason


def _commonest(results: list[OrderResult]) -> str:
    messages = Counter(r.message or "no answer" for r in results)
    (message, _), *others = messages.most_common()
    return message + (f" (and {len(others)} other reason(s))" if others else "")


class Screen(NamedTuple):
    """The terminal a table is drawn on; a pipe or file has none (plain text, never wrapped)."""

    width: int
    colour: bool


def screen_for(out: IO[str], no_color: bool, environ: Mapping[str, str] | None = None) -> Screen | None:
    """None when `out` is not a terminal; else its width (COLUMNS first, as Rich and `ls` do) and
    whether to colour (not with NO_COLOR, not on TERM=dumb)."""
    try:
        if not out.isatty():
            return None
    except ValueError:  # closed
        return None
    env = os.environ if environ is None else environ
    width = 0
    columns = env.get("COLUMNS", "")
    if columns.isdigit():
        width = int(columns)
    if width <= 0:
        try:
            width = os.get_terminal_size(out.fileno()).columns
        except (OSError, ValueError):  # io.UnsupportedOperation is both
            width = 0
    return Screen(width if width > 0 else DEFAULT_WIDTH, not no_color and env.get("TERM") != "dumb")


def render_table(report: Report, out: IO[str], no_color: bool) -> None:
    """The table for people: fitted and coloured on a terminal, plain in a pipe or file."""
    write_table(report, out, screen_for(out, no_color))


def write_table(report: Report, out: IO[str], screen: Screen | None) -> None:
    """One row per ID and the summary line. IDs, states and codes are never cut or folded.

    In a pipe (screen None): no colour, and each row on exactly one line however long its
    message, so `grep` sees whole rows. On a terminal: messages wrap inside their column; when
    the never-cut columns leave too little room for a message, one block per order instead.
    Every line a row continues on starts with spaces, so only a row's first line begins at
    column 0 and no message can pass for another row."""
    if report.results:
        _write_chunked(out, (line + "\n" for line in _body_lines(report, out, screen)))
        out.write("\n")
    summary = summary_line(report)
    if screen is None:
        out.write(summary + "\n")
        return
    first, *rest = _wrap(summary, max(screen.width - len(BLOCK_INDENT), 1))
    out.write("".join(f"{line}\n" for line in [first, *(BLOCK_INDENT + line for line in rest)]))


def _body_lines(report: Report, out: IO[str], screen: Screen | None) -> Iterable[str]:
    """Title, header and rows as a table when the never-cut columns leave a message room enough,
    else one block per order."""
    widths, longest, fits = _widths(report, screen.width if screen else None)
    if screen is None:
        return _table_lines(report, out, widths, longest, wrap=False, colour=False)
    if not fits:
        return _block_lines(report, screen)
    fixed = sum(widths) + len(GAP) * len(widths)
    return _table_lines(
        report, out, widths, min(longest, screen.width - fixed), wrap=True, colour=screen.colour
    )


def _paint(text: str, sgr: str | None, colour: bool) -> str:
    return f"\x1b[{sgr}m{text}\x1b[0m" if colour and sgr and text else text


def _id_text(value: str | None) -> str:
    return printable(value) if value else "-"


def _filled_text(result: OrderResult) -> str:
    """`4 of 10` when both volumes are known, the filled volume alone, or nothing."""
    if result.filled_volume is None:
        return ""
    filled = printable(result.filled_volume)
    return filled if result.volume is None else f"{filled} of {printable(result.volume)}"


def _columns(result: OrderResult, confirm: bool) -> list[tuple[str, str | None]]:
    """The never-cut cells of one row, escaped, each with its colour."""
    cells = [
        (_id_text(result.order_id), None),
        (_id_text(result.client_order_id), None),
        (result.state.value, STATE_COLOUR[result.state]),
        ("" if result.code is None else str(result.code), None),
    ]
    if confirm:
        cells.append((_filled_text(result), PARTIAL_FILL_COLOUR if partly_filled(result) else None))
        cells.append((CONFIRMED_MARK[result.confirmed], CONFIRMED_COLOUR[result.confirmed]))
    return cells


def _widths(report: Report, limit: int | None) -> tuple[list[int], int, bool]:
    """Widths of the never-cut columns and of the longest message, header included, and whether
    they fit in `limit` columns with room for a message. A pass of its own, so no row is kept
    in memory between measuring and writing; it stops at the first row that cannot fit, as
    widths only grow."""
    widths = [len(h) for h in (HEADERS + CONFIRM_HEADERS if report.confirm else HEADERS)]
    gaps = len(GAP) * len(widths)
    longest = len("Message")
    for result in report.results:
        for i, (text, _) in enumerate(_columns(result, report.confirm)):
            widths[i] = max(widths[i], cell_width(text))
        longest = max(longest, cell_width(printable(result.message or "")))
        if limit is not None and sum(widths) + gaps + min(longest, MIN_MESSAGE) > limit:
            return widths, longest, False
    return widths, longest, True


def _rule_char(out: IO[str]) -> str:
    """A box-drawing rule where the stream's encoding has one, else ASCII."""
    try:
        "─".encode(getattr(out, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "-"
    return "─"


def _table_lines(
    report: Report, out: IO[str], widths: list[int], message_width: int, wrap: bool, colour: bool
) -> Iterator[str]:
    fixed = sum(widths) + len(GAP) * len(widths)
    table_width = fixed + message_width
    if report.simulated:
        title = "SIMULATED"
        yield " " * max((table_width - len(title)) // 2, 0) + _paint(title, "1;33", colour)
    headers = HEADERS + CONFIRM_HEADERS if report.confirm else HEADERS
    header = "".join(h.ljust(w) + GAP for h, w in zip(headers, widths, strict=True)) + "Message"
    yield _paint(header, "1", colour)
    yield _rule_char(out) * table_width
    indent = " " * fixed
    for result in report.results:
        message = printable(result.message or "")
        parts = _wrap(message, message_width) if wrap else [message]
        row = "".join(
            _paint(text, sgr, colour) + " " * (w - cell_width(text)) + GAP
            for (text, sgr), w in zip(_columns(result, report.confirm), widths, strict=True)
        )
        yield (row + parts[0]).rstrip(" ")
        for part in parts[1:]:
            yield indent + part


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap by terminal columns; a word wider than the column is split."""
    if cell_width(text) <= width:
        return [text]
    lines: list[str] = []
    line, used = "", 0
    for word in text.split():
        for piece in _split_word(word, width):
            n = cell_width(piece)
            if line and used + 1 + n > width:
                lines.append(line)
                line, used = piece, n
            elif line:
                line, used = f"{line} {piece}", used + 1 + n
            else:
                line, used = piece, n
    lines.append(line)
    return lines


def _split_word(word: str, width: int) -> list[str]:
    if cell_width(word) <= width:
        return [word]
    pieces: list[str] = []
    piece, used = "", 0
    for ch in word:
        n = cell_width(ch)
        if piece and used + n > width:
            pieces.append(piece)
            piece, used = "", 0
        piece, used = piece + ch, used + n
    pieces.append(piece)
    return pieces


def _block_lines(report: Report, screen: Screen) -> Iterator[str]:
    if report.simulated:
        yield _paint("SIMULATED", "1;33", screen.colour)
    for result in report.results:
        yield from _block(result, report.confirm, screen)


def _block(result: OrderResult, confirm: bool, screen: Screen) -> Iterator[str]:
    """One order as `order 1329854623927160832 (client 5101): cancelled 200 Success`, wrapped
    between words with continuation lines indented, so only a block's first line starts at
    column 0. An ID, state or code never breaks; on a terminal narrower than one, it overflows
    whole (the terminal wraps it) rather than being cut."""
    tokens: list[tuple[str, str | None]] = []
    if result.order_id:
        tokens.append((f"order {printable(result.order_id)}", None))
        if result.client_order_id:
            tokens.append((f"(client {printable(result.client_order_id)})", None))
    else:
        tokens.append((f"client {_id_text(result.client_order_id)}", None))
    tokens[-1] = (tokens[-1][0] + ":", None)
    tokens.append((result.state.value, STATE_COLOUR[result.state]))
    if result.code is not None:
        tokens.append((str(result.code), None))
    if confirm:
        tokens.extend(_confirm_tokens(result))
    message = printable(result.message or "")
    if cell_width(" ".join(text for text, _ in tokens)) + 1 + cell_width(message) <= screen.width:
        yield " ".join([*(_paint(text, sgr, screen.colour) for text, sgr in tokens), message]).rstrip(" ")
        return
    room = max(screen.width - len(BLOCK_INDENT), 1)
    for word in message.split():
        tokens.extend((piece, None) for piece in _split_word(word, room))
    line, used = "", 0
    for text, sgr in tokens:
        n = cell_width(text)
        painted = _paint(text, sgr, screen.colour)
        if not line:
            line, used = painted, n
        elif used + 1 + n <= screen.width:
            line, used = f"{line} {painted}", used + 1 + n
        else:
            yield line
            line, used = BLOCK_INDENT + painted, len(BLOCK_INDENT) + n
    yield line


def _confirm_tokens(result: OrderResult) -> list[tuple[str, str | None]]:
    """`(filled 4 of 10, confirmed)` in one piece, coloured by what most needs a look."""
    notes = []
    filled = _filled_text(result)
    if filled:
        notes.append(f"filled {filled}")
    if result.confirmed is not None:
        notes.append("confirmed" if result.confirmed else "not confirmed")
    if not notes:
        return []
    colour = CONFIRMED_COLOUR[result.confirmed]
    if result.confirmed is not False and partly_filled(result):
        colour = PARTIAL_FILL_COLOUR
    return [(f"({', '.join(notes)})", colour)]


def frame_line(event: FrameEvent) -> str:
    """One -v line: elapsed time, the connection when it is not the trade socket, direction
    arrow, the redacted frame (escaped: a malformed frame can carry raw control characters)."""
    arrow = ">>" if event.direction == "sent" else "<<"
    channel = "" if event.channel == "trade" else f"{event.channel} "
    return f"[{event.elapsed * 1000:8.1f} ms] {channel}{arrow} {printable(event.text)}"


def audit_line(event: FrameEvent | NoteEvent) -> str:
    """One --log-file JSON line: UTC wall time so lines from several runs sort and join, and the
    connection ("trade", "notify", "rest") so a reader can follow one socket.

    Readable UTF-8 (a Chinese message stays Chinese), but every character that is not printable
    is a JSON escape, so `tail -f` on the log cannot be steered and U+2028 cannot split a line."""
    if isinstance(event, FrameEvent):
        stamp = datetime.fromtimestamp(event.wall_time, timezone.utc)
        body: dict[str, Any] = {"channel": event.channel, "direction": event.direction, "frame": event.text}
    else:
        stamp = datetime.now(timezone.utc)
        body = {"note": event.text}
    return audit_record(body, stamp)


def audit_record(body: dict[str, Any], stamp: datetime | None = None) -> str:
    """Any --log-file line (frames, notes, the run's start and end), timestamped the same way."""
    stamp = stamp or datetime.now(timezone.utc)
    text = json.dumps({"ts": stamp.isoformat(timespec="milliseconds"), **body}, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    n = ord(ch)
    if n <= 0xFFFF:
        return f"\\u{n:04x}"
    n -= 0x10000
    return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"


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
