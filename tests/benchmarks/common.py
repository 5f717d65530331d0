"""What the benchmark scripts share.

Not a package: each script runs as `python tests/benchmarks/<name>.py`, which puts this folder
first on sys.path, so `import common` finds this file (as `import bench` and `import
baseline_client` do). It imports the standard library only, so that the helper processes
(simserver.py, latency_proxy.py) can use it too without loading anything they do not need.

- **Helper processes**: simserver.py and latency_proxy.py print one line once they serve, then
  answer line commands on stdin with one JSON line each until `quit` (or end of input):
  `serve_commands` is their side, `HelperProcess` the benchmark's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent


class BenchError(Exception):
    """A run that did not do what it should: its time would be meaningless, so the benchmark stops."""


# --------------------------------------------------------------------------- helper processes


def serve_commands(commands: Mapping[str, Callable[[], str]]) -> None:
    """The helper's side: answer each line command on stdin with the line `commands` makes for
    it, until `quit` or end of input; an unknown command is an error line, not a crash."""
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        answer = commands.get(command)
        reply = answer() if answer is not None else json.dumps({"error": f"unknown command {command!r}"})
        print(reply, flush=True)


class HelperProcess:
    """The benchmark's side: a helper script in a child process, started, asked, and stopped."""

    def __init__(self, what: str, script: str, args: Sequence[str], ready: Callable[[str], bool]) -> None:
        """Start `script` (beside this file) and wait for its first line, which `ready` must accept."""
        self._what = what
        self._proc = subprocess.Popen(
            [sys.executable, str(HERE / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not ready(line):
            self.close()
            raise BenchError(f"{what} did not start (said {line!r})")
        self.first_line: Final = line

    def ask(self, command: str) -> dict[str, object]:
        """One command, its one-line JSON answer."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{command}\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise BenchError(f"{self._what} exited")
        answer: dict[str, object] = json.loads(line)
        return answer

    def close(self) -> None:
        """Ask it to quit; kill it (by its own pid) only if it does not."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
