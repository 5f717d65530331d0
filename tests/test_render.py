"""Renderers: the JSON contract scripts depend on, text that prints exactly as it came, and a
table that never cuts an ID or code and never lets exchange text pass for a row."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from collections.abc import Callable
from typing import IO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from htx_cancel.models import FrameEvent, NoteEvent, OrderResult, Report, State
from htx_cancel.render import (
    Screen,
    audit_line,
    cell_width,
    document_head,
    frame_line,
    printable,
    render_csv,
    render_json,
    render_jsonl,
    render_table,
    result_dict,
    screen_for,
    summary_line,
    write_table,
)

ROWS = (
    OrderResult("1", "9", State.CANCELLED, 200, "成功", 1),
    OrderResult(None, "7", State.REJECTED, 1067, "Illegal parameter [/contract_code] :smile:", 2),
)
REPORT = Report("BTC-USDT", "wss://api.hbdm.com/linear-swap-trade", False, 12, 1, ROWS)
CONFIRMED = Report(
    "BTC-USDT",
    "wss://api.hbdm.com/linear-swap-trade",
    False,
    40,
    0,
    (
        OrderResult("101", "5101", State.CANCELLED, 200, "Success", 1, True, "partially_canceled", "4", "10"),
        OrderResult("102", None, State.CANCELLED, 200, "Success", 1, True, "partially_canceled", "0.50", "1"),
        OrderResult("103", None, State.CANCELLED, 200, "Success", 1, True, "canceled", "0", "10"),
        OrderResult("104", None, State.CANCELLING, 1062, "in progress", 1, False, None, None, None),
        OrderResult(
            "105", None, State.FILLED, 200, "filled before the cancel", 1, True, "filled", "10", "10"
        ),
        OrderResult("301", None, State.FILLED, 1063, "already executed", 1),
    ),
    confirm=True,
)
HOSTILE_MESSAGE = "boom\x1b[2J\r\n101 cancelled 200 Success\u202e\t\x9b31m\x7f\u2066\u200f\u061c"
HOSTILE = Report(
    "BTC-USDT",
    "u",
    False,
    5,
    0,
    (
        OrderResult("1329854623927160832", "5101", State.REJECTED, 1067, HOSTILE_MESSAGE, 1),
        OrderResult("1329854623927160833\x1b[1A", None, State.NOT_FOUND, 1061, "no\u2028such", 1),
    ),
)
LONG_IDS = Report(
    "BTC-USDT",
    "u",
    True,
    7,
    0,
    (
        OrderResult("1329854623927160832", "9223372036854775807", State.CANCELLED, 200, "Success", 1),
        OrderResult(None, "9223372036854775806", State.FILLED, 1063, "The order has been executed " * 3, 1),
        OrderResult("1329854623927160834", None, State.UNKNOWN, None, "no answer after 3 attempts", 4),
    ),
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def old_json(report: Report) -> str:
    """How the document was written before streaming: the bytes scripts already parse."""
    document = {**document_head(report), "results": [result_dict(r) for r in report.results]}
    return json.dumps(document, indent=2) + "\n"


Renderer = Callable[[Report, IO[str]], None]


def rendered(fn: Renderer, report: Report) -> str:
    out = io.StringIO()
    fn(report, out)
    return out.getvalue()


def table(report: Report, screen: Screen | None) -> str:
    out = io.StringIO()
    write_table(report, out, screen)
    return out.getvalue()


def test_json_document_keys_are_pinned() -> None:
    doc = json.loads(rendered(render_json, REPORT))
    assert list(doc) == [
        "contract_code",
        "url",
        "simulated",
        "elapsed_ms",
        "duplicates_dropped",
        "summary",
        "results",
    ]
    assert list(doc["summary"]) == [s.value for s in State]
    assert doc["results"][1] == {
        "order_id": None,
        "client_order_id": "7",
        "state": "rejected",
        "code": 1067,
        "message": "Illegal parameter [/contract_code] :smile:",
        "attempts": 2,
        "confirmed": None,
        "final_state": None,
        "filled_volume": None,
        "volume": None,
    }
    assert doc["results"][0]["message"] == "成功"
    assert rendered(render_json, REPORT).isascii()  # safe on any terminal encoding, same JSON to jq


def test_confirm_fields_are_in_every_format_with_volumes_as_strings() -> None:
    doc = json.loads(rendered(render_json, CONFIRMED))
    first = doc["results"][0]
    assert (first["confirmed"], first["final_state"], first["filled_volume"], first["volume"]) == (
        True,
        "partially_canceled",
        "4",
        "10",
    )
    assert doc["results"][1]["filled_volume"] == "0.50"  # exactly as the exchange wrote it
    assert doc["results"][3]["confirmed"] is False
    assert doc["results"][5]["confirmed"] is None
    lines = [json.loads(line) for line in rendered(render_jsonl, CONFIRMED).splitlines()]
    assert lines == doc["results"]
    rows = list(csv.DictReader(io.StringIO(rendered(render_csv, CONFIRMED))))
    assert [r["confirmed"] for r in rows] == ["true", "true", "true", "false", "true", ""]
    assert rows[1]["filled_volume"] == "0.50" and rows[5]["volume"] == ""


def test_jsonl_and_csv_carry_the_same_fields() -> None:
    lines = [json.loads(line) for line in rendered(render_jsonl, REPORT).splitlines()]
    assert lines == json.loads(rendered(render_json, REPORT))["results"]
    assert rendered(render_csv, REPORT).splitlines()[0] == (
        "order_id,client_order_id,state,code,message,attempts,confirmed,final_state,filled_volume,volume"
    )


TEXT = st.one_of(st.none(), st.text())
RESULT = st.builds(
    OrderResult,
    TEXT,
    TEXT,
    st.sampled_from(State),
    st.one_of(st.none(), st.integers(-(2**63), 2**63)),
    TEXT,
    st.integers(0, 10),
    st.one_of(st.none(), st.booleans()),
    TEXT,
    TEXT,
    TEXT,
)


@given(st.lists(RESULT, max_size=5), st.booleans(), st.text())
def test_streamed_json_is_byte_identical_to_one_json_dumps(
    results: list[OrderResult], simulated: bool, url: str
) -> None:
    report = Report("BTC-USDT", url, simulated, 3, 0, tuple(results))
    assert rendered(render_json, report) == old_json(report)


def test_an_empty_report_is_still_one_document() -> None:
    report = Report("BTC-USDT", "u", False, 0, 0, ())
    assert rendered(render_json, report) == old_json(report)
    assert json.loads(rendered(render_json, report))["results"] == []
    assert rendered(render_jsonl, report) == ""


def test_table_prints_exchange_text_literally() -> None:
    out = io.StringIO()
    render_table(REPORT, out, no_color=True)
    text = out.getvalue()
    assert "Illegal parameter [/contract_code] :smile:" in text
    assert "\x1b[" not in text
    assert "1 cancelled, 1 rejected in 12 ms" in text


def test_printable_escapes_what_could_steer_a_terminal() -> None:
    assert printable("Success") == "Success"
    assert printable("成功 [/x] \\x1b") == "成功 [/x] \\x1b"  # printable text, backslashes too, as it came
    assert printable(HOSTILE_MESSAGE) == (
        "boom\\x1b[2J\\r\\n101 cancelled 200 Success\\u202e\\t\\x9b31m\\x7f\\u2066\\u200f\\u061c"
    )
    for (
        ch
    ) in "\x00\x07\x1b\x7f\x85\x9b\u200e\u200f\u061c\u2028\u2029\u202a\u202e\u2066\u2069\ufeff\U000e0001":
        assert printable(ch).startswith("\\"), repr(ch)
    assert printable("\U000e0001") == "\\U000e0001"
    assert printable("\u0378") == "\\u0378"  # unassigned


@pytest.mark.parametrize("screen", [None, Screen(40, True), Screen(80, True), Screen(200, True)])
def test_hostile_text_never_reaches_the_terminal_nor_forges_a_row(screen: Screen | None) -> None:
    text = ANSI.sub("", table(HOSTILE, screen))
    assert "\x1b" not in text and "\r" not in text and "\t" not in text
    assert not any(ch in text for ch in "\u202e\u2066\u200f\u061c\u2028\x9b\x7f")
    escaped = "boom\\x1b[2J\\r\\n101cancelled200Success\\u202e\\t\\x9b31m\\x7f\\u2066\\u200f\\u061c"
    assert escaped in "".join(text.split())  # shown whole, however it wrapped
    # Only the real rows (and the summary) start at column 0 with an ID or "order": the forged
    # "101 cancelled 200 Success" never does.
    starts = [line for line in text.splitlines() if re.match(r"order |client |\d", line)]
    assert [line.removeprefix("order ").split()[0].rstrip(":") for line in starts[:2]] == [
        "1329854623927160832",
        "1329854623927160833\\x1b[1A",
    ]
    assert len(starts) == 3 and starts[2].startswith("1 not_found, 1 rejected")


def test_csv_escapes_exchange_text_so_each_row_is_one_line() -> None:
    text = rendered(render_csv, HOSTILE)
    assert len(text.splitlines()) == 3
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["message"].startswith("boom\\x1b[2J\\r\\n101 cancelled 200 Success\\u202e")


def test_json_escapes_exchange_text_and_keeps_it_exact() -> None:
    text = rendered(render_json, HOSTILE)
    assert text.isascii() and "\x1b" not in text and "\x7f" not in text
    assert json.loads(text)["results"][0]["message"] == HOSTILE_MESSAGE
    assert "\x1b" not in rendered(render_jsonl, HOSTILE)


def test_verbose_and_audit_lines_cannot_steer_the_terminal() -> None:
    frame = FrameEvent("received", '{"err-msg": "x\x1b[2J\u202e\u2028y 成功"}', 0.0, 0.01)
    assert frame_line(frame).endswith('] << {"err-msg": "x\\x1b[2J\\u202e\\u2028y 成功"}')
    line = audit_line(frame)
    assert line.isprintable() and "成功" in line  # readable, and one line even to str.splitlines
    assert json.loads(line)["frame"] == frame.text
    assert json.loads(audit_line(NoteEvent("odd \U000e0001 tag")))["note"] == "odd \U000e0001 tag"


def test_verbose_and_audit_lines_name_the_push_socket() -> None:
    frame = FrameEvent("sent", '{"op": "sub"}', 0.0, 0.0123, "notify")
    assert frame_line(frame) == '[    12.3 ms] notify >> {"op": "sub"}'
    assert json.loads(audit_line(frame))["channel"] == "notify"
    assert json.loads(audit_line(frame._replace(channel="trade")))["channel"] == "trade"
    assert frame_line(frame._replace(channel="trade")) == '[    12.3 ms] >> {"op": "sub"}'


def plain_lines(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def test_piped_table_is_plain_unfolded_and_has_no_stray_spaces() -> None:
    text = table(LONG_IDS, None)
    lines = text.splitlines()
    assert "\x1b" not in text
    assert lines[0].strip() == "SIMULATED" and lines[1].startswith("Order ID")
    assert all(line == line.rstrip() for line in lines)
    long_message = ("The order has been executed " * 3).strip()
    assert any(line.startswith("-") and line.endswith(long_message) for line in lines)
    assert len(lines) == 3 + 3 + 2  # title, header, rule; three rows; blank, summary


def test_piped_table_without_a_title_starts_with_its_header() -> None:
    assert table(REPORT, None).startswith("Order ID")


@pytest.mark.parametrize("width", [20, 40, 60, 70, 80, 100, 120, 200])
def test_no_width_cuts_an_id_state_or_code(width: int) -> None:
    lines = plain_lines(table(LONG_IDS, Screen(width, True)))
    text = "\n".join(lines)
    for whole in (
        "1329854623927160832",
        "9223372036854775807",
        "9223372036854775806",
        "1329854623927160834",
        "200",
        "1063",
        "cancelled",
        "filled",
        "unknown",
    ):
        assert re.search(rf"(?<![\w]){whole}(?![\w])", text), (width, whole)
    words = " ".join(text.split())
    assert "The order has been executed The order has been executed" in words  # wrapped, not cut
    if width >= 40:  # narrower than one "(client <19 digits>):" the terminal may fold; we never cut
        assert all(cell_width(line) <= width for line in lines), width


def test_a_narrow_terminal_gets_one_block_per_order() -> None:
    lines = plain_lines(table(LONG_IDS, Screen(60, False)))
    assert lines[0] == "SIMULATED"
    assert lines[1] == "order 1329854623927160832 (client 9223372036854775807):"
    assert lines[2] == "  cancelled 200 Success"
    assert lines[3].startswith("client 9223372036854775806: filled 1063 The order")
    starts = [line for line in lines if line and not line.startswith(" ")]
    assert len(starts) == 1 + 3 + 1  # title, three blocks, summary


def test_a_wide_terminal_gets_a_table_whose_messages_wrap_in_their_column() -> None:
    lines = plain_lines(table(LONG_IDS, Screen(100, True)))
    header = next(line for line in lines if line.startswith("Order ID"))
    column = header.index("Message")
    rows = [line for line in lines if re.match(r"\d|-", line)]
    assert [row.split()[0] for row in rows] == ["1329854623927160832", "-", "1329854623927160834"]
    continuation = lines[lines.index(rows[1]) + 1]
    assert continuation[:column].strip() == "" and continuation[column] != " "
    assert all(cell_width(line) <= 100 for line in lines)


def test_table_colours_states_on_a_terminal_only() -> None:
    coloured = table(LONG_IDS, Screen(120, True))
    assert "\x1b[32mcancelled\x1b[0m" in coloured and "\x1b[35mfilled\x1b[0m" in coloured
    assert "\x1b[1;31munknown\x1b[0m" in coloured
    assert "\x1b[" not in table(LONG_IDS, Screen(120, False))


def test_wide_characters_keep_columns_aligned() -> None:
    report = Report(
        "BTC-USDT", "u", False, 1, 0, (*ROWS, OrderResult("成功成功", "2", State.CANCELLED, 200, "x", 1))
    )
    lines = table(report, Screen(120, False)).splitlines()
    header = lines[0]
    state_col = cell_width(header[: header.index("State")])
    for line in lines[2:5]:
        assert (
            cell_width(line[: line.index(next(s for s in ("cancelled", "rejected") if s in line))])
            == state_col
        )


def test_confirm_table_shows_fills_and_confirmation() -> None:
    lines = table(CONFIRMED, None).splitlines()
    assert lines[0].split() == [
        "Order",
        "ID",
        "Client",
        "order",
        "ID",
        "State",
        "Code",
        "Filled",
        "Confirmed",
        "Message",
    ]
    row = {line.split()[0]: line for line in lines[2:8]}
    assert re.search(r"cancelled\s+200\s+4 of 10\s+yes\s+Success$", row["101"])
    assert re.search(r"cancelling\s+1062\s+no\s+in progress$", row["104"])
    assert re.search(r"filled\s+1063\s+already executed$", row["301"])  # null: blank, not "no"
    assert lines[-1] == (
        "3 cancelled, 1 cancelling, 2 filled in 40 ms; "
        "2 orders had partly filled before the cancel; 1 not confirmed"
    )


def test_confirm_blocks_say_filled_and_confirmed() -> None:
    text = "\n".join(plain_lines(table(CONFIRMED, Screen(50, False))))
    assert "order 101 (client 5101): cancelled 200\n  (filled 4 of 10, confirmed) Success" in text
    assert "order 104: cancelling 1062 (not confirmed) in\n  progress" in text
    assert "order 301: filled 1063 already executed" in text  # nothing to confirm: no note


def test_without_confirm_the_table_and_summary_are_unchanged() -> None:
    report = CONFIRMED._replace(confirm=False)
    lines = table(report, None).splitlines()
    assert "Filled" not in lines[0] and "Confirmed" not in lines[0]
    assert lines[-1] == "3 cancelled, 1 cancelling, 2 filled in 40 ms"


@pytest.mark.parametrize(
    ("filled", "partial"),
    [
        ("4", True),
        ("0.001", True),
        ("0", False),
        ("0.000", False),
        ("0E-8", False),
        ("", False),
        ("x", False),
    ],
)
def test_partial_fill_means_a_non_zero_decimal(filled: str, partial: bool) -> None:
    result = OrderResult("1", None, State.CANCELLED, 200, "ok", 1, True, "canceled", filled, "10")
    report = Report("BTC-USDT", "u", False, 1, 0, (result,), confirm=True)
    assert ("1 order had partly filled before the cancel" in summary_line(report)) is partial


def test_summary_says_simulated_and_interrupted() -> None:
    report = REPORT._replace(simulated=True, interrupted=True)
    assert summary_line(report) == "SIMULATED: 1 cancelled, 1 rejected in 12 ms (interrupted)"
    empty = Report("BTC-USDT", "u", False, 3, 0, ())
    assert table(empty, None) == "no orders in 3 ms\n"


def test_screen_for_reads_the_terminal_and_the_environment() -> None:
    assert screen_for(io.StringIO(), no_color=False) is None

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert screen_for(Tty(), False, {"COLUMNS": "55", "TERM": "xterm"}) == Screen(55, True)
    assert screen_for(Tty(), False, {"COLUMNS": "55", "TERM": "dumb"}) == Screen(55, False)
    assert screen_for(Tty(), True, {"COLUMNS": "55"}) == Screen(55, False)
    assert screen_for(Tty(), False, {}) == Screen(80, True)  # no size to be had: 80


def many(n: int) -> Report:
    rows = tuple(
        OrderResult(str(1329854623927160832 + i), str(5000 + i), State.CANCELLED, 200, "Success", 1)
        for i in range(n)
    )
    return Report("BTC-USDT", "u", False, 1, 0, rows)


class Sink(io.StringIO):
    """Counts what is written and keeps none of it, like a pipe to `wc -c`."""

    def __init__(self) -> None:
        self.size = 0
        self.writes = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        self.writes += 1
        return len(text)


@pytest.mark.parametrize(
    "fn",
    [render_json, render_jsonl, render_csv, lambda report, out: render_table(report, out, no_color=True)],
    ids=["json", "jsonl", "csv", "table"],
)
def test_memory_does_not_grow_with_the_report(fn: Renderer) -> None:
    report = many(20_000)
    sink = Sink()
    tracemalloc.start()
    try:
        fn(report, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.size > 20_000 * 40
    assert peak < 1_000_000, peak  # the whole output is 1.5-5 MB; a chunk a few hundred kB
    assert sink.writes < 20_000 // 100  # written in chunks, not row by row
