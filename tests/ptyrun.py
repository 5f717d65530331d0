"""The real command with stdin and/or stderr on a pseudo-terminal: for the hidden secret prompt
and --all's question, which only a terminal gets."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

# Makes the pseudo-terminal the child's controlling terminal (it runs in a new session), so
# getpass meets /dev/tty as it would in a real terminal and Ctrl-C typed on it is a real SIGINT;
# then runs the real command.
BOOT = """
import os, sys
for fd in (0, 2):
    if os.isatty(fd):
        os.close(os.open(os.ttyname(fd), os.O_RDWR))
        break
from htx_cancel.cli import run
run()
"""


@dataclass
class TerminalRun:
    code: int
    out: str
    err: str
    terminal: str


def run_on_terminal(
    args: Sequence[str],
    env: dict[str, str],
    *,
    cue: bytes,
    typed: bytes | None,
    stdin_tty: bool = True,
    stderr_tty: bool = True,
) -> TerminalRun:
    """Run the command with stdin and/or stderr on a pseudo-terminal, stdout a pipe; once `cue`
    (the prompt or the question) shows on the terminal, type `typed`. With `typed` None, the
    cue showing at all is a failure."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", BOOT, *args],
        stdin=slave if stdin_tty else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        env={**env, "TERM": "dumb"},
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    sent = False
    deadline = time.monotonic() + 20
    try:
        while True:
            assert time.monotonic() < deadline, f"no exit; terminal so far: {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every holder of the terminal's other side has closed it
                    break
                if not chunk:
                    break
                seen += chunk
                if cue in seen and not sent:
                    assert typed is not None, f"asked although it should not: {seen!r}"
                    os.write(master, typed)
                    sent = True
            elif proc.poll() is not None and not stderr_tty:
                break
        out, err = proc.communicate(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert typed is None or sent, f"the cue never showed; terminal: {seen!r}"
    return TerminalRun(proc.returncode, out.decode(), (err or b"").decode(), seen.decode(errors="replace"))
