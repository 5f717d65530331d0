"""Big reports: 100,000 rows to a terminal and to a pipe, and the memory a million-row JSON
document costs. Figures are printed (`pytest -s`); the bounds are sanity checks, far above what
is measured, so a slow CI machine never fails them. RENDER_BENCH=1 adds the million-row run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from test_render_terminal import on_a_pty, terminal_env

# Builds N rows, then times only the rendering, as the CLI calls it, on whatever stdout is.
CHILD = """
import os, resource, sys, time
from htx_cancel import render
from htx_cancel.models import OrderResult, Report, State
n, fmt = int(sys.argv[1]), sys.argv[2]
states = [(State.CANCELLED, 200, "Success"), (State.NOT_FOUND, 1061, "Order not exist"),
          (State.FILLED, 1063, "The order has been executed and cannot be cancelled")]
rows = tuple(OrderResult(str(1329854623927160832 + i), str(5000 + i), *states[i % 3], 1) for i in range(n))
report = Report("BTC-USDT", "wss://api.hbdm.com/linear-swap-trade", False, 1, 0, rows)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if fmt == "table":
    render.render_table(report, sys.stdout, bool(os.environ.get("NO_COLOR")))
else:
    getattr(render, "render_" + fmt)(report, sys.stdout)
sys.stdout.flush()
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{elapsed:.3f} {before} {after}", file=sys.stderr)
"""


def timed_to_a_pipe(n: int, fmt: str) -> tuple[float, int, int]:
    """Seconds to render, and peak RSS (KiB) before and after, with stdout a pipe we read."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), fmt], capture_output=True, timeout=300, check=True
    )
    assert proc.stdout.count(b"\n") >= n
    elapsed, before, after = proc.stderr.decode().split()
    return float(elapsed), int(before), int(after)


def test_100k_rows_to_a_pipe() -> None:
    for fmt in ("table", "json", "jsonl", "csv"):
        elapsed, _, _ = timed_to_a_pipe(100_000, fmt)
        print(f"\n100,000 rows, {fmt} to a pipe: {elapsed:.2f} s")
        assert elapsed < 10


def test_100k_rows_to_a_terminal() -> None:
    argv = [sys.executable, "-c", CHILD + "open(os.environ['TIMES'], 'w').write(f'{elapsed:.3f}')"]
    times = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"render-speed-{os.getpid()}")
    for columns in (200, 60):  # a table, then one block per order
        code, seen = on_a_pty([*argv, "100000", "table"], columns, terminal_env(TIMES=times))
        assert code == 0 and seen.count("\n") >= 100_000
        with open(times) as handle:
            elapsed = float(handle.read())
        os.unlink(times)
        print(f"\n100,000 rows, table to a {columns}-column pty: {elapsed:.2f} s")
        assert elapsed < 10


@pytest.mark.skipif(not os.environ.get("RENDER_BENCH"), reason="a million rows: set RENDER_BENCH=1")
def test_a_million_row_json_document_costs_no_more_memory_than_its_report() -> None:
    elapsed, before, after = timed_to_a_pipe(1_000_000, "json")
    print(f"\n1,000,000 rows, json: {elapsed:.2f} s; peak RSS {before // 1024} MiB -> {after // 1024} MiB")
    assert after - before < 20 * 1024
