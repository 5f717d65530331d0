"""The moments the tool exists for: signals, broken or closed outputs, failures that must say
why once, hostile text. Real processes, real signals, real file descriptors, a real simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import CREDENTIALS, base_env, run_cli
from conftest import SimFactory

from htx_cancel.simulator import Faults, Simulator

SILENT = Faults(silent=True)


def start(sim: Simulator, *args: str, **popen: object) -> subprocess.Popen[str]:
    kwargs: dict[str, object] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
    }
    kwargs.update(popen)
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "htx_cancel", *args], env=base_env(sim.url), text=True, **kwargs
    )


def wait_for_cancels(sim: Simulator, n: int = 1, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(sim.cancels) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.cancels) >= n, "the cancels never reached the simulator"


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_ending_signals_print_the_report_and_exit_128_plus_n(
    sim_factory: SimFactory, tmp_path: Path, number: signal.Signals
) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    log = tmp_path / "audit.jsonl"
    proc = start(sim, "BTC-USDT", "-o", "101,102", "--json", "--timeout", "30", "--log-file", str(log))
    wait_for_cancels(sim)
    sent = time.monotonic()
    proc.send_signal(number)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 1.0
    assert proc.returncode == 128 + number
    assert "Traceback" not in err
    doc = json.loads(out)
    assert [(r["order_id"], r["state"]) for r in doc["results"]] == [("101", "unknown"), ("102", "unknown")]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert (
        records[0]["event"] == "start"
        and records[0]["ids"] == 2
        and records[0]["contract_code"] == "BTC-USDT"
    )
    assert records[-1] == {**records[-1], "event": "end", "exit_code": 128 + number, "interrupted": True}


def id_file(tmp_path: Path, count: int) -> str:
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(str(n) for n in range(10**6, 10**6 + count)))
    return str(path)


def test_a_second_ctrl_c_while_the_report_is_written_does_not_cut_it(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    """200,000 unknown rows take a while to write; a second Ctrl-C then must not end the
    process with half a JSON document."""
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    proc = start(sim, "BTC-USDT", "-f", id_file(tmp_path, 200_000), "--json", "--timeout", "30")
    wait_for_cancels(sim, 60)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.15)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert len(doc["results"]) == 200_000
    assert doc["summary"]["unknown"] == 200_000


def test_ctrl_c_stops_a_large_run_within_a_second(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    proc = start(sim, "BTC-USDT", "-f", id_file(tmp_path, 100_000), "--timeout", "30")
    wait_for_cancels(sim, 60)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 1.5  # the run stops at once; 100,000 rows are then written
    assert proc.returncode == 130
    assert out.count("unknown") >= 100_000


def run_shell(sim: Simulator, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        env={**base_env(sim.url), "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_full_disk_on_stdout_is_said_and_the_exit_code_still_tells_the_orders(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    done = run_shell(sim, '"$PY" -m htx_cancel BTC-USDT -o 101,404 --json > /dev/full')
    assert done.returncode == 1  # 404 was not found: that, not the disk, is what 1 means
    assert "could not write the report to standard output: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    assert sim.order("101").status == "cancelled"


def test_a_closed_stdout_is_said_on_stderr(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    done = run_shell(sim, '"$PY" -m htx_cancel BTC-USDT -o 101 >&-')
    assert done.returncode == 0
    assert "standard output is closed: the report was not written" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_closed_stderr_changes_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    done = run_shell(sim, '"$PY" -m htx_cancel BTC-USDT -o 101,102 --json 2>&-')
    assert done.returncode == 0
    assert json.loads(done.stdout)["summary"]["cancelled"] == 2


def test_a_reader_that_goes_away_is_quiet_and_changes_no_exit_code(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(rate_limit=10**6))
    ids = ",".join(str(n) for n in range(1000, 1500))
    done = run_shell(
        sim, f'"$PY" -m htx_cancel BTC-USDT -o {ids} --max-rate 72 | head -1; echo "exit ${{PIPESTATUS[0]}}"'
    )
    assert done.stdout.splitlines()[-1] == "exit 1"  # every ID not found, as without the pipe
    assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr


def test_quiet_timeout_says_why_in_one_line(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    result = run_cli(["BTC-USDT", "-o", "101,102", "-q", "--timeout", "0.3", "--retries", "1"], sim)
    assert result.code == 4
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert lines == ["htx-cancel: 2 of 2 order(s) unknown: no answer within 0.3 s; check before acting"]


def test_a_table_run_with_exit_4_says_why_once_on_stderr(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    result = run_cli(["BTC-USDT", "-o", "101", "--timeout", "0.3", "--retries", "0"], sim)
    assert result.code == 4
    assert result.err.count("no answer within 0.3 s") == 1


def test_a_connection_that_never_comes_up_is_one_line_with_the_attempts() -> None:
    env = base_env("ws://127.0.0.1:9/linear-swap-trade")
    result = run_cli(["BTC-USDT", "-o", "101", "--timeout", "0.2", "--retries", "2"], env=env)
    assert result.code == 4
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "cannot connect to ws://127.0.0.1:9/linear-swap-trade" in lines[0]
    assert "(3 connection attempts)" in lines[0]


def test_a_refused_handshake_says_the_http_status_in_words(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = base_env(sim.url.replace("/linear-swap-trade", "/wrong-path"))
    result = run_cli(["BTC-USDT", "-o", "101", "--timeout", "0.3", "--retries", "0", "-q"], env=env)
    assert result.code == 4
    assert "refused the WebSocket handshake: HTTP 404 Not Found" in result.err
    assert "{" not in result.err  # no dump of the response headers


HOSTILE = "Success\x1b[2J\r\n101       5101             cancelled          200   Success \u202egnp.exe"


@pytest.mark.parametrize("output", ["table", "csv"])
def test_exchange_text_cannot_steer_the_terminal_or_fake_a_row(sim_factory: SimFactory, output: str) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(message_text=HOSTILE))
    result = run_cli(["BTC-USDT", "-o", "404", "--output", output], sim)
    assert result.code == 1
    assert "\x1b" not in result.out and "\r" not in result.out and "\u202e" not in result.out
    assert "\\x1b[2J" in result.out and "\\u202e" in result.out
    rows = [line for line in result.out.splitlines() if line.startswith(("404", "101"))]
    assert len(rows) == 1 and rows[0].startswith("404")  # the fake "101 ... cancelled" row is inside it


def test_a_long_paced_run_says_how_long_before_it_starts(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=SILENT)
    proc = start(sim, "BTC-USDT", "-f", id_file(tmp_path, 10_000), "--timeout", "30")
    wait_for_cancels(sim, 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert "1000 requests at 60 per 3 s (--max-rate): the pace alone takes about 52 s" in err


def test_a_timeout_that_is_not_a_number_is_a_usage_error_naming_it() -> None:
    result = run_cli(["BTC-USDT", "-o", "101", "--timeout", "nan"], env=base_env())
    assert result.code == 2
    assert "--timeout" in result.err and "nan" in result.err


def test_a_reader_of_stderr_that_goes_away_changes_no_exit_code(sim_factory: SimFactory) -> None:
    """`2>&1 | head -1` with -v: stderr breaks after one line; the orders were all cancelled."""
    sim = sim_factory(credentials=CREDENTIALS)
    ids = ",".join(str(n) for n in range(101, 111))
    command = f'"$PY" -m htx_cancel BTC-USDT -o {ids} --batch-size 1 -v 2>&1 | head -1'
    done = run_shell(sim, command + '; echo "exit ${PIPESTATUS[0]}"')
    assert done.stdout.splitlines()[-1] == "exit 0"
    assert all(sim.order(str(n)).status == "cancelled" for n in range(101, 111))
