"""Big runs stay small and quick: peak memory and time of a 1,000,000-ID cancel, and 100,000-row tables.

    python tests/benchmarks/big.py [--runs N] [--ids N] [--rate N] [--json PATH]
    python tests/benchmarks/big.py --profile [--profile-ids N]

The cancel runs go through `htx_cancel.engine.run_cancel` in a process of its own (so its peak
RSS, from wait4, is its own), the way the CLI calls it: `parse_inputs` reads the IDs from a file
as `-f` does, `run_cancel` cancels them over a real socket against simserver.py in ANOTHER
process with its rate limit off, and the JSON report is rendered to /dev/null, since the report
is part of the run. Why not the CLI: `--max-rate` stops at 72 per 3.25 s, so 40,000 requests
would take the pace alone half an hour; the core takes any `RunSettings(max_rate=...)`, and only
the pace differs from a CLI run.

The tables: a synthetic Report of 100,000 rows (every state, half with client order IDs, some
messages long enough to wrap) rendered by `render.render_table` in a child process to a pipe and
to a pty (80 and 120 columns, colour on), timed inside the child from the call to the flush.

`--profile` runs the cancel at N and 2N IDs under tracemalloc and prints what grows per ID, by
the innermost htx_cancel line that allocated it: at the run's peak (the end of run_cancel, when
the ledger and the report's results are both alive) and once run_cancel has returned; and, from
2N IDs at batch 10 against batch 25, what grows per request.

Not collected by pytest (pyproject ignores tests/benchmarks). A default run takes about six
minutes; numbers are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import functools
import json
import os
import re
import struct
import sys
import tempfile
import termios
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import bench
from bench import CONTRACT, UNLIMITED, alternate, run_on, simulator
from common import BenchError, Stat, head, inherited_env, print_report, run_process, save_json, verdict

from htx_cancel.pacing import MARGIN, WINDOW

BIG_IDS: Final = 1_000_000
SLOPE_IDS: Final = 100_000
"""A second, smaller run at the same batch size: (peak at BIG_IDS - peak here) / the difference
is what one more ID costs, start-up and imports cancelled out."""
REQUEST_IDS: Final = 100_000
"""Run at batch 10 and at batch 25: the same IDs in 10,000 and 4,000 requests, so the difference
in peak RSS is what one more request costs."""
REQUEST_IDS_PER_WINDOW: Final = 20_000
"""Both of those runs put this many IDs on the wire per 3.25 s (rate 2,000 at batch 10, 800 at
batch 25): the answers in flight, decoded and dropped, leave the allocator's arenas as full as
each other, so the peaks differ by the requests alone. (At one rate for both, batch 25 came out
5 MB *higher* than batch 10 for 12,000 fewer requests: 2.5 times the IDs in flight.)"""
BATCH: Final = 25
"""The largest --batch-size the CLI accepts (HTX's per-request limit)."""
SMALL_BATCH: Final = 10
RATE: Final = 2000
"""Requests per 3.25 s (WINDOW + MARGIN). Not 10**9: with no pace at all every request is in
flight at once, and the engine looks at everything in flight after every answer (see the
README), so the run becomes quadratic and answers outlive --timeout (measured: 1,000,000 IDs at
10**9 ended with 986,125 `unknown`; at 4,000, on a loaded machine, 33,275). At 2,000 the pace
floor for 40,000 requests is 61.75 s; the CPU time of the run is printed beside."""
TIMEOUT_S: Final = 900.0
"""A million-ID child still running after this is hung: killed, and the benchmark stops."""
FIRST_ID: Final = 1_329_854_623_927_160_832
"""19-digit order IDs from here on: real-sized, and not in the demo book (every answer is 1061)."""

TABLE_ROWS: Final = 100_000
PTY_WIDTHS: Final = (80, 120)
"""80 columns leave the message too little room: one block per order. 120: the table, wrapped."""

TARGET_RSS_MB: Final = 500.0
TARGET_TABLE_S: Final = 2.0

PROFILE_DEPTH: Final = 4
"""Frames kept per allocation: enough to get from a NamedTuple's `<string>:1` or json's decoder
up to the htx_cancel line that asked for it."""
PROFILE_IDS_PER_WINDOW: Final = 20_000
"""Rate 800 at batch 25, 2,000 at batch 10: few enough in flight that tracing's slowness cannot
cost a connection (at 3,000 requests per window a batch-10 run under tracemalloc resent 6,500
requests on a new connection, which the per-request figures then counted)."""
PROFILE_TOP: Final = 15

_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
_ROW_START: Final = re.compile(r"^(?:order )?[0-9]{19}(?![0-9])", re.MULTILINE)
"""The first line of one row: the order ID at column 0 (table) or after `order ` (blocks)."""

_RUN_SCRIPT: Final = """
import json, os, sys, time

def rss():
    # VmHWM, the peak RSS of this process's own memory since exec (kB). Not ru_maxrss: Linux
    # starts a child's ru_maxrss at its parent's RSS at the fork, the benchmark's, not ours.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status")

from htx_cancel import render
from htx_cancel.engine import run_cancel
from htx_cancel.inputs import parse_inputs
from htx_cancel.models import Credentials, RunSettings

path, contract, batch, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
env = os.environ
marks = {"imports": rss()}
t0 = time.perf_counter()
request = parse_inputs(contract, files=[path])
t1 = time.perf_counter()
marks["parse"] = rss()
settings = RunSettings(url=env["HTX_WS_URL"], batch_size=batch, max_rate=rate)
credentials = Credentials(env["HTX_ACCESS_KEY"], env["HTX_SECRET_KEY"])
report = run_cancel(request, credentials, settings)
t2 = time.perf_counter()
marks["run"] = rss()
render.render_json(report, sys.stdout)
sys.stdout.flush()
t3 = time.perf_counter()
marks["render"] = rss()
print(json.dumps({
    "parse_s": t1 - t0, "run_s": t2 - t1, "render_s": t3 - t2, "rss_kb": marks,
    "elapsed_ms": report.elapsed_ms, "results": len(report.results), "summary": report.summary(),
    "problems": list(report.problems), "interrupted": report.interrupted,
}), file=sys.stderr)
"""
"""One cancel run as the CLI makes it (IDs from a file, the report on stdout), with the pace the
only difference; the phases' times and ru_maxrss after each go to stderr's last line."""

_TABLE_SCRIPT: Final = """
import json, os, sys, time
from htx_cancel import render
from htx_cancel.models import OrderResult, Report, State

rows, first, contract = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
kinds = [
    (State.CANCELLED, 200, "Success"),
    (State.ALREADY_CANCELLED, 1071, "Repeated cancellation. Your order has been canceled."),
    (State.CANCELLING, 1062, "Canceling. Thank you for your patience."),
    (State.NOT_FOUND, 1061, "The order does not exist."),
    (State.FILLED, 1063, "The order has been executed."),
    (State.REJECTED, 1032, "Maximum number of access attempts exceeded."),
    (State.UNKNOWN, None, "no answer within 10 s; the connection was lost and could not be "
        "re-established (4 connection attempts)"),
]
results = []
for n in range(rows):
    state, code, message = kinds[n % len(kinds)]
    client = str(5_000_000_000 + n) if n % 2 else None
    results.append(OrderResult(str(first + n), client, state, code, message, 1))
report = Report(contract, "wss://api.hbdm.com/linear-swap-trade", False, 61_234, 0, tuple(results))
start = time.perf_counter()
render.render_table(report, sys.stdout, bool(os.environ.get("NO_COLOR")))
sys.stdout.flush()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "summary": render.summary_line(report)}), file=sys.stderr)
"""
"""A 100,000-row report of every state, timed from render_table to the flush of stdout."""

_PROFILE_SCRIPT: Final = """
import json, os, sys, tracemalloc
tracemalloc.start(int(sys.argv[5]))
from htx_cancel import ledger, render
from htx_cancel.engine import run_cancel
from htx_cancel.inputs import parse_inputs
from htx_cancel.models import Credentials, RunSettings

path, contract, batch, rate, _, out = sys.argv[1:7]
env = os.environ
peak = {}
results = getattr(ledger.Ledger, "results", None)
if results is not None:
    def snapshot_at_peak(self):
        found = results(self)
        peak["snapshot"] = tracemalloc.take_snapshot()
        return found
    ledger.Ledger.results = snapshot_at_peak
request = parse_inputs(contract, files=[path])
parse_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
settings = RunSettings(url=env["HTX_WS_URL"], batch_size=int(batch), max_rate=int(rate), timeout=600.0)
report = run_cancel(request, Credentials(env["HTX_ACCESS_KEY"], env["HTX_SECRET_KEY"]), settings)
run_peak = tracemalloc.get_traced_memory()[1]
after = tracemalloc.take_snapshot()
with open(os.devnull, "w") as devnull:
    render.render_json(report, devnull)
render_peak = tracemalloc.get_traced_memory()[1]
after.dump(os.path.join(out, "after_run.tm"))
if "snapshot" in peak:
    peak["snapshot"].dump(os.path.join(out, "peak.tm"))
print(json.dumps({"parse_peak": parse_peak, "run_peak": run_peak, "render_peak": render_peak,
                  "summary": report.summary(), "results": len(report.results)}))
"""
"""The same run under tracemalloc, with --timeout 600 s so that tracing's slowness cannot turn
answers into retries; snapshots at the peak (inside Ledger.results) and after run_cancel."""


# --------------------------------------------------------------------------- cancel runs


@dataclass(frozen=True)
class BigRun:
    """One checked in-process cancel run: its process's numbers and its own phase timings."""

    ids: int
    batch: int
    rate: int
    requests: int
    wall: float
    cpu: float
    wait4_maxrss_kb: int
    """wait4's ru_maxrss: at least this benchmark's own RSS when it spawned the child (Linux), so
    only a cross-check; the peak is the child's own VmHWM."""
    parse_s: float
    run_s: float
    render_s: float
    elapsed_ms: int
    rss_kb: dict[str, int]
    """VmHWM after imports, parse, run_cancel and the report: where the peak was reached."""

    @property
    def peak_kb(self) -> int:
        """The child's peak RSS over its whole life (its VmHWM once the report is written)."""
        return self.rss_kb["render"]


def write_ids(path: Path, count: int) -> None:
    with path.open("w") as out:
        for start in range(0, count, 100_000):
            out.write("".join(f"{FIRST_ID + n}\n" for n in range(start, min(start + 100_000, count))))


def pace_floor(requests: int, rate: int) -> float:
    """Least time the pace allows: the (rate+1)th request waits WINDOW + MARGIN, and so on."""
    return ((requests - 1) // rate) * (WINDOW + MARGIN)


def run_big(ids_path: Path, count: int, batch: int, rate: int) -> BigRun:
    """A fresh simulator (rate limit off) in its own process, one child run against it, checked:
    exit 0, every ID not_found in the report, no problems, and on the wire one connection, one
    request per batch, every ID answered 200 and no 1032."""
    requests = -(-count // batch)
    cmd = [sys.executable, "-c", _RUN_SCRIPT, str(ids_path), CONTRACT, str(batch), str(rate)]
    with simulator(0.0, UNLIMITED) as sim, open(os.devnull, "wb") as devnull:
        done, records = run_on(sim, cmd, stdout=devnull, timeout=TIMEOUT_S)
    what = f"{count} IDs at batch {batch}, rate {rate}"
    try:
        if done.exit_code != 0:
            raise BenchError(f"exit code {done.exit_code}")
        child = json.loads(done.stderr.strip().splitlines()[-1])
        summary = child["summary"]
        if child["results"] != count or summary["not_found"] != count:
            raise BenchError(f"{child['results']} results, summary {summary}; expected {count} not_found")
        if child["problems"] or child["interrupted"]:
            raise BenchError(f"problems {child['problems'][:3]}, interrupted {child['interrupted']}")
        bench.check_wire(records, count, requests)
        if records.rate_limited:
            raise BenchError(f"{records.rate_limited} answers 1032 with the rate limit off")
    except (BenchError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise BenchError(f"{what}: {exc}\n  stderr: {done.stderr.strip()[-2000:]}") from None
    return BigRun(
        count,
        batch,
        rate,
        requests,
        done.wall,
        done.cpu,
        done.max_rss_kb,
        float(child["parse_s"]),
        float(child["run_s"]),
        float(child["render_s"]),
        int(child["elapsed_ms"]),
        {key: int(value) for key, value in child["rss_kb"].items()},
    )


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableRun:
    where: str
    seconds: float
    wall: float
    output_bytes: int


def table_env() -> dict[str, str]:
    """The benchmark's environment without PYTHON* (PYTHONPATH kept), colour allowed, and no
    COLUMNS: a pty's width comes from its window size, as in a terminal."""
    env = inherited_env(("PYTHON", "HTX_"))
    for key in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(key, None)
    env["TERM"] = "xterm-256color"
    return env


def check_table(where: str, text: str, stderr: str, exit_code: int) -> float:
    """Exit 0, one row start per result, and the summary line last; returns the child's time."""
    if exit_code != 0:
        raise BenchError(f"table to {where}: exit {exit_code}; {stderr[-2000:]}")
    child = json.loads(stderr.strip().splitlines()[-1])
    plain = _ANSI.sub("", text).replace("\r\n", "\n")
    rows = len(_ROW_START.findall(plain))
    if rows != TABLE_ROWS:
        raise BenchError(f"table to {where}: {rows} row starts, expected {TABLE_ROWS}")
    summary = " ".join(str(child["summary"]).split())  # a terminal wraps it between words
    if not " ".join(plain[-2000:].split()).endswith(summary):
        raise BenchError(f"table to {where}: summary {summary!r} not at the end: {plain[-300:]!r}")
    return float(child["seconds"])


def run_table_pipe() -> TableRun:
    cmd = [sys.executable, "-c", _TABLE_SCRIPT, str(TABLE_ROWS), str(FIRST_ID), CONTRACT]
    done = run_process(cmd, table_env())
    seconds = check_table("a pipe", done.stdout, done.stderr, done.exit_code)
    return TableRun("pipe", seconds, done.wall, len(done.stdout.encode()))


def run_table_pty(columns: int) -> TableRun:
    """The child's stdout is a pty of `columns` x 50; this process drains the other side as fast
    as os.read goes (a terminal emulator that draws would be slower, which is its time, not ours)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    cmd = [sys.executable, "-c", _TABLE_SCRIPT, str(TABLE_ROWS), str(FIRST_ID), CONTRACT]

    def drain() -> bytes:
        os.close(slave)  # the child has its own copy
        chunks: list[bytes] = []
        try:
            while True:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # EIO: every copy of the slave side is closed
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(master)
        return b"".join(chunks)

    done = run_process(cmd, table_env(), stdout=slave, drain=drain)
    seconds = check_table(f"a {columns}-column pty", done.stdout, done.stderr, done.exit_code)
    return TableRun(f"pty{columns}", seconds, done.wall, len(done.stdout.encode()))


# --------------------------------------------------------------------------- cases


@dataclass
class Results:
    runs: int
    ids: int
    rate: int
    big: list[BigRun] = field(default_factory=list)
    slope: list[BigRun] = field(default_factory=list)
    per_request_small: list[BigRun] = field(default_factory=list)
    per_request_big: list[BigRun] = field(default_factory=list)
    tables: list[TableRun] = field(default_factory=list)
    file: bench.Results | None = None
    file_parent_rss_kb: int = 0
    """This process's RSS when bench.case_big_file spawned its --dry-run runs: their wait4 figure
    cannot be lower than it."""


def case_cancels(results: Results, tmp: Path) -> None:
    """The million, the smaller run for the per-ID slope, and batch 10 against 25 for the per-request
    cost, interleaved so that drift on the machine falls on all of them alike."""
    big_path, slope_path, request_path = tmp / "big.txt", tmp / "slope.txt", tmp / "request.txt"
    write_ids(big_path, results.ids)
    write_ids(slope_path, SLOPE_IDS)
    write_ids(request_path, REQUEST_IDS)
    for n in range(results.runs):
        print(f"big: run {n + 1}/{results.runs}: {results.ids:,} IDs ...", file=sys.stderr, flush=True)
        results.big.append(run_big(big_path, results.ids, BATCH, results.rate))
        results.slope.append(run_big(slope_path, SLOPE_IDS, BATCH, results.rate))
        for batch, runs in ((SMALL_BATCH, results.per_request_small), (BATCH, results.per_request_big)):
            runs.append(run_big(request_path, REQUEST_IDS, batch, REQUEST_IDS_PER_WINDOW // batch))


def case_tables(results: Results) -> None:
    """The pipe and each pty in one rotation, as bench.alternate runs it (warm-ups first)."""
    runs: list[TableRun] = []

    def pipe() -> None:
        runs.append(run_table_pipe())

    def pty(columns: int) -> None:
        runs.append(run_table_pty(columns))

    steps: list[Callable[[], None]] = [pipe, *(functools.partial(pty, width) for width in PTY_WIDTHS)]
    alternate(results.runs, *steps)
    results.tables = runs[len(steps) :]  # the warm-ups: .pyc files and the page cache


def case_file(results: Results) -> None:
    """bench.py's 100,000-ID file case, unchanged: parse time and the --dry-run's wall and RSS."""
    file_results = bench.Results(results.runs, results.runs)
    results.file_parent_rss_kb = own_rss_kb()
    bench.case_big_file(file_results)
    results.file = file_results


def own_rss_kb() -> int:
    """This process's resident set now (VmRSS, kB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- report


def mb(kb: float) -> float:
    return kb / 1024


def table(results: Results) -> tuple[list[str], dict[str, bool]]:
    n = results.runs
    big = results.big
    peak = Stat.of([mb(r.peak_kb) for r in big])
    wall = Stat.of([r.wall for r in big])
    run_s = Stat.of([r.run_s for r in big])
    parse_s = Stat.of([r.parse_s for r in big])
    render_s = Stat.of([r.render_s for r in big])
    cpu = Stat.of([r.cpu for r in big])
    after = {key: Stat.of([mb(r.rss_kb[key]) for r in big]) for key in ("imports", "parse", "run", "render")}
    requests = big[0].requests
    floor = pace_floor(requests, results.rate)
    slope_peak = Stat.of([mb(r.peak_kb) for r in results.slope])
    per_id = (peak.median - slope_peak.median) * 1024 * 1024 / (results.ids - SLOPE_IDS)
    small_b = Stat.of([mb(r.peak_kb) for r in results.per_request_small])
    big_b = Stat.of([mb(r.peak_kb) for r in results.per_request_big])
    extra_requests = results.per_request_small[0].requests - results.per_request_big[0].requests
    per_request = (small_b.median - big_b.median) * 1024 * 1024 / extra_requests
    allowed = (TARGET_RSS_MB - after["imports"].median) * 1024 * 1024 / results.ids

    def seconds(stat: Stat) -> str:
        return stat.show(1.0, 2, "s")

    ids = f"{results.ids:,} IDs"
    verdicts = {"ids_big_rss": peak.median < TARGET_RSS_MB}
    rows = [
        *head("metric", "median (min-max)", "goal", "met?"),
        f"| {ids}, batch {BATCH}, rate {results.rate}/3.25 s: peak RSS of the run, report included (n={n}) "
        f"| {peak.show(1, 1, 'MB')} | < {TARGET_RSS_MB:.0f} MB | {verdict(verdicts['ids_big_rss'])} |",
        f"| {ids}: VmHWM after imports / parse_inputs / run_cancel / JSON report (n={n}) "
        f"| {' / '.join(f'{after[k].median:.0f}' for k in after)} MB | (where the peak is) | |",
        f"| {ids}: whole process, start to reaped (n={n}) | {seconds(wall)} | (info) | |",
        f"| {ids}: run_cancel, {requests:,} requests, connect to report (n={n}) | {seconds(run_s)} "
        f"| pace floor at {results.rate}/3.25 s: {floor:.2f} s | |",
        f"| {ids}: parse_inputs from a file (n={n}) | {seconds(parse_s)} | (info) | |",
        f"| {ids}: render_json to /dev/null (n={n}) | {seconds(render_s)} | (info) | |",
        f"| {ids}: CPU user+sys of the run's process (n={n}) | {seconds(cpu)} | (info) | |",
        f"| {SLOPE_IDS:,} IDs, same run: peak RSS (n={n}) | {slope_peak.show(1, 1, 'MB')} | (info) | |",
        f"| bytes of peak RSS per ID, ({results.ids:,} - {SLOPE_IDS:,}) IDs | {per_id:.0f} B/ID "
        f"| <= {allowed:.0f} B/ID meets {TARGET_RSS_MB:.0f} MB | {verdict(per_id <= allowed)} |",
        f"| {REQUEST_IDS:,} IDs at batch {SMALL_BATCH} vs {BATCH}, {REQUEST_IDS_PER_WINDOW:,} IDs "
        f"per 3.25 s: peak RSS (n={n}) "
        f"| {small_b.median:.1f} vs {big_b.median:.1f} MB | (info) | |",
        f"| bytes of peak RSS per request, {extra_requests:,} more requests | {per_request:.0f} B/request "
        "| (info) | |",
    ]
    places = [("pipe", "a pipe"), *((f"pty{w}", f"a pty, {w} columns, colour") for w in PTY_WIDTHS)]
    for where, label in places:
        runs = [t for t in results.tables if t.where == where]
        stat = Stat.of([t.seconds for t in runs])
        ok = stat.median < TARGET_TABLE_S
        verdicts[f"table_{where}"] = ok
        size = runs[0].output_bytes / 1e6
        rows.append(
            f"| {TABLE_ROWS:,}-row table to {label}: render_table to flush, {size:.1f} MB (n={len(runs)}) "
            f"| {seconds(stat)} | < {TARGET_TABLE_S:.0f} s | {verdict(ok)} |"
        )
    if results.file is not None:
        file = bench.FileCase.of(results.file)
        verdicts.update(file.verdicts())
        parent = mb(results.file_parent_rss_kb)
        spawn = f"this process was {parent:.0f} MB at spawn"
        rows += file.rows(rss_label=f"100,000 IDs: `--dry-run` peak RSS, wait4 (n={file.runs}; {spawn})")
    return rows, verdicts


# --------------------------------------------------------------------------- profile


Growth = dict[tuple[str, str], tuple[int, int]]
"""(innermost htx_cancel line, allocating line) -> (bytes, blocks)."""


def _short(filename: str) -> str:
    for marker in ("/htx_cancel/", "/json/", "/websocket/"):
        if marker in filename:
            return filename[filename.rindex(marker) + 1 :]
    return Path(filename).name


def attribute(snapshot: tracemalloc.Snapshot) -> Growth:
    """Each live block, charged to the innermost htx_cancel frame that led to it (a NamedTuple's
    `<string>:1` or json's decoder says little); the allocating frame is kept beside it."""
    sizes: collections.Counter[tuple[str, str]] = collections.Counter()
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for trace in snapshot.traces:
        frames = list(trace.traceback)  # oldest first
        inner = frames[-1]
        owner = next(
            (f for f in reversed(frames) if "/htx_cancel/" in f.filename and "/simulator/" not in f.filename),
            None,
        )
        key = (
            f"{_short(owner.filename)}:{owner.lineno}" if owner else f"(outside) {_short(inner.filename)}",
            f"{_short(inner.filename)}:{inner.lineno}",
        )
        sizes[key] += trace.size
        counts[key] += 1
    return {key: (sizes[key], counts[key]) for key in sizes}


def growth(small: Growth, large: Growth, ids: int) -> list[tuple[float, float, str, str]]:
    """(bytes per ID, blocks per ID, where, allocated at), largest first."""
    rows = []
    for key in set(small) | set(large):
        size = large.get(key, (0, 0))[0] - small.get(key, (0, 0))[0]
        count = large.get(key, (0, 0))[1] - small.get(key, (0, 0))[1]
        rows.append((size / ids, count / ids, key[0], key[1]))
    return sorted(rows, reverse=True)


def _line_text(where: str) -> str:
    """The source line behind `htx_cancel/x.py:N`, for the profile table."""
    if not where.startswith("htx_cancel/"):
        return ""
    path, _, number = where.rpartition(":")
    source = Path(bench.__file__).resolve().parents[2] / path
    try:
        return "`" + source.read_text().splitlines()[int(number) - 1].strip().replace("|", "\\|") + "`"
    except (OSError, IndexError, ValueError):
        return ""


def profile_run(tmp: Path, count: int, batch: int, rate: int) -> dict[str, Growth]:
    """One cancel run under tracemalloc, checked; its snapshots, attributed."""
    path = tmp / f"ids{count}.txt"
    if not path.exists():
        write_ids(path, count)
    out = tmp / f"snap{count}-{batch}"
    out.mkdir()
    what = f"{count:,} IDs at batch {batch}"
    print(f"big: profiling {what} under tracemalloc ...", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-c", _PROFILE_SCRIPT, str(path), CONTRACT, str(batch), str(rate)]
    cmd += [str(PROFILE_DEPTH), str(out)]
    with simulator(0.0, UNLIMITED) as sim:
        done, records = run_on(sim, cmd, timeout=TIMEOUT_S * 2)
    if done.exit_code != 0:
        raise BenchError(f"profile, {what}: exit {done.exit_code}; {done.stderr[-2000:]}")
    child = json.loads(done.stdout)
    if child["summary"]["not_found"] != count:
        raise BenchError(f"profile, {what}: summary {child['summary']}")
    try:
        bench.check_wire(records, count, -(-count // batch))
    except BenchError as exc:
        raise BenchError(f"profile, {what}: {exc} (resends would count as per-ID memory)") from None
    print(
        f"- {what}: traced peak {child['run_peak'] / 1e6:.1f} MB in run_cancel, "
        f"{child['parse_peak'] / 1e6:.1f} MB in parse_inputs, {child['render_peak'] / 1e6:.1f} MB "
        "by the end of render_json"
    )
    return {
        name: attribute(tracemalloc.Snapshot.load(str(out / f"{name}.tm")))
        for name in ("peak", "after_run")
        if (out / f"{name}.tm").exists()
    }


def print_growth(title: str, small: Growth, large: Growth, units: int, unit: str) -> None:
    rows = growth(small, large, units)
    total = sum(row[0] for row in rows)
    print(f"{title}: {total:.0f} B/{unit} in all\n")
    print(f"| B/{unit} | blocks/{unit} | htx_cancel line | allocated at | source |")
    print("| ---: | ---: | --- | --- | --- |")
    for per, blocks, where, inner in [row for row in rows if abs(row[0]) >= 0.5][:PROFILE_TOP]:
        print(f"| {per:.1f} | {blocks:.2f} | {where} | {inner} | {_line_text(where)} |")
    print()


def profile(ids: int, per_window: int) -> int:
    """tracemalloc at `ids` and 2 x `ids` (batch 25): what each ID adds, at the peak and in the
    report; and 2 x `ids` at batch 10: what each request adds."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        small = profile_run(tmp, ids, BATCH, per_window // BATCH)
        large = profile_run(tmp, 2 * ids, BATCH, per_window // BATCH)
        many = profile_run(tmp, 2 * ids, SMALL_BATCH, per_window // SMALL_BATCH)
    print()
    titles = {
        "peak": "at the peak, the end of run_cancel (ledger, plan and the report's results all alive)",
        "after_run": "once run_cancel has returned (what the Report and the request keep)",
    }
    for name, title in titles.items():
        if name in small and name in large:
            print_growth(f"Per ID, {title}", small[name], large[name], ids, "ID")
    extra = -(-2 * ids // SMALL_BATCH) - -(-2 * ids // BATCH)
    if "peak" in many and "peak" in large:
        print_growth(
            f"Per request ({2 * ids:,} IDs at batch {SMALL_BATCH} against {BATCH}: {extra:,} more requests), "
            + titles["peak"],
            large["peak"],
            many["peak"],
            extra,
            "request",
        )
    return 0


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (medians)")
    parser.add_argument("--ids", type=int, default=BIG_IDS, help="IDs of the big run")
    parser.add_argument("--rate", type=int, default=RATE, help="RunSettings.max_rate (per 3.25 s)")
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    parser.add_argument("--profile", action="store_true", help="tracemalloc: what grows per ID, by line")
    parser.add_argument("--profile-ids", type=int, default=100_000, help="profile at N and 2N IDs")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.ids <= SLOPE_IDS or args.rate < 1:
        parser.error(f"--runs and --rate must be at least 1, --ids more than {SLOPE_IDS}")
    try:
        if args.profile:
            return profile(args.profile_ids, PROFILE_IDS_PER_WINDOW)
        results = Results(args.runs, args.ids, args.rate)
        started = time.monotonic()
        # First, while this process is small: wait4's ru_maxrss of the --dry-run starts at it.
        print("big: 100,000 IDs from a file (bench.py's case) ...", file=sys.stderr, flush=True)
        case_file(results)
        with tempfile.TemporaryDirectory() as tmp:
            case_cancels(results, Path(tmp))
        print("big: 100,000-row tables ...", file=sys.stderr, flush=True)
        case_tables(results)
    except BenchError as exc:
        print(f"big: FAILED: {exc}", file=sys.stderr)
        return 1
    rows, verdicts = table(results)
    print_report("htx-cancel big runs", started, rows)
    save_json(args.json, results, verdicts, "targets_met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
