"""A leak test that cannot be fooled (SPEC section 3: the secret and the signature never appear in
any output, log, error message, traceback or dry-run).

Every CLI path runs once with one distinctive secret: each exit code (0, 1, 2, 3, 4, 130), -v,
--dry-run, --log-file, --json, --output csv/jsonl, --confirm (the order push socket's auth and
the signed REST order queries) and the error-message paths. For each run the scanner looks for
the secret, every signature the simulator received (REST query strings included), and every
signature the client could have computed during the run (one per second of the run's wall-clock
span, so a dry-run's signature is covered without it ever reaching a socket), in the raw, percent-encoded,
JSON-escaped, base64 and hex forms, whole or as any 12-character piece, case-insensitively.

The test checks itself so it cannot pass vacuously: the scanner must find planted leaks, each run
must end with the exit code its path is about and produce the output that path produces, a run
that should have signed must have put a signature on the wire, and the signatures computed here
must include every one the simulator actually received (so the computed dry-run signature is the
real one, not a guess that can never match).
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from clirun import ACCESS_KEY, CREDENTIALS, SECRET, base_env, signatures_seen
from conftest import SimFactory

from htx_cancel.frames import auth_frame
from htx_cancel.models import Credentials
from htx_cancel.redaction import REDACTED, mask_access_key
from htx_cancel.signing import sign, timestamp_for
from htx_cancel.simulator import NOTIFY_PATH, Faults, Simulator

FRAGMENT = 12
"""A leaked piece this long is a leak: 12 base64 characters are 72 random bits."""

WRONG_SECRET = "not-the-secret-0000-1111"


# --------------------------------------------------------------------------- the scanner


def forms(value: str) -> set[str]:
    """Ways a value could reach a text: as is, URL-encoded, JSON-escaped, base64, hex."""
    return {
        value,
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        base64.b64encode(value.encode()).decode().rstrip("="),
        value.encode().hex(),
    }


def needles(secret: str, signatures: set[str]) -> dict[str, str]:
    """Every string whose presence is a leak, mapped to what it would leak."""
    found: dict[str, str] = {}
    for label, value in [("secret", secret), *(("signature", s) for s in sorted(signatures))]:
        for form in forms(value):
            for start in range(max(1, len(form) - FRAGMENT + 1)):
                found.setdefault(form[start : start + FRAGMENT].lower(), label)
    return found


def find_leaks(text: str, table: dict[str, str]) -> list[str]:
    lowered = text.lower()
    return sorted({f"{label} ({needle!r})" for needle, label in table.items() if needle in lowered})


def signatures_for_span(url: str, first: float, last: float) -> set[str]:
    """What the client would sign with SECRET at any whole second from `first` to `last`, for
    the trade socket and for the order push socket beside it (`--confirm`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    creds = Credentials(ACCESS_KEY, SECRET)
    return {
        auth_frame(
            creds, host, path, timestamp_for(datetime.fromtimestamp(second, timezone.utc)), "x"
        ).signature
        for second in range(int(first) - 1, int(last) + 2)
        for path in (parts.path or "/", NOTIFY_PATH)
    }


def rest_signatures(sim: Simulator) -> set[str]:
    """The signatures of the REST calls (`--confirm`'s order query) as the simulator decoded
    them from the query string; each checked to be what SECRET signs for exactly those
    parameters, so the scanner looks for the real thing."""
    found = set()
    for record in sim.rest_requests:
        signature = record.params["Signature"]
        signed = {name: value for name, value in record.params.items() if name != "Signature"}
        host = (urlsplit(sim.url).hostname or "").lower()
        assert signature == sign(SECRET, host, record.path, signed), "not SECRET's signature"
        found.add(signature)
    return found


def test_the_scanner_finds_planted_leaks() -> None:
    signature = auth_frame(
        Credentials(ACCESS_KEY, SECRET), "127.0.0.1", "/p", "2024-01-02T03:04:05", "x"
    ).signature
    table = needles(SECRET, {signature})
    assert find_leaks(f"error: bad key {SECRET} here", table)
    assert find_leaks(f"partly {SECRET[3:19]} shown", table)
    assert find_leaks(SECRET.upper(), table)
    assert find_leaks(json.dumps({"Signature": signature}), table)
    assert find_leaks(f"Signature={quote(signature, safe='')}", table)
    assert find_leaks(f"...{signature[10:30]}...", table)
    assert find_leaks(base64.b64encode(SECRET.encode()).decode(), table)
    assert find_leaks(SECRET.encode().hex(), table)
    clean = json.dumps({"AccessKeyId": mask_access_key(ACCESS_KEY), "Signature": REDACTED, "op": "auth"})
    assert find_leaks(clean + " 101 cancelled 200 Success", table) == []


# --------------------------------------------------------------------------- the paths


@dataclass
class Case:
    args: list[str]
    code: int
    sim: Simulator
    env: dict[str, str]
    connects: bool
    """True: a signature must have reached the simulator. False: no connection at all."""
    log: Path | None = None
    out_has: list[str] = field(default_factory=list)
    err_has: list[str] = field(default_factory=list)
    log_has: list[str] = field(default_factory=list)
    interrupt: bool = False
    queries: bool = False
    """True: signed REST order queries must have reached the simulator (`--confirm`)."""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def env_without(url: str, *names: str, **extra: str) -> dict[str, str]:
    env = base_env(url, **extra)
    for name in names:
        del env[name]
    return env


def good(make: SimFactory, **faults: Any) -> Simulator:
    return make(credentials=CREDENTIALS, faults=Faults(**faults) if faults else None)


Builder = Callable[[SimFactory, Path], Case]


def _ok_table(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    return Case(["BTC-USDT", "-o", "101,102"], 0, sim, base_env(sim.url), True, out_has=["cancelled"])


def _ok_verbose(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    err = ["AccessKeyId", REDACTED, "cancel_batch_orders"]
    return Case(["BTC-USDT", "-o", "101", "-v"], 0, sim, base_env(sim.url), True, err_has=err)


def _ok_log_file(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101", "--log-file", str(log), "-q"]
    return Case(args, 0, sim, base_env(sim.url), True, log=log, log_has=["AccessKeyId", REDACTED])


def _ok_secret_file(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    secret_file = write(tmp / "secret", f"{SECRET}\n")
    args = ["BTC-USDT", "-o", "101", "-v", "--secret-key-file", str(secret_file)]
    env = env_without(sim.url, "HTX_SECRET_KEY")
    return Case(args, 0, sim, env, True, err_has=[REDACTED])


def _ok_profile(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    cfg = write(
        tmp / "c.toml",
        f'[default]\naccess_key = "{ACCESS_KEY}"\nsecret_key = "{SECRET}"\nurl = "{sim.url}"\n',
    )
    log = tmp / "audit.jsonl"
    env = env_without(sim.url, "HTX_SECRET_KEY", "HTX_ACCESS_KEY", "HTX_WS_URL", HTX_CANCEL_CONFIG=str(cfg))
    args = ["BTC-USDT", "-o", "101", "-v", "--log-file", str(log), "--json"]
    return Case(
        args, 0, sim, env, True, log=log, out_has=['"cancelled"'], err_has=[REDACTED], log_has=[REDACTED]
    )


def _mixed_json(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    out = ['"filled"', '"not_found"', '"already_cancelled"']
    return Case(["BTC-USDT", "-o", "101,201,301,404", "--json"], 1, sim, base_env(sim.url), True, out_has=out)


def _mixed_csv(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    args = ["BTC-USDT", "-o", "101,301", "--output", "csv", "-v"]
    return Case(args, 1, sim, base_env(sim.url), True, out_has=["order_id,client_order_id", "filled"])


def _ok_jsonl(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    args = ["BTC-USDT", "-c", "5101,5102", "--output", "jsonl"]
    return Case(args, 0, sim, base_env(sim.url), True, out_has=['"client_order_id": "5101"'])


def _bad_input(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    return Case(["BTC-USDT", "-o", "12a", "-v"], 2, sim, base_env(sim.url), False, err_has=["12a"])


def _bad_input_json(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "9223372036854775808", "--json", "-v", "--log-file", str(log)]
    return Case(args, 2, sim, base_env(sim.url), False, log=log, out_has=['"exit_code": 2'])


def _url_and_aws(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    args = ["BTC-USDT", "-o", "101", "--url", sim.url, "--aws", "--output", "jsonl"]
    return Case(args, 2, sim, base_env(sim.url), False, out_has=['"exit_code": 2'], err_has=["--aws"])


def _missing_secret(make: SimFactory, tmp: Path) -> Case:
    """The secret is on disk, in a profile this run does not use: read, but never shown."""
    sim = good(make)
    text = f'[default]\naccess_key = "{ACCESS_KEY}"\n[profiles.other]\nsecret_key = "{SECRET}"\n'
    cfg = write(tmp / "c.toml", text)
    env = env_without(sim.url, "HTX_SECRET_KEY", "HTX_ACCESS_KEY", HTX_CANCEL_CONFIG=str(cfg))
    args = ["BTC-USDT", "-o", "101", "--json", "-v"]
    return Case(args, 3, sim, env, False, out_has=['"exit_code": 3'], err_has=["HTX_SECRET_KEY"])


def _auth_rejected_signature(make: SimFactory, tmp: Path) -> Case:
    """The exchange refuses our signature: the one error path where a signature was on the wire."""
    sim = make(credentials={ACCESS_KEY: WRONG_SECRET})
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101", "--json", "-v", "--log-file", str(log)]
    return Case(args, 3, sim, base_env(sim.url), True, log=log, out_has=['"exit_code": 3'], err_has=["2003"])


def _auth_rejected_code(make: SimFactory, tmp: Path) -> Case:
    sim = make(credentials=CREDENTIALS, faults=Faults(auth_error=2001))
    return Case(["BTC-USDT", "-o", "101", "-v"], 3, sim, base_env(sim.url), True, err_has=["2001"])


def _config_readable(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    cfg = write(tmp / "c.toml", f'[default]\naccess_key = "{ACCESS_KEY}"\nsecret_key = "{SECRET}"\n', 0o644)
    env = env_without(sim.url, "HTX_SECRET_KEY", "HTX_ACCESS_KEY", HTX_CANCEL_CONFIG=str(cfg))
    return Case(["BTC-USDT", "-o", "101", "--json"], 3, sim, env, False, err_has=[f"chmod 600 {cfg}"])


def _secret_file_readable(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    secret_file = write(tmp / "secret", f"{SECRET}\n", 0o644)
    args = ["BTC-USDT", "-o", "101", "--secret-key-file", str(secret_file)]
    return Case(args, 3, sim, base_env(sim.url), False, err_has=[f"chmod 600 {secret_file}"])


def _config_malformed(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    cfg = write(tmp / "c.toml", f'[default]\nsecret_key = "{SECRET}\naccess_key = {SECRET}\n')
    env = env_without(sim.url, "HTX_SECRET_KEY", "HTX_ACCESS_KEY", HTX_CANCEL_CONFIG=str(cfg))
    return Case(["BTC-USDT", "-o", "101", "--json"], 3, sim, env, False, err_has=[str(cfg), "TOML"])


def _silent(make: SimFactory, tmp: Path) -> Case:
    sim = good(make, silent=True)
    log = tmp / "audit.jsonl"
    args = [
        "BTC-USDT",
        "-o",
        "101",
        "--timeout",
        "0.3",
        "--retries",
        "0",
        "--json",
        "-v",
        "--log-file",
        str(log),
    ]
    return Case(args, 4, sim, base_env(sim.url), True, log=log, out_has=['"unknown"'], log_has=[REDACTED])


def _refused(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    sim.stop()  # nothing listens on its port any more
    args = ["BTC-USDT", "-o", "101", "--timeout", "0.3", "--retries", "0", "-v"]
    return Case(args, 4, sim, base_env(sim.url), False, out_has=["unknown"])


def _confirm_verbose_log(make: SimFactory, tmp: Path) -> Case:
    """--confirm with pushes dropped: the notification auth and the signed order queries."""
    sim = good(make, no_pushes=True)
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101,111", "--confirm", "--timeout", "0.3", "-v", "--log-file", str(log)]
    err = ["notify >>", "rest >>", "Signature=<redacted>"]
    log_has = ['"channel": "notify"', '"channel": "rest"', "Signature=<redacted>"]
    return Case(args, 0, sim, base_env(sim.url), True, log=log, err_has=err, log_has=log_has, queries=True)


def _confirm_query_failed(make: SimFactory, tmp: Path) -> Case:
    sim = good(make, no_pushes=True, query_http_status=500)
    args = ["BTC-USDT", "-o", "101", "--confirm", "--timeout", "0.3", "--json", "-v"]
    out = ['"confirmed": false']
    return Case(args, 4, sim, base_env(sim.url), True, out_has=out, err_has=["rest >>"], queries=True)


def _confirm_dry_run(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    args = ["BTC-USDT", "-o", "101", "--confirm", "--dry-run", "-v"]
    return Case(args, 0, sim, base_env(sim.url), False, out_has=[REDACTED, '"op":"sub"'])


def _confirm_interrupted(make: SimFactory, tmp: Path) -> Case:
    # silent: interrupted while waiting for the cancel's answer, with both sockets open.
    sim = good(make, silent=True)
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101", "--confirm", "--timeout", "30", "--json", "-v", "--log-file", str(log)]
    return Case(args, 130, sim, base_env(sim.url), True, log=log, log_has=[REDACTED], interrupt=True)


def _dry_run(make: SimFactory, tmp: Path) -> Case:
    sim = good(make)
    args = ["BTC-USDT", "-o", "101,102", "-c", "7", "--dry-run", "-v"]
    return Case(args, 0, sim, base_env(sim.url), False, out_has=[REDACTED, "Timestamp"])


def _interrupted(make: SimFactory, tmp: Path) -> Case:
    sim = good(make, silent=True)
    log = tmp / "audit.jsonl"
    args = ["BTC-USDT", "-o", "101,102", "--timeout", "30", "--json", "-v", "--log-file", str(log)]
    env = base_env(sim.url)
    return Case(args, 130, sim, env, True, log=log, out_has=['"unknown"'], log_has=[REDACTED], interrupt=True)


CASES: dict[str, Builder] = {
    "exit0-table": _ok_table,
    "exit0-verbose": _ok_verbose,
    "exit0-log-file-quiet": _ok_log_file,
    "exit0-secret-key-file": _ok_secret_file,
    "exit0-profile-secret-json-log": _ok_profile,
    "exit0-jsonl": _ok_jsonl,
    "exit0-dry-run": _dry_run,
    "exit1-json": _mixed_json,
    "exit1-csv": _mixed_csv,
    "exit2-bad-id": _bad_input,
    "exit2-bad-id-json-log": _bad_input_json,
    "exit2-url-and-aws": _url_and_aws,
    "exit3-missing-secret": _missing_secret,
    "exit3-auth-rejected-signature": _auth_rejected_signature,
    "exit3-auth-rejected-code": _auth_rejected_code,
    "exit3-config-readable": _config_readable,
    "exit3-secret-file-readable": _secret_file_readable,
    "exit3-config-malformed": _config_malformed,
    "exit4-silent": _silent,
    "exit4-refused": _refused,
    "exit130-sigint": _interrupted,
    "exit0-confirm-verbose-log": _confirm_verbose_log,
    "exit0-confirm-dry-run": _confirm_dry_run,
    "exit4-confirm-query-failed": _confirm_query_failed,
    "exit130-confirm-sigint": _confirm_interrupted,
}


def test_every_exit_code_and_output_is_among_the_paths(sim_factory: SimFactory, tmp_path: Path) -> None:
    built = []
    for name, build in CASES.items():
        (tmp_path / name).mkdir()
        built.append(build(sim_factory, tmp_path / name))
    assert {case.code for case in built} == {0, 1, 2, 3, 4, 130}
    flags = {arg for case in built for arg in case.args}
    assert {"-v", "--dry-run", "--log-file", "--json", "--secret-key-file", "-q"} <= flags
    outputs = {case.args[i + 1] for case in built for i, arg in enumerate(case.args) if arg == "--output"}
    assert {"csv", "jsonl"} <= outputs
    assert any(case.interrupt for case in built)


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    log: str
    started: float
    ended: float


def execute(case: Case) -> Outcome:
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "htx_cancel", *case.args],
        env=case.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if case.interrupt:
            deadline = time.monotonic() + 10
            while not case.sim.cancels and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            assert case.sim.cancels, "the cancel never reached the simulator"
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = case.log.read_text() if case.log is not None and case.log.exists() else ""
    return Outcome(proc.returncode, out, err, log, started, time.time())


@pytest.mark.parametrize("name", list(CASES))
def test_no_path_shows_the_secret_or_a_signature(sim_factory: SimFactory, tmp_path: Path, name: str) -> None:
    case = CASES[name](sim_factory, tmp_path)
    result = execute(case)
    texts = {"stdout": result.out, "stderr": result.err, "log file": result.log}

    # The path really is the one this case is about (and nothing crashed on the way).
    assert result.code == case.code, f"{name}: exit {result.code}\n{result.err}"
    assert "Traceback" not in result.err

    # What to look for: the secret, what reached the wire, and what could have been signed.
    wire = set(signatures_seen(case.sim))
    rest = rest_signatures(case.sim)
    computed = signatures_for_span(case.sim.url, result.started, result.ended)
    table = needles(SECRET, wire | rest | computed)
    for where, text in texts.items():
        assert find_leaks(text, table) == [], f"{name}: leaked to {where}"
        assert ACCESS_KEY not in text, f"{name}: unmasked access key in {where}"

    # ... and that none of this passed for want of something to find.
    if case.connects:
        assert wire, f"{name}: no signature reached the simulator, the run proves nothing"
        if case.queries:
            assert rest, f"{name}: no order query reached the simulator, the run proves nothing"
    else:
        assert case.sim.connections == 0 and not wire
        assert case.sim.notify_connections == 0 and not rest
    assert wire <= computed, "the signatures computed here are not the ones the client sends"
    if "--dry-run" in case.args:
        auth = json.loads(result.out.splitlines()[0])
        assert auth["op"] == "auth" and auth["Signature"] == REDACTED
        path = urlsplit(case.sim.url).path
        real = auth_frame(Credentials(ACCESS_KEY, SECRET), "127.0.0.1", path, auth["Timestamp"], "x")
        assert real.signature in computed
        if "--confirm" in case.args:
            pushed = auth_frame(
                Credentials(ACCESS_KEY, SECRET), "127.0.0.1", NOTIFY_PATH, auth["Timestamp"], "x"
            )
            assert pushed.signature in computed
    assert result.out or result.err or result.log, f"{name}: produced no output at all"
    for where, wanted in (("stdout", case.out_has), ("stderr", case.err_has), ("log file", case.log_has)):
        for text in wanted:
            assert text in texts[where], f"{name}: {text!r} missing from {where}"
    if case.log is not None and case.code not in (2, 3):
        assert result.log, f"{name}: the log file is empty"
