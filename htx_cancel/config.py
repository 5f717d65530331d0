"""Credentials and URL from options, environment, config file and prompt, in SPEC section 3's order.

The config file is read only when a value is still missing or a profile is named, so the common
scripted run (keys in the environment) touches no disk before the cancel leaves.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from htx_cancel.errors import CredentialsError, UsageError
from htx_cancel.models import AWS_URL, DEFAULT_URL, Credentials

DEFAULT_PROFILE: Final = "default"
MAX_FILE_BYTES: Final = 1 << 20
"""A config or key file is a few hundred bytes; a bigger one is a mistake (`-f`'s file given as
the key file, say), refused before it is read into memory."""


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
    warnings: tuple[str, ...] = ()
    """Things cleaned on the way (white space around a key), for one stderr line each."""


def config_path(env: Mapping[str, str]) -> Path:
    """$HTX_CANCEL_CONFIG, else the XDG location, as SPEC section 3 orders them."""
    if env.get("HTX_CANCEL_CONFIG"):
        return Path(env["HTX_CANCEL_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "htx-cancel" / "config.toml"


def read_private(path: Path, holds_secret: Callable[[str], bool]) -> str:
    """The file's text, read through one descriptor that is checked after opening (as ssh does):
    a stat before the open could be of another file than the one read. A file that holds a
    secret and that group or others can reach is refused: its secret is already leaked.

    O_NONBLOCK keeps a FIFO given by mistake from hanging the open; it is refused below."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"{path} is not a regular file")
        try:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                text = handle.read(MAX_FILE_BYTES + 1).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"cannot read {path}: {exc}") from None
    finally:
        os.close(fd)
    if len(text) > MAX_FILE_BYTES:
        raise CredentialsError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    if holds_secret(text) and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path} holds a secret and is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
        )
    return text


def read_secret_file(path_text: str) -> str:
    """First line: `echo KEY > file` must work as well as a bare key (cleaned by `clean_key`)."""
    path = Path(path_text).expanduser()
    lines = read_private(path, lambda _: True).splitlines()
    secret = lines[0] if lines else ""
    if not secret.strip():
        raise CredentialsError(f"secret key file {path} is empty")
    return secret


def clean_key(value: str, what: str, origin: str, warnings: list[str]) -> str:
    """Key material as editors and shells leave it: a UTF-8 byte-order mark or white space around
    the key is removed with a warning naming where it came from (sent as is, it draws a bare
    2003); anything else that cannot be in a key is refused. The key itself is never quoted."""
    cleaned = value.lstrip("\ufeff").strip()
    if not cleaned:
        raise CredentialsError(f"the {what} from {origin} is empty")
    if not cleaned.isascii() or not cleaned.isprintable() or any(c.isspace() for c in cleaned):
        raise CredentialsError(
            f"the {what} from {origin} contains white space, control or non-ASCII characters"
        )
    if cleaned != value:
        warnings.append(f"removed white space or a byte-order mark around the {what} from {origin}")
    return cleaned


def _has_secret(table: object) -> bool:
    """`secret_key` anywhere: in any table, including tables inside arrays (`[[x]]`, `[{...}]`)."""
    if isinstance(table, dict):
        return "secret_key" in table or any(_has_secret(value) for value in table.values())
    if isinstance(table, list):
        return any(_has_secret(value) for value in table)
    return False


def _parse_toml(tomllib: Any, path: Path, text: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"config file {path} is not valid TOML: {exc}") from None
    return document


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

    text = read_private(path, lambda text: _has_secret(_parse_toml(tomllib, path, text)))
    document = _parse_toml(tomllib, path, text)
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
    connected to; a bad one is a usage error before anything is sent. The scheme comes back in
    lower case (`WSS://` is a valid spelling and must still mean TLS)."""
    try:
        parts = urlsplit(url.strip())
        valid = parts.scheme in ("ws", "wss") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        valid = False
    if not valid:
        raise UsageError(f"{origin}: '{url}' is not a ws:// or wss:// URL")
    return urlunsplit(parts)


def check_url_options(url: str | None, aws: bool) -> None:
    """--url and --aws both name the URL; checked before anything else is looked up."""
    if url and aws:
        raise UsageError("--url and --aws both choose the URL; give only one")
    if url:
        check_url(url, "--url")


def _first(*sources: tuple[str | None, str]) -> tuple[str | None, str]:
    """The first (value, where it came from) that has a value."""
    for value, origin in sources:
        if value:
            return value, origin
    return None, ""


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
    key_file = options.secret_key_file
    access_key = _first((options.access_key, "--access-key"), (env.get("HTX_ACCESS_KEY"), "HTX_ACCESS_KEY"))
    secret = _first(
        (read_secret_file(key_file) if key_file else None, f"--secret-key-file {key_file}"),
        (env.get("HTX_SECRET_KEY"), "HTX_SECRET_KEY"),
    )
    url = _first(
        (options.url, "--url"),
        (AWS_URL if options.aws else None, "--aws"),
        (env.get("HTX_WS_URL"), "HTX_WS_URL"),
    )
    profile: dict[str, str] = {}
    path = config_path(env)
    if named or not (access_key[0] and secret[0] and url[0]):
        profile = load_profile(path, profile_name, required=named)
    in_profile = f"profile '{profile_name}' in {path}"
    access_key = _first(access_key, (profile.get("access_key"), in_profile))
    secret = _first(secret, (profile.get("secret_key"), in_profile))
    if not access_key[0]:
        raise CredentialsError(
            f"no access key: use --access-key, set HTX_ACCESS_KEY, or add access_key to a profile in {path}"
        )
    if not secret[0] and prompt is not None:
        try:
            secret = (prompt(), "the prompt")
        except EOFError:  # Ctrl-D at the prompt: no secret given, which is exit 3, not a traceback
            secret = (None, "")
        secret = (secret[0].strip() or None, secret[1]) if secret[0] else secret
    if not secret[0]:
        raise CredentialsError(
            "no secret key: set HTX_SECRET_KEY, use --secret-key-file PATH, "
            f"or add secret_key to a profile in {path} (chmod 600)"
        )
    warnings: list[str] = []
    credentials = Credentials(
        clean_key(access_key[0], "access key", access_key[1], warnings),
        clean_key(secret[0], "secret key", secret[1], warnings),
    )
    url = _first(url, (profile.get("url"), f"profile '{profile_name}' url"), (DEFAULT_URL, "default"))
    return Resolved(credentials, check_url(str(url[0]), url[1]), tuple(warnings))
