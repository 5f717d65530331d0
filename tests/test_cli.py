"""End to end: the real command in a subprocess against the simulator over a loopback socket."""

from __future__ import annotations

import json
from pathlib import Path

from clirun import ACCESS_KEY, CREDENTIALS, SECRET, base_env, run_cli
from conftest import SimFactory

from htx_cancel.simulator import Faults

MIXED = ["101", "102", "201", "301", "404"]


def test_happy_path_cancels_every_order(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["btc-usdt", "-o", "101,102", "-o", "103 104", "--json"], sim)
    assert result.code == 0
    doc = result.json()
    assert doc["contract_code"] == "BTC-USDT"
    assert doc["simulated"] is False
    assert result.states() == dict.fromkeys(["101", "102", "103", "104"], "cancelled")
    assert [sim.order(i).status for i in ("101", "102", "103", "104")] == ["cancelled"] * 4
    assert sim.cancels[0].contract_code == "BTC-USDT"


def test_mixed_book_exits_1_with_each_state(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", ",".join(MIXED), "--json"], sim)
    assert result.code == 1
    assert result.states() == {
        "101": "cancelled",
        "102": "cancelled",
        "201": "already_cancelled",
        "301": "filled",
        "404": "not_found",
    }
    doc = result.json()
    assert doc["summary"] == {
        "cancelled": 2,
        "already_cancelled": 1,
        "cancelling": 0,
        "not_found": 1,
        "filled": 1,
        "rejected": 0,
        "unknown": 0,
    }
    by_id = {r["order_id"]: r for r in doc["results"]}
    assert by_id["301"]["code"] == 1063 and by_id["404"]["code"] == 1061
    assert all(r["attempts"] == 1 for r in doc["results"])


def test_table_output_is_plain_in_a_pipe(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", ",".join(MIXED)], sim)
    assert result.code == 1
    assert "\x1b[" not in result.out
    lines = result.out.splitlines()
    assert any("301" in line and "filled" in line and "1063" in line for line in lines)
    assert "2 cancelled, 1 already_cancelled, 1 not_found, 1 filled" in result.out


def test_client_order_ids_fill_in_the_order_id(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-c", "5101,5201,999", "--json"], sim)
    assert result.code == 1
    rows = {r["client_order_id"]: r for r in result.json()["results"]}
    assert rows["5101"]["state"] == "cancelled" and rows["5101"]["order_id"] == "101"
    assert rows["5201"]["state"] == "already_cancelled"
    assert rows["999"]["state"] == "not_found" and rows["999"]["order_id"] is None
    assert sim.cancels[0].client_order_ids == ("5101", "5201", "999")
    assert sim.cancels[0].order_ids == ()


def test_order_and_client_ids_never_share_a_request(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101", "-c", "5102", "--json"], sim)
    assert result.code == 0
    assert all(not (c.order_ids and c.client_order_ids) for c in sim.cancels)
    assert len(sim.cancels) == 2


def test_snake_case_answers_with_numbers(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(spelling="snake", numbers=True, auth_form="op"))
    result = run_cli(["BTC-USDT", "-o", ",".join(MIXED), "-c", "5103", "--json"], sim)
    assert result.code == 1
    states = result.states()
    assert states["101"] == "cancelled" and states["301"] == "filled" and states["103"] == "cancelled"


def test_95_ids_are_pipelined_in_requests_of_at_most_10(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(latency=0.1))
    ids = [str(n) for n in range(1000, 1095)]
    result = run_cli(["BTC-USDT", "-o", ",".join(ids), "--json"], sim)
    assert result.code == 1  # none exist in the demo book
    assert set(result.states().values()) == {"not_found"}
    assert len(sim.cancels) == 10
    assert all(len(c.order_ids) <= 10 for c in sim.cancels)
    assert sorted(i for c in sim.cancels for i in c.order_ids) == sorted(ids)
    first_answer = sim.cancels[0].answered_at
    assert first_answer is not None and sim.cancels[1].t < first_answer


def test_ping_while_auth_is_pending_is_answered(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(ping_before_auth_answer=True))
    result = run_cli(["BTC-USDT", "-o", "101", "--json"], sim)
    assert result.code == 0
    assert sim.pongs >= 1


def test_market_style_pings_are_answered(sim_factory: SimFactory) -> None:
    faults = Faults(ping_before_auth_answer=True, market_ping=True)
    sim = sim_factory(credentials=CREDENTIALS, faults=faults)
    assert run_cli(["BTC-USDT", "-o", "101"], sim).code == 0
    assert sim.pongs >= 1


def test_rejected_auth_exits_3_and_sends_no_cancel(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(auth_error=2003))
    result = run_cli(["BTC-USDT", "-o", "101", "--json"], sim)
    assert result.code == 3
    assert sim.cancels == []
    assert "2003" in result.err
    assert result.json()["error"]["exit_code"] == 3
    assert sim.order("101").status == "open"


def test_wrong_secret_is_refused_by_signature_check(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials={ACCESS_KEY: "another-secret"})
    result = run_cli(["BTC-USDT", "-o", "101"], sim)
    assert result.code == 3
    assert sim.cancels == []


def test_json_output_fed_back_gives_already_cancelled(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    first = run_cli(["BTC-USDT", "-o", "101,102,103", "-c", "5104", "--json"], sim)
    assert first.code == 0
    saved = tmp_path / "report.json"
    saved.write_text(first.out)
    again = run_cli(["BTC-USDT", "-f", str(saved), "--json"], sim)
    assert again.code == 0
    assert set(again.states().values()) == {"already_cancelled"}
    piped = run_cli(["BTC-USDT", "--json"], sim, stdin=first.out)
    assert set(piped.states().values()) == {"already_cancelled"}


def test_dry_run_opens_no_socket_and_redacts(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101,102", "-c", "7", "--dry-run"], sim)
    assert result.code == 0
    assert sim.connections == 0
    frames = [json.loads(line) for line in result.out.splitlines()]
    assert frames[0]["op"] == "auth" and frames[0]["Signature"] == "<redacted>"
    assert frames[0]["AccessKeyId"] != ACCESS_KEY
    assert frames[1]["data"] == {"contract_code": "BTC-USDT", "order_id": ["101", "102"]}
    assert frames[2]["data"] == {"contract_code": "BTC-USDT", "client_order_id": ["7"]}


def test_verbose_logs_frames_redacted(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    log = tmp_path / "audit.jsonl"
    result = run_cli(["BTC-USDT", "-o", "101", "-v", "--log-file", str(log), "-q"], sim, log_file=log)
    assert result.code == 0
    assert result.out == ""
    assert "cancel_batch_orders" in result.err and "<redacted>" in result.err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["direction"] for line in lines if "direction" in line} == {"sent", "received"}
    assert all("ts" in line for line in lines)
    again = run_cli(["BTC-USDT", "-o", "102", "-q", "--log-file", str(log)], sim, log_file=log)
    assert again.code == 0 and again.err == ""
    appended = [json.loads(line) for line in log.read_text().splitlines()]
    assert appended[: len(lines)] == lines and len(appended) > len(lines)


def test_bad_input_exits_2_before_any_connection(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    for args in (
        ["BTC-USDT", "-o", "12a"],
        ["BTC_USDT", "-o", "1"],
        ["BTC-USDT", "-o", "0"],
        ["BTC-USDT", "-f", "/nonexistent/ids.txt"],
        ["BTC-USDT", "--batch-size", "30", "-o", "1"],
        ["BTC-USDT"],
    ):
        result = run_cli(args, sim)
        assert result.code == 2, args
        assert result.out == ""
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert sim.connections == 0


def test_usage_error_with_json_prints_an_error_document(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "9223372036854775808", "--json"], sim)
    assert result.code == 2
    assert result.json()["error"]["exit_code"] == 2
    assert "9223372036854775808" in result.json()["error"]["message"]


def test_missing_credentials_exit_3() -> None:
    env = base_env()
    del env["HTX_SECRET_KEY"]
    result = run_cli(["BTC-USDT", "-o", "1"], env=env)
    assert result.code == 3
    assert "HTX_SECRET_KEY" in result.err and len(result.err.strip().splitlines()) == 1


def test_duplicates_are_dropped_and_counted(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101,101,102", "-o", "102", "--json"], sim)
    assert result.code == 0
    assert result.json()["duplicates_dropped"] == 2
    assert "2 duplicate" in result.err
    assert sim.cancels[0].order_ids == ("101", "102")


def test_simulate_shows_every_state_and_says_simulated() -> None:
    env = base_env()
    result = run_cli(["BTC-USDT", "-o", "101,201,301,404", "--simulate"], env=env)
    assert result.code == 1
    assert "SIMULATED" in result.out and "SIMULATED" in result.err
    for state in ("cancelled", "already_cancelled", "filled", "not_found"):
        assert state in result.out
    as_json = run_cli(["BTC-USDT", "-o", "101,201,301,404", "--simulate", "--json"], env=env)
    assert as_json.json()["simulated"] is True


def test_jsonl_and_csv_outputs(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    jsonl = run_cli(["BTC-USDT", "-o", "101,404", "--output", "jsonl"], sim)
    rows = [json.loads(line) for line in jsonl.out.splitlines()]
    assert [r["state"] for r in rows] == ["cancelled", "not_found"]
    fields = ["order_id", "client_order_id", "state", "code", "message", "attempts"]
    fields += ["confirmed", "final_state", "filled_volume", "volume"]
    assert list(rows[0]) == fields
    assert [rows[0][f] for f in fields[-4:]] == [None] * 4  # without --confirm
    csv_out = run_cli(["BTC-USDT", "-o", "102", "--output", "csv"], sim)
    assert csv_out.out.splitlines()[0] == ",".join(fields)
    assert csv_out.out.splitlines()[1].startswith("102,5102,cancelled,200,")


def test_secret_is_not_in_argv_options() -> None:
    result = run_cli(["--help"], env=base_env())
    assert result.code == 0
    assert "--secret-key " not in result.out and "--secret-key-file" in result.out
    assert SECRET not in result.out


def test_version_comes_from_package_metadata() -> None:
    from importlib.metadata import version

    result = run_cli(["--version"], env=base_env())
    assert result.code == 0
    assert result.out.strip() == f"htx-cancel {version('htx-cancel')}"


def test_documented_op_auth_answer_without_cid_is_accepted(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS, faults=Faults(auth_form="op"))
    assert run_cli(["BTC-USDT", "-o", "101"], sim).code == 0
    refused = sim_factory(credentials=CREDENTIALS, faults=Faults(auth_form="op", auth_error=2003))
    result = run_cli(["BTC-USDT", "-o", "101"], refused)
    assert result.code == 3 and "2003" in result.err


def test_bad_url_port_and_ca_file_are_usage_errors(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    env = base_env("wss://localhost:1/linear-swap-trade")
    for args, env_ in (
        (["--url", "ws://127.0.0.1:99999/x"], base_env()),
        (["--url", "ws://[::1/x"], base_env()),
        (["--ca-bundle", str(not_pem)], env),
        ([], {**env, "SSL_CERT_FILE": str(not_pem)}),
        (["--simulate", "--url", sim.url, "--aws"], base_env()),
    ):
        result = run_cli(["BTC-USDT", "-o", "101", *args], env=env_)
        assert result.code == 2, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1
    assert sim.connections == 0


def test_quiet_still_says_why_the_fate_is_unknown() -> None:
    result = run_cli(
        ["BTC-USDT", "-o", "101", "-q", "--timeout", "0.2", "--retries", "0"],
        env=base_env("ws://127.0.0.1:9/linear-swap-trade"),
    )
    assert result.code == 4
    assert result.out == ""
    assert "cannot connect" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_full_log_disk_does_not_stop_the_cancel(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101", "--log-file", "/dev/full", "--json"], sim)
    assert result.code == 0
    assert result.states() == {"101": "cancelled"}
    assert "audit log stopped" in result.err


def test_htx_cancel_sim_serves_and_prints_url_and_demo_credentials() -> None:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "from htx_cancel.cli import run_sim; run_sim()", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = "".join(iter(proc.stdout.readline, "Ctrl-C stops it.\n"))
        exports = dict(re.findall(r"export (\w+)=(\S+)", banner))
        assert set(exports) == {"HTX_WS_URL", "HTX_ACCESS_KEY", "HTX_SECRET_KEY"}
        assert "/ws/v5/notification" in banner and "501-503" in banner
        env = {**base_env(), **exports}
        result = run_cli(["BTC-USDT", "-o", "101,111,404", "--json", "--confirm"], env=env)
        assert result.code == 1
        assert result.states() == {"101": "cancelled", "111": "cancelled", "404": "not_found"}
        assert result.json()["results"][1]["filled_volume"] == "4"
        swept = run_cli(["BTC-USDT", "--all", "--yes", "--json"], env=env)
        assert swept.code == 0, swept.err  # 113 (1062) still listed is a cancel under way, not open
        assert {r["order_id"] for r in swept.json()["results"]} == {*map(str, range(102, 111)), "112", "113"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
