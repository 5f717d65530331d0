"""The table on real terminals (ptys) of several widths: nothing cut, nothing folded by the
terminal, exchange text unable to steer it, colour only where wanted."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest
from clirun import base_env
from test_progress import COLOUR, drain

from htx_cancel.render import cell_width

# Builds a report from argv[1] and draws it exactly as the CLI does, on whatever stdout is.
CHILD = """
import json, os, sys
from htx_cancel.models import OrderResult, Report, State
from htx_cancel.render import render_table
spec = json.loads(sys.argv[1])
rows = tuple(OrderResult(r[0], r[1], State(r[2]), *r[3:]) for r in spec.pop("results"))
render_table(Report(**spec, results=rows), sys.stdout, bool(os.environ.get("NO_COLOR")))
"""
HOSTILE = "boom\x1b[2J\r\n101 cancelled 200 Success\u202e\x9b2J"
RESULTS = [
    ["1329854623927160832", "9223372036854775807", "cancelled", 200, "Success", 1],
    [None, "9223372036854775806", "filled", 1063, "The order has been executed and cannot be cancelled", 1],
    ["1329854623927160834", "5101", "not_found", 1061, "Order not exist", 2],
    ["1329854623927160835", None, "rejected", 1067, HOSTILE, 1],
    ["1329854623927160836", None, "unknown", None, None, 4],
]
IDS = [
    "1329854623927160832",
    "9223372036854775807",
    "9223372036854775806",
    "1329854623927160834",
    "5101",
    "1329854623927160835",
    "1329854623927160836",
]
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def terminal_env(**extra: str) -> dict[str, str]:
    """A colour terminal whose size comes from the pty alone (no COLUMNS to override it)."""
    env = {k: v for k, v in base_env(TERM="xterm-256color").items() if k not in ("COLUMNS", "LINES")}
    env.update(extra)
    return env


def on_a_pty(argv: list[str], columns: int, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal `columns` wide; what it showed, newlines as written."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.DEVNULL
    )
    os.close(follower)
    seen = drain(leader)
    return proc.wait(timeout=30), seen.replace("\r\n", "\n")  # the tty's ONLCR


def draw(columns: int, env: dict[str, str], confirm: bool = False) -> str:
    spec = {
        "contract_code": "BTC-USDT",
        "url": "u",
        "simulated": True,
        "elapsed_ms": 9,
        "duplicates_dropped": 0,
        "results": RESULTS,
        "confirm": confirm,
    }
    code, seen = on_a_pty([sys.executable, "-c", CHILD, json.dumps(spec)], columns, env)
    assert code == 0, seen
    return seen


def whole(token: str, text: str) -> bool:
    return re.search(rf"(?<![0-9A-Za-z_]){re.escape(token)}(?![0-9A-Za-z_])", text) is not None


@pytest.mark.parametrize("columns", [40, 60, 80, 120, 200])
def test_every_id_and_code_shows_in_full_and_fits_the_terminal(columns: int) -> None:
    seen = draw(columns, terminal_env())
    assert COLOUR.search(seen)
    plain = ESCAPE.sub("", seen)
    assert "\x1b" not in plain and "\r" not in plain  # only our colours reach the terminal
    assert "\u202e" not in plain and "\x9b" not in plain
    for token in [*IDS, "200", "1063", "1061", "1067", "cancelled", "filled", "not_found", "unknown"]:
        assert whole(token, plain), (columns, token)
    lines = plain.splitlines()
    assert all(cell_width(line) <= columns for line in lines), columns  # the terminal folds nothing
    assert all(line == line.rstrip() for line in lines)
    # Each order starts exactly one line at column 0; the hostile "101 cancelled" is not one.
    firsts = [line for line in lines if re.match(r"\d{4}|order |client |- ", line)]
    assert len(firsts) == len(RESULTS), (columns, firsts)
    assert "".join(plain.split()).count("boom\\x1b[2J\\r\\n101cancelled200Success\\u202e\\x9b2J") == 1


@pytest.mark.parametrize("columns", [40, 120])
def test_confirm_columns_fit_too(columns: int) -> None:
    plain = ESCAPE.sub("", draw(columns, terminal_env(), confirm=True))
    assert all(cell_width(line) <= columns for line in plain.splitlines())
    assert all(whole(token, plain) for token in IDS)


@pytest.mark.parametrize("extra", [{"NO_COLOR": "1"}, {"TERM": "dumb"}], ids=["NO_COLOR", "TERM=dumb"])
def test_no_colour_when_asked_not_to(extra: dict[str, str]) -> None:
    seen = draw(120, terminal_env(**extra))
    assert "\x1b" not in seen
    assert all(whole(token, seen) for token in IDS)


def test_a_real_run_on_a_60_column_terminal_cuts_nothing() -> None:
    """The case users met: 19-digit IDs shown as 18 digits and 1063 as 106 at 60 columns."""
    ids = "1329854623927160832,9223372036854775807,301"
    argv = [sys.executable, "-m", "htx_cancel", "BTC-USDT", "-o", ids, "-c", "5101", "--simulate"]
    code, seen = on_a_pty(argv, 60, terminal_env())
    assert code == 1
    plain = ESCAPE.sub("", seen)
    for token in ("1329854623927160832", "9223372036854775807", "301", "5101", "1061", "1063", "200"):
        assert whole(token, plain), token
    assert all(cell_width(line) <= 60 for line in plain.splitlines())
