"""How fast htx-cancel gets a cancel onto the wire and finishes, against a minimal hand-written client.

    python tests/benchmarks/bench.py [--runs N] [--heavy-runs N] [--json PATH]

Everything is real: the simulator runs in a process of its own (simserver.py) on loopback, and
every client is a fresh process started the way a user or a cron job starts it. The comparison
point is baseline_client.py beside this file (same Python, websocket-client only, hard-coded
flow, prints nothing), because "fast" only means something next to the least a Python client
can cost on the same machine in the same minute.

Time-to-wire is taken from the simulator's arrival record of a run's first cancel_batch_orders
frame (`CancelRecord.t`, `time.monotonic()`) minus this process's `time.monotonic()` just before
`Popen`: CLOCK_MONOTONIC is system-wide on Linux, so the two clocks are the same clock. Each run
opens a new connection, and connection numbers only grow, so a run's records are the ones on the
connections it opened. Runs of the two clients alternate (and swap order every other time) so
drift on the machine (other processes, CPU frequency) falls on both equally; medians with min and
max are reported. Every run is checked (exit code, JSON report, what reached the simulator) so a
broken run can never be timed as a fast one: a failed check stops the benchmark.

Not collected by pytest (pyproject ignores tests/benchmarks): it takes about half a minute and its
numbers are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, TypeVar

import baseline_client
from common import (
    HERE,
    RUN_TIMEOUT,
    BenchError,
    Finished,
    HelperProcess,
    Stat,
    head,
    inherited_env,
    ms,
    print_report,
    row,
    run_process,
    save_json,
    verdict,
)

from htx_cancel.pacing import MARGIN, WINDOW
from htx_cancel.simulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

CONTRACT: Final = "BTC-USDT"
LATENCY: Final = 0.025
"""One-way seconds added by the simulator for the pipelining cases: a near exchange."""

UNLIMITED: Final = 10**9
"""Rate limit for simulators whose runs follow each other faster than the 3 s window rolls: the
limit is the 1,000-ID case's subject, elsewhere it would only measure how runs were spaced."""

RTT_SAMPLES: Final = 15
BIG_IDS: Final = 100_000
FIRST_ID: Final = 900_001
"""Order IDs from here on are not in the demo book: every run gets the same answers (1061) and
no run changes the book for the next."""

TARGET_TTW_RATIO: Final = 1.30
"""Issue #14: Typer stays the CLI, so loopback time to wire may be up to 1.30x the bare client."""
TARGET_WALL_RATIO: Final = 1.5
TARGET_500_RTTS: Final = 3.0
TARGET_1000_EXTRA_RTTS: Final = 2.0
TARGET_PARSE_SECONDS: Final = 1.0
TARGET_RSS_MB: Final = 150.0

_TOP_LEVEL_IMPORT: Final = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")
"""A line of `-X importtime` whose module name follows "| " directly (no indent): a top-level import."""

_PARSE_SCRIPT: Final = """
import json, resource, sys, time
from htx_cancel.inputs import parse_inputs
start = time.perf_counter()
request = parse_inputs(sys.argv[1], files=[sys.argv[2]])
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "ids": len(request.orders), "max_rss_kb": rss}))
"""
"""Parse and validate only, timed inside the process so interpreter start-up and imports are out."""


def ids(count: int) -> list[str]:
    """`count` order IDs that the demo book does not hold."""
    return [str(FIRST_ID + n) for n in range(count)]


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class CancelRow:
    """One cancel request as the simulator saw it (times on the shared monotonic clock)."""

    t: float
    answered_at: float | None
    connection: int
    cid: str
    ids: int
    code: int
    fault: str | None


@dataclass(frozen=True)
class RunRecords:
    """What one run did on the wire: its cancel requests, connections and 1032 answers."""

    cancels: list[CancelRow]
    connections: int
    rate_limited: int
    notify_connections: int = 0
    """Connections to the notification socket (`--confirm`'s second socket)."""
    subs: int = 0
    """`op: sub` frames on the notification socket (`--confirm`'s order-push subscription)."""


