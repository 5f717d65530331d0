"""Which options go together, in-process: no subprocess, no socket. Every refusal names the
options involved, because an option that is silently ignored is a lie about what will happen."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from htx_cancel.errors import CredentialsError, UsageError
from htx_cancel.models import Credentials
from htx_cancel.prepare import Environment, Options, prepare

DEMO = Credentials("demo-access-0000-key1", "demo-secret-0000-key1")


def environment(env: dict[str, str] | None = None, stdin: str = "") -> Environment:
    def no_prompt() -> str:
        raise AssertionError("prompted")

    return Environment(env or {}, io.StringIO(stdin), False, False, no_prompt)


def options(**changes: Any) -> Options:
    return Options("BTC-USDT", order_ids=("101",))._replace(**changes)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_timeout_that_is_not_a_number_is_refused(value: float) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        prepare(options(timeout=value), environment(), DEMO)


@pytest.mark.parametrize(("change", "flag"), [({"url": "ws://h/p"}, "--url"), ({"aws": True}, "--aws")])
def test_simulate_refuses_a_url(change: dict[str, Any], flag: str) -> None:
    with pytest.raises(UsageError, match=rf"--simulate .*; {flag} cannot"):
        prepare(options(simulate=True, **change), environment(), DEMO)


def test_dry_run_refuses_an_output_format_and_a_log_file() -> None:
    with pytest.raises(UsageError, match=r"--dry-run .*--json/--output"):
        prepare(options(dry_run=True, output="json", output_given=True), environment(), DEMO)
    with pytest.raises(UsageError, match=r"--dry-run .*--log-file"):
        prepare(options(dry_run=True, log_file="x.jsonl"), environment(), DEMO)


def test_option_errors_come_before_the_ids_are_read() -> None:
    with pytest.raises(UsageError, match="--timeout"):
        prepare(options(order_ids=("12a",), timeout=float("nan")), environment(), DEMO)


def test_bad_ids_come_before_credentials(tmp_path: Path) -> None:
    env = {"HTX_CANCEL_CONFIG": str(tmp_path / "none.toml")}  # no keys anywhere
    with pytest.raises(UsageError, match="'12a'"):
        prepare(options(order_ids=("12a",)), environment(env))
    with pytest.raises(CredentialsError, match="no access key"):
        prepare(options(), environment(env))


def test_a_prepared_run_carries_settings_and_redacts_its_secret() -> None:
    env = {
        "HTX_ACCESS_KEY": "ak-0123456789ab",
        "HTX_SECRET_KEY": "sk-secret",
        "HTX_WS_URL": "WSS://h.example/p",
    }
    prepared = prepare(options(timeout=2.5, confirm=True), environment(env))
    assert prepared.settings.url == "wss://h.example/p"
    assert (prepared.settings.timeout, prepared.settings.confirm) == (2.5, True)
    assert prepared.redactor("x sk-secret ak-0123456789ab") == "x <redacted> ak-0...89ab"
    assert not prepared.simulated


def test_simulate_needs_no_credentials_of_the_users() -> None:
    prepared = prepare(options(simulate=True), environment({}), DEMO)
    assert prepared.simulated and prepared.credentials == DEMO


def test_a_ca_bundle_that_cannot_be_loaded_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk"}
    with pytest.raises(UsageError, match=f"cannot load CA bundle {re.escape(str(bad))}"):
        prepare(options(ca_bundle=str(bad)), environment(env))
