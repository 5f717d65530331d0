"""The progress display appears on a real terminal (a pty) and nowhere else."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

import pytest
from clirun import CREDENTIALS, base_env
from conftest import SimFactory

from htx_cancel.simulator import Faults

COLOUR = re.compile(r"\x1b\[[0-9;]*?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")
IDS = ",".join(str(n) for n in range(1000, 1200))


def drain(leader: int) -> str:
    """Everything the child writes to its terminal, until it closes it (EIO on Linux)."""
    seen = bytearray()
    while select.select([leader], [], [], 30)[0]:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return seen.decode(errors="replace")


def run_with_stderr_on_a_pty(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """stderr on a pseudo-terminal as in an interactive shell; stdout a pipe as in `> file`."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", "BTC-USDT", "-o", IDS, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = drain(leader)
    out = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=30), out, seen


@pytest.fixture
def slow_env(sim_factory: SimFactory) -> dict[str, str]:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(latency=0.15))
    return base_env(sim.url, TERM="xterm-256color", COLUMNS="100")


def test_progress_shows_on_a_terminal(slow_env: dict[str, str]) -> None:
    code, out, err = run_with_stderr_on_a_pty(slow_env, "--json")
    assert code == 1
    assert "IDs resolved" in err and "requests answered" in err
    assert "IDs resolved" not in out
    assert '"not_found": 200' in out


@pytest.mark.parametrize(
    ("extra_env", "args"), [({"TERM": "dumb"}, ()), ({}, ("--quiet",))], ids=["TERM=dumb", "quiet"]
)
def test_no_progress_when_asked_not_to(
    slow_env: dict[str, str], extra_env: dict[str, str], args: tuple[str, ...]
) -> None:
    code, _, err = run_with_stderr_on_a_pty({**slow_env, **extra_env}, *args)
    assert code == 1
    assert "IDs resolved" not in err


def test_no_progress_when_stderr_is_not_a_terminal(slow_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "htx_cancel", "BTC-USDT", "-o", IDS],
        env=slow_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "IDs resolved" not in proc.stderr


def run_with_stdout_on_a_pty(env: dict[str, str]) -> str:
    """stdout on a terminal, as when a person runs the command and reads the table."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", "BTC-USDT", "-o", "101,301"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    seen = drain(leader)
    assert proc.wait(timeout=30) == 1
    return seen


def test_table_is_coloured_on_a_terminal_unless_no_color(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = base_env(sim.url, TERM="xterm-256color", COLUMNS="120")
    coloured = run_with_stdout_on_a_pty(env)
    assert COLOUR.search(coloured) and "filled" in coloured
    plain = run_with_stdout_on_a_pty({**env, "NO_COLOR": "1"})
    assert not COLOUR.search(plain) and "filled" in plain  # bold may remain; colour may not


def test_crash_reports_never_print_locals() -> None:
    """Typer's pretty tracebacks once printed every local, secrets included."""
    from htx_cancel.cli import app, sim_app

    assert app.pretty_exceptions_show_locals is False
    assert sim_app.pretty_exceptions_show_locals is False
