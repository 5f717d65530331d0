"""Run the real `htx-cancel` in a subprocess, the way a shell or cron does, and watch for leaks.

Every run made through `run_cli` is checked: the secret and every signature the simulator
received must never appear in stdout, stderr or the audit log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from htx_cancel.simulator import Simulator

ACCESS_KEY = "leaktest-access-key-0001"
SECRET = "S3CRET-do-not-print-7f3a9c1e"
CREDENTIALS = {ACCESS_KEY: SECRET}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def states(self) -> dict[str, str]:
        """order ID (or client ID when the order ID is unknown) -> state, from --json output."""
        return {r["order_id"] or r["client_order_id"]: r["state"] for r in self.json()["results"]}


def base_env(url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTX_", "NO_COLOR"))}
    env.update(HTX_ACCESS_KEY=ACCESS_KEY, HTX_SECRET_KEY=SECRET, HTX_CANCEL_CONFIG="/nonexistent/htx.toml")
    if url:
        env["HTX_WS_URL"] = url
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str],
    sim: Simulator | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    log_file: Path | None = None,
    timeout: float = 60,
) -> Result:
    """Run `python -m htx_cancel ARGS` with stdin a pipe (empty unless given), never a terminal."""
    proc = subprocess.run(
        [sys.executable, "-m", "htx_cancel", *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        env=env if env is not None else base_env(sim.url if sim else None),
        timeout=timeout,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    assert_no_leak(result, sim, log_file)
    return result


def signatures_seen(sim: Simulator | None) -> list[str]:
    if sim is None:
        return []
    return [
        str(r.message["Signature"])
        for r in sim.received
        if r.message is not None and r.message.get("Signature")
    ]


def assert_no_leak(result: Result, sim: Simulator | None, log_file: Path | None = None) -> None:
    texts = {"stdout": result.out, "stderr": result.err}
    if log_file is not None and log_file.exists():
        texts["log file"] = log_file.read_text()
    for secret in [SECRET, *signatures_seen(sim)]:
        for where, text in texts.items():
            assert secret not in text, f"secret or signature leaked to {where}"
    assert "Traceback" not in result.err


def rest_signatures_seen(sim: Simulator | None) -> list[str]:
    """Every signature of a signed REST query the simulator received, in each form it could leak:
    decoded, URL-encoded both ways, and exactly as the query string carried it."""
    if sim is None:
        return []
    forms: dict[str, None] = {}
    for record in sim.rest_requests:
        signature = record.params.get("Signature", "")
        assert signature, f"a REST request reached the simulator unsigned: {record.path}"
        for form in (signature, quote(signature, safe=""), quote(signature)):
            forms[form] = None
        for part in record.query.split("&"):
            name, _, value = part.partition("=")
            if name == "Signature" and value:
                forms[value] = None
    return list(forms)


def assert_no_rest_leak(result: Result, sim: Simulator | None, log_file: Path | None = None) -> None:
    """`assert_no_leak` for the REST calls (`--all`, `--confirm`): their signatures travel
    URL-encoded in a query string, where the socket frames' check does not look."""
    texts = {"stdout": result.out, "stderr": result.err}
    if log_file is not None and log_file.exists():
        texts["log file"] = log_file.read_text()
    for signature in rest_signatures_seen(sim):
        for where, text in texts.items():
            assert signature not in text, f"a REST query signature leaked to {where}"
    for where, text in texts.items():
        assert ACCESS_KEY not in text, f"unmasked access key in {where}"