class SimProcess(HelperProcess):
    """simserver.py in a child process; `take()` returns what happened since the previous take."""

    def __init__(
        self, latency: float, rate_limit: int, rate_window: float = WINDOW, extra: Sequence[str] = ()
    ) -> None:
        args = [f"--latency={latency}", f"--rate-limit={rate_limit}", f"--rate-window={rate_window}", *extra]
        super().__init__("simulator", "simserver.py", args, lambda line: line.startswith(("ws://", "wss://")))
        self.url: Final = self.first_line
        self._connections = 0
        self._rate_limited = 0
        self._notify = 0
        self._subs = 0

    def take(self) -> RunRecords:
        """The records on connections opened since the last take (the run just finished)."""
        dump = self.ask("dump")
        connections = int(str(dump["connections"]))
        rate_limited = int(str(dump["rate_limited"]))
        raw = dump["cancels"]
        assert isinstance(raw, list)
        rows = [CancelRow(**row) for row in raw if row["connection"] > self._connections]
        notify = int(str(dump.get("notify_connections", 0)))
        subs = int(str(dump.get("subs", 0)))
        records = RunRecords(
            rows,
            connections - self._connections,
            rate_limited - self._rate_limited,
            notify - self._notify,
            subs - self._subs,
        )
        self._connections, self._rate_limited = connections, rate_limited
        self._notify, self._subs = notify, subs
        return records


@contextmanager
def simulator(latency: float, rate_limit: int) -> Iterator[SimProcess]:
    """A simulator process for the length of a case."""
    sim = SimProcess(latency, rate_limit)
    try:
        yield sim
    finally:
        sim.close()


# --------------------------------------------------------------------------- clients


def htx_cancel_path() -> str:
    """The console script of the venv this benchmark runs in: the way users start the tool."""
    path = shutil.which("htx-cancel", path=str(Path(sys.executable).parent))
    if path is None:
        raise BenchError(f"no htx-cancel script beside {sys.executable}: pip install -e '.[test]'")
    return path


DEMO_CREDENTIALS: Final = {"HTX_ACCESS_KEY": DEMO_ACCESS_KEY, "HTX_SECRET_KEY": DEMO_SECRET_KEY}
NO_CONFIG_NO_COLOUR: Final = {"HTX_CANCEL_CONFIG": "/nonexistent", "NO_COLOR": "1"}


def client_env(url: str) -> dict[str, str]:
    """Demo credentials and the URL from the environment, no config file, no colour: the cron case.

    No PYTHON* variables either, but PYTHONPATH (to benchmark another checkout of htx_cancel): a
    shell that sets PYTHONDONTWRITEBYTECODE=1 would stop the warm-up run from writing .pyc files,
    and every timed run would compile each module whose source is newer than its .pyc (measured:
    ~19 ms per run when all of htx_cancel compiles), which no installed copy ever does;
    PYTHONUNBUFFERED would make every output line a write."""
    env = inherited_env(("HTX_", "PYTHON"))
    env.update(HTX_WS_URL=url, **DEMO_CREDENTIALS, **NO_CONFIG_NO_COLOUR)
    return env


@dataclass(frozen=True)
class Measured:
    """One checked run: the numbers the table is made of."""

    wall: float
    ttw: float | None
    span: float | None
    """First request in to last answer out, on the simulator: the run's time on the wire."""
    requests: int
    rate_limited: int
    tool_elapsed: float | None = None
    """htx-cancel's own `elapsed_ms`: what is left of the wall is start-up, imports and output."""
    cpu: float | None = None
    """The client's user + system CPU seconds."""


def walls(runs: Sequence[Measured]) -> Stat:
    return Stat.of([m.wall for m in runs])


def ttws(runs: Sequence[Measured]) -> Stat:
    return Stat.of([m.ttw for m in runs if m.ttw is not None])


def spans(runs: Sequence[Measured]) -> Stat:
    return Stat.of([m.span for m in runs if m.span is not None])


Check = Callable[[Finished, RunRecords], float | None]
T = TypeVar("T")


