"""Credentials and URL from options, environment, config file and prompt, in SPEC section 3's order.

The config file is read only when a value is still missing or a profile is named, so the common
scripted run (keys in the environment) touches no disk before the cancel leaves.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from htx_cancel.errors import CredentialsError, UsageError
from htx_cancel.models import AWS_URL, DEFAULT_URL, Credentials

DEFAULT_PROFILE: Final = "default"


class CredentialOptions(NamedTuple):
    """What the command line said about credentials; the secret itself is never among them."""

    access_key: str | None = None
    secret_key_file: str | None = None
    profile: str | None = None
    url: str | None = None
    aws: bool = False


class Resolved(NamedTuple):
    """Credentials and the URL they are for."""

    credentials: Credentials
    url: str


def config_path(env: Mapping[str, str]) -> Path:
    """$HTX_CANCEL_CONFIG, else the XDG location, as SPEC section 3 orders them."""
    if env.get("HTX_CANCEL_CONFIG"):
        return Path(env["HTX_CANCEL_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "htx-cancel" / "config.toml"


def refuse_if_readable_by_others(path: Path) -> None:
    """Like ssh with a private key: a secret others can read is already leaked, so do not use it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path} holds a secret and is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def read_secret_file(path_text: str) -> str:
    """First line, white space stripped: `echo KEY > file` must work as well as a bare key."""
    path = Path(path_text).expanduser()
    refuse_if_readable_by_others(path)
    try:
        with path.open(encoding="utf-8") as handle:
            secret = handle.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read secret key file {path}: {exc}") from None
    if not secret:
        raise CredentialsError(f"secret key file {path} is empty")
    return secret


def _has_secret(table: object) -> bool:
    """`secret_key` anywhere: in any table, including tables inside arrays (`[[x]]`, `[{...}]`)."""
    if isinstance(table, dict):
        return "secret_key" in table or any(_has_secret(value) for value in table.values())
    if isinstance(table, list):
        return any(_has_secret(value) for value in table)
    return False


def load_profile(path: Path, name: str, required: bool) -> dict[str, str]:
    """The named profile's values; `required` is False only for the implicit default profile."""
    if not path.exists():
        if required:
            raise CredentialsError(f"profile '{name}' requested but config file {path} does not exist")
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on 3.10
        import tomli as tomllib

    try:
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"config file {path} is not valid TOML: {exc}") from None
    if _has_secret(document):
        refuse_if_readable_by_others(path)
    profiles = document.get("profiles", {})
    table = document.get("default") if name == DEFAULT_PROFILE else None
    if table is None and isinstance(profiles, dict):
        table = profiles.get(name)
    if table is None:
        if required:
            raise CredentialsError(f"profile '{name}' not found in config file {path}")
        return {}
    if not isinstance(table, dict):
        raise CredentialsError(f"profile '{name}' in config file {path} is not a table")
    values: dict[str, str] = {}
    for key in ("access_key", "secret_key", "url"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise CredentialsError(f"'{key}' of profile '{name}' in config file {path} must be a string")
        if value:
            values[key] = value
    return values


def check_url(url: str, origin: str) -> str:
    """Only ws:// and wss:// URLs with a host (and a valid port, if any) can be signed and
    connected to; a bad one is a usage error before anything is sent."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("ws", "wss") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        valid = False
    if not valid:
        raise UsageError(f"{origin}: '{url}' is not a ws:// or wss:// URL")
    return url


def check_url_options(url: str | None, aws: bool) -> None:
    """--url and --aws both name the URL; checked before anything else is looked up."""
    if url and aws:
        raise UsageError("--url and --aws both choose the URL; give only one")
    if url:
        check_url(url, "--url")


def resolve(
    options: CredentialOptions,
    env: Mapping[str, str],
    prompt: Callable[[], str] | None,
) -> Resolved:
    """Take each value from the first source that has it; `prompt` is None when stdin or stderr
    is not a terminal, so nothing unattended ever waits for input."""
    check_url_options(options.url, options.aws)
    profile_name = options.profile or env.get("HTX_PROFILE") or DEFAULT_PROFILE
    named = bool(options.profile or env.get("HTX_PROFILE"))
    access_key = options.access_key or env.get("HTX_ACCESS_KEY")
    secret = read_secret_file(options.secret_key_file) if options.secret_key_file else None
    secret = secret or env.get("HTX_SECRET_KEY")
    url = options.url or (AWS_URL if options.aws else None) or env.get("HTX_WS_URL")
    profile: dict[str, str] = {}
    path = config_path(env)
    if named or not (access_key and secret and url):
        profile = load_profile(path, profile_name, required=named)
    access_key = access_key or profile.get("access_key")
    secret = secret or profile.get("secret_key")
    if not access_key:
        raise CredentialsError(
            f"no access key: use --access-key, set HTX_ACCESS_KEY, or add access_key to a profile in {path}"
        )
    if not secret and prompt is not None:
        try:
            secret = prompt().strip()
        except EOFError:  # Ctrl-D at the prompt: no secret given, which is exit 3, not a traceback
            secret = ""
    if not secret:
        raise CredentialsError(
            "no secret key: set HTX_SECRET_KEY, use --secret-key-file PATH, "
            f"or add secret_key to a profile in {path} (chmod 600)"
        )
    if options.url:
        origin = "--url"
    elif options.aws:
        origin = "--aws"
    elif url:
        origin = "HTX_WS_URL"
    else:
        origin = f"profile '{profile_name}' url"
    url = url or profile.get("url") or DEFAULT_URL
    return Resolved(Credentials(access_key, secret), check_url(url, origin))
