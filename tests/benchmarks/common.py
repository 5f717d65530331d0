"""What the benchmark scripts share: child processes, their environment, and how numbers are shown.

Not a package: each script runs as `python tests/benchmarks/<name>.py`, which puts this folder
first on sys.path, so `import common` finds this file (as `import bench` and `import
baseline_client` do). It imports the standard library only, so that the helper processes
(simserver.py, latency_proxy.py) can use it too without loading anything they do not need.

- **Timed children**: `run_process` starts, times and reaps one client (wait4: its own rusage).
- **Helper processes**: simserver.py and latency_proxy.py print one line once they serve, then
  answer line commands on stdin with one JSON line each until `quit` (or end of input):
  `serve_commands` is their side, `HelperProcess` the benchmark's.
- **Environment**: `inherited_env`, this process's environment less what would change a run.
- **Report**: `Stat` (median, min-max), `ms`, `verdict`, markdown `row`s, the header line and
  the --json file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HERE: Final = Path(__file__).resolve().parent

RUN_TIMEOUT: Final = 60.0
"""A client still running after this is hung, not slow: it is killed and the benchmark stops."""


class BenchError(Exception):
    """A run that did not do what it should: its time would be meaningless, so the benchmark stops."""


# --------------------------------------------------------------------------- timed children


@dataclass(frozen=True)
class Finished:
    """One client process, from just before Popen to its reaping."""

    t0: float
    wall: float
    exit_code: int
    stdout: str
    stderr: str
    max_rss_kb: int
    cpu: float = 0.0
    """User + system CPU seconds of that one child (wait4): its work, whatever the scheduler did."""


def run_process(
    cmd: Sequence[str],
    env: dict[str, str],
    stdout: IO[bytes] | int | None = None,
    timeout: float = RUN_TIMEOUT,
    drain: Callable[[], bytes] | None = None,
) -> Finished:
    """Start, reap with wait4 and time one process.

    wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the largest of all children so
    far. stdout is a pipe (read to the end before reaping) unless a file (or a descriptor, such as
    a pty's) is given, and `drain` then reads whatever the child writes there until it is done;
    stderr goes to a temporary file so it can neither block the child nor be lost when a check
    fails. A child still running after `timeout` seconds is killed (big.py's million-ID runs take
    longer).
    """
    with tempfile.TemporaryFile() as err:
        out_target: IO[bytes] | int = stdout if stdout is not None else subprocess.PIPE
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out_target, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            if drain is None and proc.stdout is not None:
                drain = proc.stdout.read
            out = drain() if drain is not None else b""
            _, status, usage = os.wait4(proc.pid, 0)
            t1 = time.monotonic()
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout is not None:
            proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Finished(
        t0,
        t1 - t0,
        proc.returncode,
        out.decode(errors="replace"),
        stderr,
        usage.ru_maxrss,
        usage.ru_utime + usage.ru_stime,
    )


def inherited_env(drop: tuple[str, ...], keep: tuple[str, ...] = ("PYTHONPATH",)) -> dict[str, str]:
    """This process's environment without the variables whose names start with one of `drop`,
    but for those in `keep`: by default PYTHONPATH, so that PYTHONPATH=/some/checkout benchmarks
    that checkout's htx_cancel with this venv."""
    return {key: value for key, value in os.environ.items() if not key.startswith(drop) or key in keep}


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


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Stat:
    """Median, min and max of one metric over its runs."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        return cls(statistics.median(values), min(values), max(values), len(values))

    def show(self, scale: float = 1000.0, digits: int = 1, unit: str = "ms") -> str:
        m, lo, hi = (value * scale for value in (self.median, self.low, self.high))
        return f"{m:.{digits}f} {unit} ({lo:.{digits}f}-{hi:.{digits}f})"


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def row(*cells: str) -> str:
    """One markdown table row; an empty cell is "| |"."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def head(*titles: str) -> list[str]:
    """A markdown table's first two rows: the column titles and the line under them."""
    return [row(*titles), row(*["---"] * len(titles))]


def print_report(
    title: str, started: float, rows: Sequence[str], notes: Sequence[str] = (), detail: str = ""
) -> None:
    """The header line (the machine, and the seconds since `started`), the table, then the notes."""
    print(
        f"{title}: Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {time.monotonic() - started:.0f} s{detail}\n"
    )
    print("\n".join(rows))
    if notes:
        print()
        print("\n".join(notes))


def save_json(path: Path | None, results: DataclassInstance, verdicts: dict[str, bool], key: str) -> None:
    """With --json: the raw numbers, and under `key` whether each target was met."""
    if path is not None:
        raw = {"results": asdict(results), key: verdicts}
        path.write_text(json.dumps(raw, indent=2) + "\n")
