"""The network and the exchange misbehaving: every fault over a real loopback socket.

Each test asserts the exit code, every ID's final state, and what reached the simulator:
nothing that already had a final answer is ever sent again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from clirun import CREDENTIALS, base_env, run_cli
from conftest import SimFactory

from htx_cancel.simulator import Faults, Simulator

FAST = ["--timeout", "0.5", "--retries", "2"]


def sends_per_id(sim: Simulator) -> collections.Counter[str]:
    return collections.Counter(i for c in sim.cancels for i in (*c.order_ids, *c.client_order_ids))


def final_before(sim: Simulator, connection: int) -> set[str]:
    """IDs the simulator answered for on connections before `connection`."""
    return {
        i
        for c in sim.cancels
        if c.connection < connection and c.answered_at is not None and c.code == 200
        for i in c.order_ids
    }


def test_transient_error_is_retried(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(request_errors=[1004]))
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json", *FAST], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled", "102": "cancelled"}
    assert [r["attempts"] for r in result.json()["results"]] == [2, 2]
    assert [c.code for c in sim.cancels] == [1004, 200]


def test_rate_limit_answer_is_retried_after_back_off(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(request_errors=[1032]))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", *FAST], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled"}
    assert sim.cancels[1].t - sim.cancels[0].t >= 0.5  # rate-limit back-off starts at 0.5-1 s


def test_input_error_is_not_retried(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(request_errors=[1030]))
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json", *FAST], sim)
    assert result.code == 1
    assert set(result.states().values()) == {"rejected"}
    assert {r["code"] for r in result.json()["results"]} == {1030}
    assert len(sim.cancels) == 1
    assert sim.order("101").status == "open"


def test_transient_error_after_last_retry_is_rejected(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(request_errors=[1001] * 3))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", "--retries", "2"], sim)
    assert result.code == 1
    row = result.json()["results"][0]
    assert (row["state"], row["code"], row["attempts"]) == ("rejected", 1001, 3)


def test_too_many_ids_splits_down_to_the_cap(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(max_ids=3))
    ids = ["101", "102", "103", "104", "105", "201", "301", "404"]
    result = run_cli(["BTC-USDT", "-o", ",".join(ids), "--json"], sim)
    assert result.code == 1
    states = result.states()
    assert [states[i] for i in ids[:5]] == ["cancelled"] * 5
    assert (states["201"], states["301"], states["404"]) == ("already_cancelled", "filled", "not_found")
    applied = [c for c in sim.cancels if c.code == 200]
    assert all(len(c.order_ids) <= 3 for c in applied)
    assert sorted(i for c in applied for i in c.order_ids) == sorted(ids)


def test_one_id_over_the_cap_is_rejected(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(max_ids=0))
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json"], sim)
    assert result.code == 1
    assert [(r["state"], r["code"]) for r in result.json()["results"]] == [("rejected", 1052)] * 2


def test_dropped_connection_resends_only_unresolved(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(drop_after_cancel=2))
    result = run_cli(["BTC-USDT", "-o", "101,102,103", "--batch-size", "1", "--json", *FAST], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled", "102": "already_cancelled", "103": "cancelled"}
    assert sim.connections == 2
    assert sends_per_id(sim)["101"] == 1  # answered before the drop: never sent again
    assert not final_before(sim, 2) & {i for c in sim.cancels if c.connection == 2 for i in c.order_ids}
    assert {r["order_id"]: r["attempts"] for r in result.json()["results"]} == {"101": 1, "102": 2, "103": 2}


def test_silent_exchange_ends_unknown_in_bounded_time(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(silent=True))
    started = time.monotonic()
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json", "--timeout", "0.3", "--retries", "2"], sim)
    took = time.monotonic() - started
    assert result.code == 4
    assert set(result.states().values()) == {"unknown"}
    assert [r["attempts"] for r in result.json()["results"]] == [3, 3]
    assert len(sim.cancels) == 3
    # (retries + 1) x timeout = 0.9 s, plus back-off (at most 0.2 + 0.4 s) and process start.
    assert 0.9 <= took < 4.0


def test_silent_auth_ends_unknown_and_sends_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(silent_auth=True))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", "--timeout", "0.3", "--retries", "1"], sim)
    assert result.code == 4
    assert result.states() == {"101": "unknown"}
    assert result.json()["results"][0]["attempts"] == 0
    assert sim.cancels == []


def test_id_missing_from_answer_is_resent_never_assumed(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(omit_id_once=True))
    result = run_cli(["BTC-USDT", "-o", "101,102,103", "--json", *FAST], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled", "102": "cancelled", "103": "already_cancelled"}
    assert sends_per_id(sim) == {"101": 1, "102": 1, "103": 2}


def test_missing_id_with_no_retries_left_is_unknown(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(omit_id_once=True))
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json", "--retries", "0"], sim)
    assert result.code == 4
    assert result.states() == {"101": "cancelled", "102": "unknown"}


@pytest.mark.parametrize("kind", ["garbage", "invalid_json", "shape", "bomb", "close"])
def test_hostile_frame_reconnects_and_resends(sim_factory: SimFactory, kind: str) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=[kind]))
    result = run_cli(["BTC-USDT", "-o", "101,102", "--json", *FAST], sim)
    assert result.code == 0, result.err
    # The first request was applied but its answer was replaced: the resend learns 1071.
    assert result.states() == {"101": "already_cancelled", "102": "already_cancelled"}
    assert sim.connections == 2


def test_op_error_keeps_the_connection_and_times_out_into_a_retry(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=["error"]))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", *FAST], sim)
    assert result.code == 0
    assert result.states() == {"101": "already_cancelled"}
    assert sim.connections == 1
    assert "error" in result.err


def test_persistent_garbage_never_reports_cancelled(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=["garbage"] * 5))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", "--retries", "2"], sim)
    assert result.code == 4
    assert result.states() == {"101": "unknown"}
    assert sim.order("101").status == "cancelled"  # it did happen; we just cannot know it


def test_clock_skew_is_diagnosed(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(clock_skew=-600))
    result = run_cli(["BTC-USDT", "-o", "101"], sim)
    assert result.code == 3
    assert "2003" in result.err
    assert "600 s ahead of the exchange" in result.err
    assert sim.cancels == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_sim(sim_factory: SimFactory, ca: trustme.CA) -> Simulator:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return sim_factory(credentials=CREDENTIALS, ssl_context=context)


def test_tls_with_ca_bundle(sim_factory: SimFactory, ca: trustme.CA, tmp_path: Path) -> None:
    sim = tls_sim(sim_factory, ca)
    assert sim.url.startswith("wss://localhost:")
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    result = run_cli(["BTC-USDT", "-o", "101", "--json", "--ca-bundle", str(bundle)], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled"}
    env = base_env(sim.url, SSL_CERT_FILE=str(bundle))
    assert run_cli(["BTC-USDT", "-o", "102"], sim, env=env).code == 0


def test_tls_untrusted_certificate_is_exit_4(sim_factory: SimFactory, ca: trustme.CA) -> None:
    sim = tls_sim(sim_factory, ca)
    result = run_cli(["BTC-USDT", "-o", "101", "--json"], sim)
    assert result.code == 4
    assert result.states() == {"101": "unknown"}
    assert len(result.err.strip().splitlines()) == 1
    assert "certificate" in result.err.lower()
    assert sim.cancels == []


def test_ctrl_c_exits_130_and_prints_what_is_known(sim_factory: SimFactory, tmp_path: Path) -> None:
    slow = sim_factory(credentials=CREDENTIALS, faults=Faults(silent=True))
    log = tmp_path / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101,102", "--json", "--timeout", "30", "--log-file", str(log)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", *args],
        env=base_env(slow.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not slow.cancels and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow.cancels, "the cancel never reached the simulator"
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=5)
    assert time.monotonic() - sent_at < 1.0
    assert proc.returncode == 130
    assert "Traceback" not in err
    rows = json.loads(out)["results"]
    assert [(r["order_id"], r["state"]) for r in rows] == [("101", "unknown"), ("102", "unknown")]
    # The audit trail of the interrupted run is on disk: auth and the cancel that was in flight.
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    frames = [json.loads(e["frame"]) for e in logged if e.get("direction") == "sent"]
    assert [f.get("op") for f in frames] == ["auth", "cancel_batch_orders"]


def test_pace_keeps_2000_ids_under_the_exchange_limit(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    ids = ",".join(str(n) for n in range(10_000, 12_000))
    started = time.monotonic()
    result = run_cli(["BTC-USDT", "-o", ids, "-q"], sim)
    took = time.monotonic() - started
    assert result.code == 1  # none are in the book: all not_found
    assert sim.rate_limited == 0
    assert len(sim.cancels) == 200
    arrivals = sorted(c.t for c in sim.cancels)
    for i, t in enumerate(arrivals):
        in_window = sum(1 for u in arrivals[i:] if u - t < 3.0)
        assert in_window <= 60
    # 200 requests at 60 per 3.25 s: the last 20 leave at 9.75 s.
    assert 9.75 <= took < 12.0


def peak_rss_kb(sim: Simulator, *args: str) -> tuple[int, int]:
    """Run the CLI and return (exit code, that one child's peak RSS in kB) via wait4."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", *args],
        env=base_env(sim.url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss


def test_gzip_bomb_does_not_raise_peak_rss(sim_factory: SimFactory) -> None:
    """A 300 MB bomb costs no more memory than a few bytes of garbage handled the same way."""
    args = ["BTC-USDT", "-o", "101", "--json", *FAST]
    garbage = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=["garbage"]))
    bomb = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=["bomb"]))
    code_garbage, rss_garbage = peak_rss_kb(garbage, *args)
    code_bomb, rss_bomb = peak_rss_kb(bomb, *args)
    assert code_garbage == code_bomb == 0
    assert bomb.cancels[0].fault == "hostile:bomb"
    assert rss_bomb - rss_garbage < 5 * 1024