def run_on(
    sim: SimProcess,
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> tuple[Finished, RunRecords]:
    """One client process against `sim` (with `client_env` unless `env` is given), and what the
    simulator saw of it."""
    done = run_process(cmd, client_env(sim.url) if env is None else env, stdout, timeout)
    return done, sim.take()


def checked(
    cmd: Sequence[str], done: Finished, check: Callable[[], T], where: str = "", stderr_tail: bool = False
) -> T:
    """What `check` returns; when it fails, a BenchError that names `where`, the command, its exit
    code and its stderr (the end of it with `stderr_tail`, where the error is under -X importtime)."""
    try:
        return check()
    except (BenchError, ValueError, KeyError, TypeError) as exc:
        stderr = done.stderr.strip()
        excerpt = stderr[-2000:] if stderr_tail else stderr[:2000]
        raise BenchError(
            f"{where}{' '.join(cmd)[:200]}: {exc}\n  exit {done.exit_code}; stderr: {excerpt}"
        ) from None


def measure(sim: SimProcess, cmd: Sequence[str], check: Check) -> Measured:
    """Run one client against `sim`, check it did its job, and time it."""
    done, records = run_on(sim, cmd)
    tool_elapsed = checked(cmd, done, lambda: check(done, records))
    first = min(row.t for row in records.cancels)
    answered = [row.answered_at for row in records.cancels if row.answered_at is not None]
    return Measured(
        wall=done.wall,
        ttw=first - done.t0,
        span=max(answered) - first if answered else None,
        requests=len(records.cancels),
        rate_limited=records.rate_limited,
        tool_elapsed=tool_elapsed,
    )


def check_wire(records: RunRecords, n_ids: int, exact_requests: int | None) -> None:
    """One connection, every ID answered exactly once with a 200 envelope, 1032s aside."""
    if records.connections != 1:
        raise BenchError(f"expected 1 connection, the simulator saw {records.connections}")
    if not records.cancels:
        raise BenchError("no cancel request reached the simulator")
    bad = [row for row in records.cancels if row.code not in (200, 1032)]
    if bad:
        raise BenchError(f"unexpected answers on the wire: {bad[:3]}")
    answered = sum(row.ids for row in records.cancels if row.code == 200)
    if answered != n_ids:
        raise BenchError(f"{answered} IDs answered with 200 on the wire, expected {n_ids}")
    if exact_requests is not None and len(records.cancels) != exact_requests:
        raise BenchError(f"{len(records.cancels)} requests on the wire, expected {exact_requests}")


def htx_check(n_ids: int, exact_requests: int | None) -> Check:
    """Exit 1 (every ID not_found), a JSON report that says so, and the wire agreeing."""

    def check(done: Finished, records: RunRecords) -> float | None:
        if done.exit_code != 1:
            raise BenchError(f"exit code {done.exit_code}, expected 1 (every ID not_found)")
        report = json.loads(done.stdout)
        summary, results = report["summary"], report["results"]
        if len(results) != n_ids or summary["not_found"] != n_ids:
            raise BenchError(f"report has {len(results)} results, summary {summary}; expected {n_ids}")
        check_wire(records, n_ids, exact_requests)
        return float(report["elapsed_ms"]) / 1000

    return check


def baseline_check(done: Finished, records: RunRecords) -> float | None:
    """Exit 0 (the request was answered 200) and exactly one 3-ID request on the wire."""
    if done.exit_code != 0:
        raise BenchError(f"exit code {done.exit_code}, expected 0")
    check_wire(records, len(baseline_client.IDS), 1)
    return None


def htx_cmd(n_ids: int) -> list[str]:
    return [htx_cancel_path(), CONTRACT, "-o", ",".join(ids(n_ids)), "--json"]


def baseline_cmd(url: str) -> list[str]:
    return [sys.executable, str(HERE / "baseline_client.py"), url]


# --------------------------------------------------------------------------- cases


@dataclass
class Results:
    """Raw numbers of every case, kept for --json and turned into the table at the end."""

    runs: int
    heavy_runs: int
    start_ours: list[Measured] = field(default_factory=list)
    start_base: list[Measured] = field(default_factory=list)
    python_bare: list[float] = field(default_factory=list)
    import_ours_us: list[int] = field(default_factory=list)
    import_base_us: list[int] = field(default_factory=list)
    run_imports_ours_us: list[int] = field(default_factory=list)
    run_imports_base_us: list[int] = field(default_factory=list)
    three_at_latency: list[Measured] = field(default_factory=list)
    five_hundred: list[Measured] = field(default_factory=list)
    rtt: list[float] = field(default_factory=list)
    thousand: list[Measured] = field(default_factory=list)
    parse_seconds: list[float] = field(default_factory=list)
    parse_rss_kb: list[int] = field(default_factory=list)
    dry_run_wall: list[float] = field(default_factory=list)
    dry_run_rss_kb: list[int] = field(default_factory=list)


def alternate(runs: int, *steps: Callable[[], None]) -> None:
    """Warm up each once (page cache, .pyc files), then alternate, reversing the order every other
    run so that neither client always runs first after the other."""
    for step in steps:
        step()
    for i in range(runs):
        for step in steps if i % 2 == 0 else tuple(reversed(steps)):
            step()


def case_start(results: Results) -> None:
    """3 IDs at zero added latency: start-up and loopback only, where the two clients differ. The
    bare interpreter runs in the same rotation, as the floor under both."""
    with simulator(0.0, UNLIMITED) as sim:
        ours: list[Measured] = []
        base: list[Measured] = []
        bare: list[float] = []
        alternate(
            results.runs,
            lambda: ours.append(measure(sim, htx_cmd(3), htx_check(3, 1))),
            lambda: base.append(measure(sim, baseline_cmd(sim.url), baseline_check)),
            lambda: bare.append(run_process([sys.executable, "-c", "pass"], client_env(sim.url)).wall),
        )
        results.start_ours, results.start_base, results.python_bare = ours[1:], base[1:], bare[1:]
        # Imports of a whole real run, not just of the module: libraries may import more lazily
        # once called (argument parsing, say), and that is start-up time all the same.
        ours_us: list[int] = []
        base_us: list[int] = []
        importtime = [sys.executable, "-X", "importtime"]
        alternate(
            results.heavy_runs,
            lambda: ours_us.append(run_imports(sim, importtime + htx_cmd(3), htx_check(3, 1))),
            lambda: base_us.append(run_imports(sim, importtime + baseline_cmd(sim.url)[1:], baseline_check)),
        )
        results.run_imports_ours_us, results.run_imports_base_us = ours_us[1:], base_us[1:]


def run_imports(sim: SimProcess, cmd: Sequence[str], check: Check) -> int:
    """One checked run under -X importtime: its import time, as `top_level_import_us` counts it."""
    done, records = run_on(sim, cmd)
    checked(cmd, done, lambda: check(done, records), stderr_tail=True)
    return top_level_import_us(done.stderr)


def top_level_import_us(stderr: str) -> int:
    """Sum of the cumulative column of the top-level lines after `site`: what the program itself
    imported, without the interpreter's own start-up (the same for every client)."""
    total, after_site = 0, False
    for line in stderr.splitlines():
        match = _TOP_LEVEL_IMPORT.match(line)
        if match is None:
            continue
        if match.group(2).strip() == "site":
            after_site = True
        elif after_site:
            total += int(match.group(1))
    if total == 0:
        raise BenchError(f"no import-time lines after site: {stderr[-500:]}")
    return total


def import_time_us(module: str) -> int:
    """`python -X importtime -c "import module"`, summed by `top_level_import_us`."""
    env = inherited_env(("PYTHON",), keep=())
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return top_level_import_us(proc.stderr)


def case_imports(results: Results) -> None:
    ours: list[int] = []
    base: list[int] = []
    alternate(
        results.runs,
        lambda: ours.append(import_time_us("htx_cancel.cli")),
        lambda: base.append(import_time_us("websocket")),
    )
    results.import_ours_us, results.import_base_us = ours[1:], base[1:]


def measure_rtt(url: str, sslopt: dict[str, object] | None = None) -> list[float]:
    """One request's round trip as a client sees it: the minimal client, one connection, one
    10-ID cancel after another, each timed from send to answer."""
    ws = baseline_client.connect(url, DEMO_ACCESS_KEY, DEMO_SECRET_KEY, sslopt=sslopt)
    if ws is None:
        raise BenchError("RTT probe: auth refused")
    samples: list[float] = []
    try:
        for n in range(RTT_SAMPLES + 1):
            start = time.perf_counter()
            answer = baseline_client.cancel(ws, f"rtt-{n}", ids(10))
            samples.append(time.perf_counter() - start)
            if not baseline_client.answer_ok(answer):
                raise BenchError(f"RTT probe: answer {answer}")
    finally:
        ws.close()
    return samples[1:]


def case_pipelined(results: Results) -> None:
    """500 IDs (50 requests, under the 60-request budget of one window) at 25 ms, beside 3 IDs at
    the same latency: pipelining should make the difference about one round trip, not 49."""
    with simulator(LATENCY, UNLIMITED) as sim:
        three: list[Measured] = []
        five: list[Measured] = []
        alternate(
            results.runs,
            lambda: three.append(measure(sim, htx_cmd(3), htx_check(3, 1))),
            lambda: five.append(measure(sim, htx_cmd(500), htx_check(500, 50))),
        )
        results.three_at_latency, results.five_hundred = three[1:], five[1:]
        results.rtt = measure_rtt(sim.url)


def case_paced(results: Results) -> None:
    """1,000 IDs (100 requests) at 25 ms against the exchange's 72-per-3-s limit. A fresh simulator
    per run, so one run's requests are never in the next run's window."""
    for _ in range(results.heavy_runs):
        with simulator(LATENCY, 72) as sim:
            results.thousand.append(measure(sim, htx_cmd(1000), htx_check(1000, None)))


def case_big_file(results: Results) -> None:
    """100,000 distinct 19-digit IDs from a file: validation time in-process, and the whole
    --dry-run (parse, validate, build and sign 10,000 frames, print them) as a process."""
    htx = htx_cancel_path()
    env = client_env("ws://127.0.0.1:9/linear-swap-trade")  # --dry-run must not touch it
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ids.txt"
        path.write_text("".join(f"{1_329_854_623_927_160_832 + n}\n" for n in range(BIG_IDS)))
        cmd = [htx, CONTRACT, "-f", str(path), "--dry-run"]
        # Checked (not timed) once: exit 0 and one auth frame plus one frame per 10 IDs.
        with (Path(tmp) / "out.txt").open("w+b") as out:
            done = run_process(cmd, env, stdout=out)
            out.seek(0)
            lines = sum(1 for _ in out)
        if done.exit_code != 0 or lines != 1 + BIG_IDS // 10:
            raise BenchError(f"--dry-run: exit {done.exit_code}, {lines} lines; {done.stderr[:2000]}")
        with open(os.devnull, "wb") as devnull:
            for _ in range(results.heavy_runs):
                done = run_process(cmd, env, stdout=devnull)
                if done.exit_code != 0:
                    raise BenchError(f"--dry-run: exit {done.exit_code}; {done.stderr[:2000]}")
                results.dry_run_wall.append(done.wall)
                results.dry_run_rss_kb.append(done.max_rss_kb)
        for _ in range(results.heavy_runs):
            done = run_process([sys.executable, "-c", _PARSE_SCRIPT, CONTRACT, str(path)], env)
            parsed = json.loads(done.stdout) if done.exit_code == 0 else None
            if parsed is None or parsed["ids"] != BIG_IDS:
                raise BenchError(
                    f"parse_inputs: exit {done.exit_code}, {done.stdout[:200]} {done.stderr[:2000]}"
                )
            results.parse_seconds.append(float(parsed["seconds"]))
            results.parse_rss_kb.append(int(parsed["max_rss_kb"]))


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class FileCase:
    """The 100,000-ID file case's figures and targets, in this table and in big.py's."""

    runs: int
    parse: Stat
    parse_rss: Stat
    dry: Stat
    dry_rss: Stat

    @classmethod
    def of(cls, results: Results) -> FileCase:
        return cls(
            results.heavy_runs,
            Stat.of(results.parse_seconds),
            Stat.of([kb / 1024 for kb in results.parse_rss_kb]),
            Stat.of(results.dry_run_wall),
            Stat.of([kb / 1024 for kb in results.dry_run_rss_kb]),
        )

    def verdicts(self) -> dict[str, bool]:
        return {
            "ids_100k_parse": self.parse.median < TARGET_PARSE_SECONDS,
            "ids_100k_rss": self.dry_rss.median < TARGET_RSS_MB,
        }

    def rows(self, gap: Sequence[str] = (), rss_label: str = "") -> list[str]:
        """Parse time, --dry-run wall and --dry-run RSS: the label, the figure, `gap` (the empty
        cells of the table's other columns), the target and whether it is met."""
        h, met = self.runs, self.verdicts()
        return [
            row(
                f"100,000 IDs from a file: parse + validate, in-process (n={h})",
                self.parse.show(),
                *gap,
                f"< {TARGET_PARSE_SECONDS * 1000:.0f} ms",
                verdict(met["ids_100k_parse"]),
            ),
            row(f"100,000 IDs: `--dry-run` whole-process wall (n={h})", self.dry.show(), *gap, "(info)", ""),
            row(
                rss_label or f"100,000 IDs: `--dry-run` peak RSS (n={h})",
                self.dry_rss.show(1, 1, "MB"),
                *gap,
                f"< {TARGET_RSS_MB:.0f} MB",
                verdict(met["ids_100k_rss"]),
            ),
        ]


def table(results: Results) -> tuple[list[str], dict[str, bool]]:
    """The markdown table and the target verdicts (also saved with --json)."""
    n, h = results.runs, results.heavy_runs
    ttw_ours, ttw_base = ttws(results.start_ours), ttws(results.start_base)
    wall_ours, wall_base = walls(results.start_ours), walls(results.start_base)
    imp_ours = Stat.of([us / 1e6 for us in results.import_ours_us])
    imp_base = Stat.of([us / 1e6 for us in results.import_base_us])
    bare = Stat.of(results.python_bare)
    run_imp_ours = Stat.of([us / 1e6 for us in results.run_imports_ours_us])
    run_imp_base = Stat.of([us / 1e6 for us in results.run_imports_base_us])
    three = walls(results.three_at_latency)
    five, five_span = walls(results.five_hundred), spans(results.five_hundred)
    rtt = Stat.of(results.rtt)
    thousand, thousand_span = walls(results.thousand), spans(results.thousand)
    thousand_1032 = [m.rate_limited for m in results.thousand]
    file = FileCase.of(results)

    ttw_ratio = ttw_ours.median / ttw_base.median
    wall_ratio = wall_ours.median / wall_base.median
    extra_500 = five.median - three.median
    sequential = three.median + 49 * rtt.median
    pace_wall = three.median + WINDOW + MARGIN
    pace_wire = WINDOW + MARGIN + rtt.median
    extra_1000 = TARGET_1000_EXTRA_RTTS * rtt.median
    verdicts = {
        "time_to_wire": ttw_ratio <= TARGET_TTW_RATIO,
        "whole_process_wall": wall_ratio <= TARGET_WALL_RATIO,
        "ids_500": extra_500 <= TARGET_500_RTTS * rtt.median,
        "ids_1000_no_1032": sum(thousand_1032) == 0,
        "ids_1000_wall": thousand.median <= pace_wall + extra_1000,
        "ids_1000_wire": thousand_span.median <= pace_wire + extra_1000,
        **file.verdicts(),
    }
    rows = [
        *head(
            "metric", "htx-cancel median (min-max)", "baseline median (min-max)", "ratio", "target", "met?"
        ),
        f"| time-to-wire, 3 IDs, 0 ms latency (n={n}) | {ttw_ours.show()} | {ttw_base.show()} "
        f"| {ttw_ratio:.2f}x | <= {TARGET_TTW_RATIO:.2f}x | {verdict(verdicts['time_to_wire'])} |",
        f"| whole-process wall, 3 IDs, 0 ms latency (n={n}) | {wall_ours.show()} | {wall_base.show()} "
        f"| {wall_ratio:.2f}x | <= {TARGET_WALL_RATIO:.2f}x | {verdict(verdicts['whole_process_wall'])} |",
        f"| import time of the send path, -X importtime (n={n}) | {imp_ours.show()} `htx_cancel.cli` "
        f"| {imp_base.show()} `websocket` | {imp_ours.median / imp_base.median:.2f}x | (info) | |",
        f"| imports during a real 3-ID run, -X importtime (n={h}) | {run_imp_ours.show()} "
        f"| {run_imp_base.show()} | {run_imp_ours.median / run_imp_base.median:.2f}x | (info) | |",
        f"| bare interpreter, `python -c pass` wall (n={n}) | | {bare.show()} | | (info) | |",
        f"| 3 IDs, 25 ms latency, wall (n={n}) | {three.show()} | | | (reference) | |",
        f"| round trip at 25 ms, minimal client (n={len(results.rtt)}) | | {rtt.show()} | | (reference) | |",
        f"| 500 IDs / 50 requests, 25 ms latency, wall (n={n}) | {five.show()} | "
        f"one after another ~ {ms(sequential)} | {five.median / sequential:.2f}x "
        f"| <= 3-ID + {TARGET_500_RTTS:.0f} RTT = {ms(three.median + TARGET_500_RTTS * rtt.median)} "
        f"| {verdict(verdicts['ids_500'])} |",
        f"| 500 IDs: extra over 3 IDs | {ms(extra_500)} = {extra_500 / rtt.median:.2f} RTT | "
        f"one after another: +49 RTT | | <= {TARGET_500_RTTS:.0f} RTT | {verdict(verdicts['ids_500'])} |",
        f"| 500 IDs: on the wire, first request in to last answer out (n={n}) | {five_span.show()} "
        "| | | (info) | |",
        f"| 1,000 IDs / 100 requests, 25 ms, limit 72/3 s, wall (n={h}) | {thousand.show()} | "
        f"least the default pace allows: {ms(pace_wall)} | {thousand.median / pace_wall:.2f}x "
        f"| <= {ms(pace_wall + extra_1000)} | {verdict(verdicts['ids_1000_wall'])} |",
        f"| 1,000 IDs: on the wire, first request in to last answer out (n={h}) | {thousand_span.show()} "
        f"| pace floor {ms(pace_wire)} | {thousand_span.median / pace_wire:.2f}x "
        f"| <= {ms(pace_wire + extra_1000)} | {verdict(verdicts['ids_1000_wire'])} |",
        f"| 1,000 IDs: 1032 answers, per run (n={h}) | {thousand_1032} | | | 0 "
        f"| {verdict(verdicts['ids_1000_no_1032'])} |",
        *file.rows(gap=("", "")),
        f"| 100,000 IDs: parse_inputs process peak RSS (n={h}) | {file.parse_rss.show(1, 1, 'MB')} | | "
        "| (info) | |",
    ]
    return rows, verdicts


def notes(results: Results) -> list[str]:
    """How the comparison points were obtained, and where htx-cancel's extra time goes."""
    ours = results.start_ours
    wall = walls(ours).median
    inside = Stat.of([m.tool_elapsed for m in ours if m.tool_elapsed is not None]).median
    ttw = ttws(ours).median
    ttw_gap = ttw - ttws(results.start_base).median
    import_gap = (
        statistics.median(results.run_imports_ours_us) - statistics.median(results.run_imports_base_us)
    ) / 1e6
    return [
        f'- Import time of the send path: `python -X importtime -c "import htx_cancel.cli"` '
        f"{statistics.median(results.import_ours_us) / 1000:.1f} ms vs `import websocket` "
        f"{statistics.median(results.import_base_us) / 1000:.1f} ms (top-level lines after `site`, "
        "cumulative column, median). A real run imports more than the module does "
        f"({statistics.median(results.run_imports_ours_us) / 1000:.1f} ms vs "
        f"{statistics.median(results.run_imports_base_us) / 1000:.1f} ms for the baseline).",
        f"- Where the time-to-wire gap goes: htx-cancel puts its first cancel on the wire {ms(ttw_gap)} "
        f"after the baseline; imports during the run account for about {ms(import_gap)} of it "
        "(-X importtime inflates them a little); the rest is argument parsing, validation, "
        "credential resolution and signing.",
        f"- htx-cancel, 3 IDs at 0 ms: {ms(wall)} wall, of which {ms(inside)} is its own `elapsed_ms` "
        f"(connect to report); the first cancel reaches the simulator {ms(ttw)} after Popen.",
        "- RTT: the minimal client on one authenticated connection, one 10-ID request after another, "
        "send to answer. 'One after another' for 500 IDs = 3-ID wall + 49 x RTT.",
        f"- Least wall the default pace allows for 1,000 IDs = 3-ID wall at 25 ms + {WINDOW + MARGIN:g} s "
        f"(htx_cancel.pacing WINDOW + MARGIN: the 61st of 100 requests waits for it at --max-rate 60); "
        f"pace floor on the wire = {WINDOW + MARGIN:g} s + 1 RTT.",
        f"- Rate limit: 72/3 s only in the 1,000-ID case (a fresh simulator per run, {results.heavy_runs} "
        "runs); elsewhere unlimited so back-to-back runs cannot trip each other's windows.",
    ]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="alternating runs per light case (>= 7)")
    parser.add_argument("--heavy-runs", type=int, default=3, help="runs of the 1,000 and 100,000 ID cases")
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.heavy_runs < 1:
        parser.error("--runs and --heavy-runs must be at least 1")
    results = Results(args.runs, args.heavy_runs)
    started = time.monotonic()
    steps: list[tuple[str, Callable[[Results], None]]] = [
        ("start-up, 3 IDs", case_start),
        ("import time", case_imports),
        ("500 IDs at 25 ms", case_pipelined),
        ("1,000 IDs against the rate limit", case_paced),
        ("100,000 IDs from a file", case_big_file),
    ]
    try:
        for name, step in steps:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            step(results)
    except BenchError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    rows, verdicts = table(results)
    print_report("htx-cancel benchmark", started, rows, notes(results))
    save_json(args.json, results, verdicts, "targets_met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
