"""Option values -> a run ready to go: validated IDs, credentials, settings and trust, or a
UsageError / CredentialsError before anything touches the network.

This is the step between the command line and the engine. It knows nothing of Typer: the CLI
hands it plain values and the outside world (`Environment`), so every rule about which options
go together lives here, testable without a subprocess.
"""

from __future__ import annotations

import math
import os
import select
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TextIO

from htx_cancel.config import CredentialOptions, Resolved, check_url_options, resolve
from htx_cancel.errors import UsageError
from htx_cancel.inputs import parse_contract_code, parse_inputs
from htx_cancel.models import CancelRequest, Credentials, RunSettings
from htx_cancel.proxies import ProxySettingError, proxy_for
from htx_cancel.redaction import Redactor
from htx_cancel.tls import CaBundleError, tls_context

SIM_PLACEHOLDER_URL = "ws://127.0.0.1/linear-swap-trade"
MAX_PEEK = 65536
ALL_TAKES_NO_IDS = "--all cancels every open order of the contract"
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
    all_open: bool = False
    side: str | None = None
    yes: bool = False


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
    sweep: bool = False
    """--all: the request holds no IDs yet; the open-orders listing will give them."""
    side: str | None = None


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
    check_sweep(options)


def check_sweep(options: Options) -> None:
    """--all lists and cancels what is open, so it takes no IDs; --side and --yes only mean
    something with it."""
    if not options.all_open:
        for flag, given in (("--side", options.side is not None), ("--yes", options.yes)):
            if given:
                raise UsageError(f"{flag} goes with --all (cancel every open order of the contract)")
        return
    ids_given = (
        ("-o/--order-id", bool(options.order_ids)),
        ("-c/--client-order-id", bool(options.client_order_ids)),
        ("-f/--file", bool(options.files)),
        ("--client-ids", options.client_ids),
    )
    for flag, given in ids_given:
        if given:
            raise UsageError(f"{ALL_TAKES_NO_IDS}; it cannot be combined with {flag}")


def check_sweep_terminal(options: Options, world: Environment) -> None:
    """On a terminal --all asks before it acts; a script must say what it means with --yes.
    IDs piped in beside --all are refused rather than ignored."""
    if not options.all_open:
        return
    if not world.stdin_is_tty and world.stdin is not None and has_input(world.stdin):
        raise UsageError(
            "--all cancels every open order of the contract; it cannot take IDs on standard input"
        )
    interactive = world.stdin_is_tty and world.stderr_is_tty
    if not (interactive or options.yes or options.dry_run):
        raise UsageError("--all without a terminal to ask on needs --yes: nothing was listed")


def has_input(stdin: TextIO) -> bool:
    """Whether standard input holds anything now, without waiting for a writer that may never
    close it (cron's /dev/null is empty; a pipe still open with nothing in it counts as empty)."""
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return bool(stdin.read(MAX_PEEK).strip())
    try:
        if not select.select([fd], [], [], 0)[0]:
            return False
        return bool(os.read(fd, MAX_PEEK).strip())
    except OSError:
        return False


def prepare(options: Options, world: Environment, demo: Credentials | None = None) -> Prepared:
    """Validate everything a run needs, in the order a user would fix it: options, IDs, then
    credentials (a prompt comes last, only once the IDs are known to be good). `demo` is the
    simulator's key pair for `--simulate`, which needs no credentials of the user's."""
    check_combinations(options)
    check_sweep_terminal(options, world)
    if options.all_open:
        request = CancelRequest(parse_contract_code(options.contract_code), ())
    else:
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
        # A CA file the user named is checked now (bad input opens no connection); with none,
        # there is nothing to check, and the system store loads on the dialling thread instead.
        if settings.url.startswith("wss:") and (settings.ca_bundle or world.env.get("SSL_CERT_FILE")):
            tls_context(settings.ca_bundle, world.env)
    except (CaBundleError, ProxySettingError) as exc:
        raise UsageError(str(exc)) from None
    creds = resolved.credentials
    redactor = Redactor((creds.secret_key,), creds.access_key)
    return Prepared(
        request,
        creds,
        settings,
        redactor,
        demo is not None,
        resolved.warnings,
        options.all_open,
        options.side,
    )