def test_tls_trust_is_loaded_once_per_run(ca: trustme.CA, tmp_path: Path) -> None:
    """Loading the system CA store costs tens of ms: the CLI's check and every (re)connect share it."""
    from htx_cancel.tls import tls_context

    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert tls_context(str(bundle)) is tls_context(str(bundle))


@pytest.mark.parametrize("kind", ["oversized", "drip", "endless_fragments"])
def test_unbounded_reads_end_in_bounded_time_and_memory(sim_factory: SimFactory, kind: str) -> None:
    """A 300 MB raw frame, an answer dripped a byte every 0.2 s, a message whose fragments never
    end: each ends its connection within the read's deadline and budget; the resend on a fresh
    connection settles the order. Peak RSS stays within a few MB of a run that got garbage."""
    args = ["BTC-USDT", "-o", "101", "--json", "--timeout", "0.5", "--retries", "1"]
    garbage = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=["garbage"]))
    hostile = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=[kind]))
    _, rss_garbage = peak_rss_kb(garbage, *args)
    started = time.monotonic()
    code, rss = peak_rss_kb(hostile, *args)
    took = time.monotonic() - started
    assert code == 0  # the frame was given up on, the resend on a new connection answered
    assert hostile.cancels[0].fault == f"hostile:{kind}"
    assert hostile.connections == 2
    assert took < 2 * 0.5 + 1.0 + 1.5  # (retries + 1) x timeout, back-off, start-up
    assert rss - rss_garbage < 5 * 1024


@pytest.mark.parametrize("kind", ["oversized", "drip", "endless_fragments"])
def test_unbounded_reads_with_no_retry_end_unknown_at_the_deadline(
    sim_factory: SimFactory, kind: str
) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(hostile=[kind]))
    started = time.monotonic()
    result = run_cli(["BTC-USDT", "-o", "101", "--json", "--timeout", "0.5", "--retries", "0"], sim)
    assert time.monotonic() - started < 0.5 + 1.5
    assert result.code == 4
    assert result.states() == {"101": "unknown"}
