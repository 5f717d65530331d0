"""Option values -> a run ready to go: validated IDs, credentials, settings and trust, or a
UsageError / CredentialsError before anything touches the network.

This is the step between the command line and the engine. It knows nothing of Typer: the CLI
hands it plain values and the outside world (`Environment`), so every rule about which options
go together lives here, testable without a subprocess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TextIO

from htx_cancel.config import CredentialOptions, Resolved, check_url_options, resolve
from htx_cancel.errors import UsageError
from htx_cancel.inputs import parse_inputs
from htx_cancel.models import CancelRequest, Credentials, RunSettings
from htx_cancel.proxies import ProxySettingError, proxy_for
from htx_cancel.redaction import Redactor
from htx_cancel.tls import CaBundleError, tls_context

SIM_PLACEHOLDER_URL = "ws://127.0.0.1/linear-swap-trade"
"""The simulator's real URL is known once it listens; signing needs only its path until then."""


class Options(NamedTuple):
    """Every command-line value, as plain data; defaults are SPEC section 1's."""

    contract_code: str
    order_ids: Sequence[str] = ()
    client_order_ids: Sequence[str] = ()
    files: Sequence[str] = ()
    client_ids: bool = False
    max_orders: int | None = None
    dry_run: bool = False
    output: str = "table"
    output_given: bool = False
    quiet: bool = False
    verbose: bool = False
    log_file: str | None = None
    url: str | None = None
    aws: bool = False
    timeout: float = 10.0
    ca_bundle: str | None = None
    max_rate: int = 60
    retries: int = 3
    batch_size: int = 10
    access_key: str | None = None
    secret_key_file: str | None = None
    profile: str | None = None
    simulate: bool = False
    confirm: bool = False


class Environment(NamedTuple):
    """The outside world the preparation reads: injectable, so the rules are tested in-process."""

    env: Mapping[str, str]
    stdin: TextIO | None
    stdin_is_tty: bool
    stderr_is_tty: bool
    prompt_secret: Callable[[], str]


class Prepared(NamedTuple):
    """A run that may start: nothing in it can make the exchange see a bad request."""

    request: CancelRequest
    credentials: Credentials
    settings: RunSettings
    redactor: Redactor
    simulated: bool
    warnings: tuple[str, ...]


def check_combinations(options: Options) -> None:
    """Options that would be silently ignored together are refused, naming them."""
    if not math.isfinite(options.timeout):
        raise UsageError(f"--timeout: '{options.timeout}' is not a number of seconds")
    if options.simulate and (options.url or options.aws):
        flag = "--url" if options.url else "--aws"
        raise UsageError(f"--simulate runs against the built-in simulator; {flag} cannot be used with it")
    if options.dry_run and options.output_given:
        raise UsageError("--dry-run prints the frames it would send; it has no --json/--output result")
    if options.dry_run and options.log_file:
        raise UsageError("--dry-run sends nothing, so --log-file would stay empty; drop one of them")
    check_url_options(options.url, options.aws)


def prepare(options: Options, world: Environment, demo: Credentials | None = None) -> Prepared:
    """Validate everything a run needs, in the order a user would fix it: options, IDs, then
    credentials (a prompt comes last, only once the IDs are known to be good). `demo` is the
    simulator's key pair for `--simulate`, which needs no credentials of the user's."""
    check_combinations(options)
    request = parse_inputs(
        options.contract_code,
        options.order_ids,
        options.client_order_ids,
        options.files,
        client_ids=options.client_ids,
        max_orders=options.max_orders,
        stdin=world.stdin,
        stdin_is_tty=world.stdin_is_tty,
    )
    if demo is not None:
        resolved = Resolved(demo, SIM_PLACEHOLDER_URL)
    else:
        interactive = world.stdin_is_tty and world.stderr_is_tty
        credential_options = CredentialOptions(
            options.access_key, options.secret_key_file, options.profile, options.url, options.aws
        )
        resolved = resolve(credential_options, world.env, world.prompt_secret if interactive else None)
    settings = RunSettings(
        url=resolved.url,
        timeout=options.timeout,
        retries=options.retries,
        batch_size=options.batch_size,
        max_rate=options.max_rate,
        ca_bundle=options.ca_bundle,
        confirm=options.confirm,
    )
    try:
        proxy_for(settings.url, world.env)
        if settings.url.startswith("wss:"):
            tls_context(settings.ca_bundle)
    except (CaBundleError, ProxySettingError) as exc:
        raise UsageError(str(exc)) from None
    creds = resolved.credentials
    redactor = Redactor((creds.secret_key,), creds.access_key)
    return Prepared(request, creds, settings, redactor, demo is not None, resolved.warnings)
