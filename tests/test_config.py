"""SPEC section 3 (README "Credentials"), row by row and column by column.

Most rows go through `config.resolve` directly (pure and fast); a few go end to end through the
real command against the simulator, which checks the signature: a run that exits 0 proves the
secret the row says wins was the one used, and each of those rows is built so that any other
source would have been refused.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from clirun import ACCESS_KEY, CREDENTIALS, SECRET, Result, assert_no_leak, base_env, run_cli
from conftest import SimFactory
from ptyrun import run_on_terminal as run_with_cue

from htx_cancel.config import CredentialOptions, Resolved, config_path, resolve
from htx_cancel.errors import CredentialsError, ExitCode, UsageError
from htx_cancel.models import AWS_URL, DEFAULT_URL, Credentials
from htx_cancel.redaction import mask_access_key

PROMPT_TEXT = "HTX secret key (hidden): "
run_on_terminal = functools.partial(run_with_cue, cue=PROMPT_TEXT.encode())
WRONG_SECRET = "wrong-secret-0000-0000"


def subsets(sources: Sequence[str]) -> list[tuple[str, ...]]:
    """Every combination of present sources, from none to all, in column order."""
    return [c for n in range(len(sources) + 1) for c in itertools.combinations(sources, n)]


def ids(combo: tuple[str, ...]) -> str:
    return "+".join(combo) or "none"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def toml_table(header: str, **values: str | None) -> str:
    lines = [f"[{header}]"] + [f'{key} = "{value}"' for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


class Prompt:
    """Stands in for the hidden prompt and counts how often it was asked."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.answer


# --------------------------------------------------------------------------- access key row

ACCESS_COLUMNS = ("option", "env", "profile")


@pytest.mark.parametrize("present", subsets(ACCESS_COLUMNS), ids=ids)
def test_access_key_row(tmp_path: Path, present: tuple[str, ...]) -> None:
    """--access-key > HTX_ACCESS_KEY > profile access_key; none of them is exit 3."""
    cfg = write(
        tmp_path / "c.toml",
        toml_table(
            "default", access_key=("ak-profile" if "profile" in present else None), url="wss://h.example/p"
        ),
    )
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_SECRET_KEY": "sk-env"}
    if "env" in present:
        env["HTX_ACCESS_KEY"] = "ak-env"
    options = CredentialOptions(access_key="ak-option" if "option" in present else None)
    if not present:
        with pytest.raises(CredentialsError) as raised:
            resolve(options, env, None)
        assert raised.value.exit_code == ExitCode.CREDENTIALS
        message = str(raised.value)
        assert "--access-key" in message and "HTX_ACCESS_KEY" in message and str(cfg) in message
        return
    assert resolve(options, env, None).credentials.access_key == f"ak-{present[0]}"


# --------------------------------------------------------------------------- secret key row

SECRET_COLUMNS = ("file", "env", "profile", "prompt")


@pytest.mark.parametrize("present", subsets(SECRET_COLUMNS), ids=ids)
def test_secret_key_row(tmp_path: Path, present: tuple[str, ...]) -> None:
    """--secret-key-file (first line, stripped) > HTX_SECRET_KEY > profile > prompt (only when
    the caller offers one, i.e. on a terminal); the prompt is never asked when a source has it."""
    cfg = write(
        tmp_path / "c.toml",
        toml_table(
            "default", secret_key=("sk-profile" if "profile" in present else None), url="wss://h.example/p"
        ),
    )
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_ACCESS_KEY": "ak-env"}
    if "env" in present:
        env["HTX_SECRET_KEY"] = "sk-env"
    secret_file = None
    if "file" in present:
        secret_file = str(write(tmp_path / "secret", "  sk-file \t\nsecond-line\n"))
    prompt = Prompt("  sk-prompt\n") if "prompt" in present else None
    options = CredentialOptions(secret_key_file=secret_file)
    if not present:
        with pytest.raises(CredentialsError) as raised:
            resolve(options, env, prompt)
        assert raised.value.exit_code == ExitCode.CREDENTIALS
        assert "HTX_SECRET_KEY" in str(raised.value) and "--secret-key-file" in str(raised.value)
        return
    resolved = resolve(options, env, prompt)
    assert resolved.credentials.secret_key == f"sk-{present[0]}"
    if prompt is not None:
        assert prompt.calls == (1 if present[0] == "prompt" else 0)


@pytest.mark.parametrize(
    "content",
    ["sk-file", "sk-file\n", "sk-file\r\n", "  sk-file  \n", "\tsk-file\t\nanother line\n", "sk-file\n\n\n"],
)
def test_secret_key_file_is_its_first_line_stripped(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "secret", content)
    env = {"HTX_ACCESS_KEY": "ak", "HTX_WS_URL": "wss://h.example/p"}
    assert (
        resolve(CredentialOptions(secret_key_file=str(path)), env, None).credentials.secret_key == "sk-file"
    )


@pytest.mark.parametrize("content", ["", "\n", "   \nsk-on-line-two\n"])
def test_secret_key_file_with_an_empty_first_line_is_exit_3(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "secret", content)
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk-env", "HTX_WS_URL": "wss://h.example/p"}
    with pytest.raises(CredentialsError, match="empty") as raised:
        resolve(CredentialOptions(secret_key_file=str(path)), env, None)
    assert str(path) in str(raised.value)


def test_missing_secret_key_file_is_exit_3_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "no-such-secret"
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk-env", "HTX_WS_URL": "wss://h.example/p"}
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(secret_key_file=str(path)), env, None)
    assert str(path) in str(raised.value)


def test_prompt_answer_is_stripped_and_empty_answer_is_exit_3(tmp_path: Path) -> None:
    env = {
        "HTX_ACCESS_KEY": "ak",
        "HTX_WS_URL": "wss://h.example/p",
        "HTX_CANCEL_CONFIG": str(tmp_path / "x"),
    }
    assert resolve(CredentialOptions(), env, Prompt(" typed \n")).credentials.secret_key == "typed"
    with pytest.raises(CredentialsError):
        resolve(CredentialOptions(), env, Prompt("   \n"))


def test_end_of_input_at_the_prompt_is_exit_3(tmp_path: Path) -> None:
    """Ctrl-D at the hidden prompt (getpass raises EOFError) is a missing secret, not a traceback."""

    def eof() -> str:
        raise EOFError

    env = {
        "HTX_ACCESS_KEY": "ak",
        "HTX_WS_URL": "wss://h.example/p",
        "HTX_CANCEL_CONFIG": str(tmp_path / "x"),
    }
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(), env, eof)
    assert raised.value.exit_code == ExitCode.CREDENTIALS


def test_prompt_is_not_asked_when_the_access_key_is_missing(tmp_path: Path) -> None:
    prompt = Prompt("typed")
    with pytest.raises(CredentialsError, match="access key"):
        resolve(CredentialOptions(), {"HTX_CANCEL_CONFIG": str(tmp_path / "x")}, prompt)
    assert prompt.calls == 0


# --------------------------------------------------------------------------- URL row

URL_COLUMNS = ("url", "aws", "env", "profile")
URL_VALUES = {
    "url": "wss://from-option.example/linear-swap-trade",
    "aws": AWS_URL,
    "env": "wss://from-env.example/linear-swap-trade",
    "profile": "wss://from-profile.example/linear-swap-trade",
}


@pytest.mark.parametrize("present", subsets(URL_COLUMNS), ids=ids)
def test_url_row(tmp_path: Path, present: tuple[str, ...]) -> None:
    """--url > --aws > HTX_WS_URL > profile url > the default; --url with --aws is exit 2."""
    profile_url = URL_VALUES["profile"] if "profile" in present else None
    cfg = write(tmp_path / "c.toml", toml_table("default", url=profile_url))
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk"}
    if "env" in present:
        env["HTX_WS_URL"] = URL_VALUES["env"]
    options = CredentialOptions(url=URL_VALUES["url"] if "url" in present else None, aws="aws" in present)
    if "url" in present and "aws" in present:
        with pytest.raises(UsageError) as raised:
            resolve(options, env, None)
        assert raised.value.exit_code == ExitCode.USAGE
        assert "--url" in str(raised.value) and "--aws" in str(raised.value)
        return
    expected = URL_VALUES[present[0]] if present else DEFAULT_URL
    assert resolve(options, env, None).url == expected


def test_default_and_aws_urls_are_the_documented_ones() -> None:
    assert DEFAULT_URL == "wss://api.hbdm.com/linear-swap-trade"
    assert AWS_URL == "wss://api.hbdm.vn/linear-swap-trade"


def test_url_with_aws_is_a_usage_error_before_any_credential_is_looked_for() -> None:
    with pytest.raises(UsageError):
        resolve(CredentialOptions(url="wss://h.example/p", aws=True), {}, Prompt("never"))


@pytest.mark.parametrize(
    ("where", "bad"),
    [("--url", "https://h.example/p"), ("HTX_WS_URL", "h.example/p"), ("profile", "ws:///no-host")],
)
def test_a_url_that_is_not_ws_is_exit_2_naming_its_source(tmp_path: Path, where: str, bad: str) -> None:
    cfg = write(tmp_path / "c.toml", toml_table("default", url=bad if where == "profile" else None))
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk"}
    if where == "HTX_WS_URL":
        env["HTX_WS_URL"] = bad
    with pytest.raises(UsageError) as raised:
        resolve(CredentialOptions(url=bad if where == "--url" else None), env, None)
    assert where in str(raised.value) and bad in str(raised.value)


# --------------------------------------------------------------------------- profile row

PROFILE_COLUMNS = ("option", "env")
PROFILES_TOML = (
    toml_table("default", access_key="ak-default", secret_key="sk-default", url="wss://default.example/p")
    + toml_table("profiles.opt", access_key="ak-opt", secret_key="sk-opt", url="wss://opt.example/p")
    + toml_table("profiles.envp", access_key="ak-envp", secret_key="sk-envp", url="wss://envp.example/p")
)


@pytest.mark.parametrize("present", subsets(PROFILE_COLUMNS), ids=ids)
def test_profile_row(tmp_path: Path, present: tuple[str, ...]) -> None:
    """--profile > HTX_PROFILE > default, and the profile named default is the [default] table."""
    cfg = write(tmp_path / "c.toml", PROFILES_TOML)
    env = {"HTX_CANCEL_CONFIG": str(cfg)}
    if "env" in present:
        env["HTX_PROFILE"] = "envp"
    options = CredentialOptions(profile="opt" if "option" in present else None)
    name = {"option": "opt", "env": "envp"}[present[0]] if present else "default"
    assert resolve(options, env, None) == Resolved(
        Credentials(f"ak-{name}", f"sk-{name}"), f"wss://{name}.example/p"
    )


@pytest.mark.parametrize("how", ["implicit", "--profile", "HTX_PROFILE"])
def test_the_default_table_is_the_default_profile(tmp_path: Path, how: str) -> None:
    cfg = write(
        tmp_path / "c.toml",
        toml_table("default", access_key="ak-table", secret_key="sk-table")
        + toml_table("profiles.default", access_key="ak-nested", secret_key="sk-nested"),
    )
    env = {"HTX_CANCEL_CONFIG": str(cfg)}
    if how == "HTX_PROFILE":
        env["HTX_PROFILE"] = "default"
    options = CredentialOptions(profile="default" if how == "--profile" else None)
    assert resolve(options, env, None).credentials == Credentials("ak-table", "sk-table")


def test_profile_fills_in_only_what_earlier_sources_left_missing(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", PROFILES_TOML)
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_SECRET_KEY": "sk-env", "HTX_PROFILE": "envp"}
    resolved = resolve(CredentialOptions(access_key="ak-option"), env, None)
    assert resolved == Resolved(Credentials("ak-option", "sk-env"), "wss://envp.example/p")


@pytest.mark.parametrize("how", ["--profile", "HTX_PROFILE"])
def test_unknown_profile_is_exit_3_naming_the_file(tmp_path: Path, how: str) -> None:
    cfg = write(tmp_path / "c.toml", PROFILES_TOML)
    env = {
        "HTX_CANCEL_CONFIG": str(cfg),
        "HTX_ACCESS_KEY": "ak",
        "HTX_SECRET_KEY": "sk",
        "HTX_WS_URL": "ws://h/p",
    }
    if how == "HTX_PROFILE":
        env["HTX_PROFILE"] = "nope"
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(profile="nope" if how == "--profile" else None), env, None)
    assert raised.value.exit_code == ExitCode.CREDENTIALS
    assert "nope" in str(raised.value) and str(cfg) in str(raised.value)


def test_named_profile_without_a_config_file_is_exit_3_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(profile="live"), {"HTX_CANCEL_CONFIG": str(missing)}, None)
    assert str(missing) in str(raised.value)


def test_profile_values_must_be_strings(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[default]\naccess_key = 42\n")
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(), {"HTX_CANCEL_CONFIG": str(cfg)}, None)
    assert "access_key" in str(raised.value) and str(cfg) in str(raised.value)


# --------------------------------------------------------------------------- the config file


def test_config_path_resolution_order() -> None:
    every = {"HTX_CANCEL_CONFIG": "/a/b.toml", "XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}
    assert config_path(every) == Path("/a/b.toml")
    assert config_path({**every, "HTX_CANCEL_CONFIG": ""}) == Path("/xdg/htx-cancel/config.toml")
    assert config_path({"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}) == Path("/xdg/htx-cancel/config.toml")
    assert config_path({"XDG_CONFIG_HOME": "", "HOME": "/home/u"}) == Path(
        "/home/u/.config/htx-cancel/config.toml"
    )
    assert config_path({"HOME": "/home/u"}) == Path("/home/u/.config/htx-cancel/config.toml")


@pytest.mark.parametrize("winner", ["HTX_CANCEL_CONFIG", "XDG_CONFIG_HOME", "HOME"])
def test_the_config_file_read_is_the_first_location_set(tmp_path: Path, winner: str) -> None:
    files = {
        "HTX_CANCEL_CONFIG": tmp_path / "explicit.toml",
        "XDG_CONFIG_HOME": tmp_path / "xdg" / "htx-cancel" / "config.toml",
        "HOME": tmp_path / "home" / ".config" / "htx-cancel" / "config.toml",
    }
    for name, path in files.items():
        write(path, toml_table("default", access_key=f"ak-{name}", secret_key=f"sk-{name}"))
    env = {"HTX_CANCEL_CONFIG": str(files["HTX_CANCEL_CONFIG"]), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env["HOME"] = str(tmp_path / "home")
    order = list(files)
    for name in order[: order.index(winner)]:
        del env[name]
    assert resolve(CredentialOptions(), env, None).credentials == Credentials(f"ak-{winner}", f"sk-{winner}")


def test_malformed_toml_is_exit_3_naming_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[default]\naccess_key = "unterminated\n')
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(), {"HTX_CANCEL_CONFIG": str(cfg)}, None)
    assert raised.value.exit_code == ExitCode.CREDENTIALS
    assert str(cfg) in str(raised.value) and "TOML" in str(raised.value)


def test_config_file_is_not_read_when_every_value_is_known(tmp_path: Path) -> None:
    """README: keys in the environment touch no disk; a broken (or unsafe) file is not even opened."""
    cfg = write(tmp_path / "c.toml", 'secret_key = "x"\nnot toml at all [[[\n', mode=0o644)
    env = {
        "HTX_CANCEL_CONFIG": str(cfg),
        "HTX_ACCESS_KEY": "ak",
        "HTX_SECRET_KEY": "sk",
        "HTX_WS_URL": "ws://h/p",
    }
    assert resolve(CredentialOptions(), env, None) == Resolved(Credentials("ak", "sk"), "ws://h/p")
    with pytest.raises(CredentialsError):  # ... but it is read once a profile is named
        resolve(CredentialOptions(profile="default"), env, None)


# --------------------------------------------------------------------------- permissions

UNSAFE_MODES = [0o640, 0o604, 0o644, 0o660, 0o606, 0o664]


def assert_refused_for_mode(raised: pytest.ExceptionInfo[CredentialsError], path: Path) -> None:
    assert raised.value.exit_code == ExitCode.CREDENTIALS
    assert str(path) in str(raised.value)
    assert f"chmod 600 {path}" in str(raised.value)


@pytest.mark.parametrize("mode", UNSAFE_MODES, ids=oct)
def test_config_with_a_secret_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    cfg = write(tmp_path / "c.toml", toml_table("default", access_key="ak", secret_key="sk"), mode)
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(), {"HTX_CANCEL_CONFIG": str(cfg)}, None)
    assert_refused_for_mode(raised, cfg)


@pytest.mark.parametrize(
    "text",
    [
        toml_table("default", access_key="ak") + toml_table("profiles.other", secret_key="sk"),
        'secret_key = "sk"\n' + toml_table("default", access_key="ak"),
        toml_table("default", access_key="ak") + '[[extra]]\nsecret_key = "sk"\n',
        toml_table("default", access_key="ak") + 'profiles = [{ secret_key = "sk" }]\n',
    ],
    ids=["other-profile", "top-level", "array-of-tables", "inline-array"],
)
def test_a_secret_anywhere_in_a_readable_config_refuses_it(tmp_path: Path, text: str) -> None:
    """Even when the profile in use holds no secret: the file as a whole is already leaked."""
    cfg = write(tmp_path / "c.toml", text, 0o644)
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_SECRET_KEY": "sk-env"}
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(), env, None)
    assert_refused_for_mode(raised, cfg)


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=oct)
def test_config_with_a_secret_private_to_its_owner_is_used(tmp_path: Path, mode: int) -> None:
    cfg = write(tmp_path / "c.toml", toml_table("default", access_key="ak", secret_key="sk"), mode)
    assert resolve(CredentialOptions(), {"HTX_CANCEL_CONFIG": str(cfg)}, None).credentials.secret_key == "sk"


def test_config_without_a_secret_may_be_world_readable(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", toml_table("default", access_key="ak", url="wss://h.example/p"), 0o644)
    env = {"HTX_CANCEL_CONFIG": str(cfg), "HTX_SECRET_KEY": "sk-env"}
    assert resolve(CredentialOptions(), env, None) == Resolved(
        Credentials("ak", "sk-env"), "wss://h.example/p"
    )


@pytest.mark.parametrize("mode", UNSAFE_MODES, ids=oct)
def test_secret_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "secret", "sk-file\n", mode)
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk-env", "HTX_WS_URL": "wss://h.example/p"}
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(secret_key_file=str(path)), env, None)
    assert_refused_for_mode(raised, path)


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=oct)
def test_secret_key_file_private_to_its_owner_is_used(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "secret", "sk-file\n", mode)
    env = {"HTX_ACCESS_KEY": "ak", "HTX_WS_URL": "wss://h.example/p"}
    assert (
        resolve(CredentialOptions(secret_key_file=str(path)), env, None).credentials.secret_key == "sk-file"
    )


# --------------------------------------------------------------------------- no secret in reprs


def test_no_repr_shows_the_secret(tmp_path: Path) -> None:
    creds = Credentials(ACCESS_KEY, SECRET)
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    assert ACCESS_KEY in repr(creds)  # the check above is not vacuous: the repr does render fields
    env = {"HTX_ACCESS_KEY": ACCESS_KEY, "HTX_SECRET_KEY": SECRET, "HTX_WS_URL": "ws://h/p"}
    resolved = resolve(CredentialOptions(), env, None)
    assert resolved.credentials.secret_key == SECRET
    assert SECRET not in repr(resolved) and SECRET not in str(resolved)
    # No command-line option carries the secret itself, only a path to it.
    assert set(CredentialOptions._fields) == {
        "access_key",
        "secret_key_file",
        "profile",
        "url",
        "aws",
    }


# --------------------------------------------------------------------------- end to end


def cli_env(drop: Iterable[str] = (), **extra: str) -> dict[str, str]:
    env = base_env()
    for name in drop:
        env.pop(name, None)
    env.update(extra)
    return env


def test_cli_secret_key_file_beats_environment_and_profile(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    cfg = write(tmp_path / "c.toml", toml_table("default", access_key=ACCESS_KEY, secret_key=WRONG_SECRET))
    secret_file = write(tmp_path / "secret", f"  {SECRET}  \n{WRONG_SECRET}\n")
    env = cli_env(HTX_SECRET_KEY=WRONG_SECRET, HTX_CANCEL_CONFIG=str(cfg), HTX_WS_URL=sim.url)
    result = run_cli(["BTC-USDT", "-o", "101", "--secret-key-file", str(secret_file), "--json"], sim, env=env)
    assert result.code == 0, result.err
    assert result.states() == {"101": "cancelled"}


def test_cli_environment_secret_beats_profile_which_gives_key_and_url(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    cfg = write(
        tmp_path / "c.toml",
        toml_table("default", access_key=ACCESS_KEY, secret_key=WRONG_SECRET, url=sim.url),
    )
    env = cli_env(drop=["HTX_ACCESS_KEY"], HTX_CANCEL_CONFIG=str(cfg))
    result = run_cli(["BTC-USDT", "-o", "101", "--json"], sim, env=env)
    assert result.code == 0, result.err
    assert result.json()["url"] == sim.url


def test_cli_profile_column(sim_factory: SimFactory, tmp_path: Path) -> None:
    """[default] and `good` hold the right secret, `bad` a wrong one: each exit shows which won."""
    sim = sim_factory(credentials=CREDENTIALS)
    cfg = write(
        tmp_path / "c.toml",
        toml_table("default", access_key=ACCESS_KEY, secret_key=SECRET, url=sim.url)
        + toml_table("profiles.good", access_key=ACCESS_KEY, secret_key=SECRET, url=sim.url)
        + toml_table("profiles.bad", access_key=ACCESS_KEY, secret_key=WRONG_SECRET, url=sim.url),
    )
    env = cli_env(drop=["HTX_ACCESS_KEY", "HTX_SECRET_KEY"], HTX_CANCEL_CONFIG=str(cfg))
    assert run_cli(["BTC-USDT", "-o", "101"], sim, env=env).code == 0  # [default]
    with_bad = {**env, "HTX_PROFILE": "bad"}
    assert run_cli(["BTC-USDT", "-o", "102"], sim, env=with_bad).code == 3  # HTX_PROFILE beats [default]
    assert run_cli(["BTC-USDT", "-o", "103", "--profile", "good"], sim, env=with_bad).code == 0
    assert sim.order("101").status == sim.order("103").status == "cancelled"
    assert sim.order("102").status == "open"


def test_cli_access_key_option_beats_environment(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = cli_env(HTX_ACCESS_KEY="not-the-access-key-0000", HTX_WS_URL=sim.url)
    assert run_cli(["BTC-USDT", "-o", "101", "--access-key", ACCESS_KEY], sim, env=env).code == 0
    assert run_cli(["BTC-USDT", "-o", "102"], sim, env=env).code == 3  # the contrast: env alone is wrong


def test_cli_url_column(sim_factory: SimFactory, tmp_path: Path) -> None:
    """--url beats HTX_WS_URL, which beats the profile url: the decoy never sees a connection."""
    sim = sim_factory(credentials=CREDENTIALS)
    decoy = sim_factory(credentials=CREDENTIALS)
    cfg = write(tmp_path / "c.toml", toml_table("default", url=decoy.url))
    env = cli_env(HTX_WS_URL=decoy.url, HTX_CANCEL_CONFIG=str(cfg))
    assert run_cli(["BTC-USDT", "-o", "101", "--url", sim.url], sim, env=env).code == 0
    env["HTX_WS_URL"] = sim.url
    assert run_cli(["BTC-USDT", "-o", "102"], sim, env=env).code == 0
    assert len(sim.cancels) == 2 and decoy.connections == 0
    both = run_cli(["BTC-USDT", "-o", "103", "--url", sim.url, "--aws", "--json"], sim, env=env)
    assert both.code == 2 and both.json()["error"]["exit_code"] == 2
    assert len(both.err.strip().splitlines()) == 1
    assert len(sim.cancels) == 2 and sim.connections == 2


@pytest.mark.parametrize("location", ["XDG_CONFIG_HOME", "HOME"])
def test_cli_finds_the_config_in_its_default_location(
    sim_factory: SimFactory, tmp_path: Path, location: str
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    right = toml_table("default", access_key=ACCESS_KEY, secret_key=SECRET, url=sim.url)
    wrong = toml_table("default", access_key=ACCESS_KEY, secret_key=WRONG_SECRET, url=sim.url)
    xdg, home = tmp_path / "xdg", tmp_path / "home"
    write(xdg / "htx-cancel" / "config.toml", right if location == "XDG_CONFIG_HOME" else wrong)
    write(home / ".config" / "htx-cancel" / "config.toml", right)
    env = cli_env(
        drop=["HTX_ACCESS_KEY", "HTX_SECRET_KEY", "HTX_CANCEL_CONFIG", "XDG_CONFIG_HOME"], HOME=str(home)
    )
    if location == "XDG_CONFIG_HOME":
        env["XDG_CONFIG_HOME"] = str(xdg)
    result = run_cli(["BTC-USDT", "-o", "101"], sim, env=env)
    assert result.code == 0, result.err


def test_cli_config_errors_are_exit_3_naming_the_file(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    good = write(tmp_path / "good.toml", toml_table("default", access_key=ACCESS_KEY, secret_key=SECRET))
    broken = write(tmp_path / "broken.toml", "[default\n")
    loose = write(
        tmp_path / "loose.toml", toml_table("default", access_key=ACCESS_KEY, secret_key=SECRET), 0o644
    )
    loose_secret = write(tmp_path / "loose-secret", SECRET + "\n", 0o644)
    cases: list[tuple[list[str], Path, Path, str]] = [
        (["--profile", "nope"], good, good, "nope"),
        ([], broken, broken, "TOML"),
        ([], loose, loose, f"chmod 600 {loose}"),
        (["--secret-key-file", str(loose_secret)], good, loose_secret, f"chmod 600 {loose_secret}"),
    ]
    for extra, cfg, named, words in cases:
        env = cli_env(
            drop=["HTX_ACCESS_KEY", "HTX_SECRET_KEY"], HTX_CANCEL_CONFIG=str(cfg), HTX_WS_URL=sim.url
        )
        result = run_cli(["BTC-USDT", "-o", "101", "--json", *extra], sim, env=env)
        assert result.code == 3, (extra, cfg, result.err)
        assert str(named) in result.err and words in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert result.json()["error"]["exit_code"] == 3
    assert sim.connections == 0


def test_cli_missing_secret_off_a_terminal_is_exit_3_and_sends_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101"], sim, env=cli_env(drop=["HTX_SECRET_KEY"], HTX_WS_URL=sim.url))
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "HTX_SECRET_KEY" in lines[0] and "--secret-key-file" in lines[0]
    assert result.out == ""
    assert sim.received == [] and sim.connections == 0


def test_cli_dry_run_masks_the_access_key(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    result = run_cli(["BTC-USDT", "-o", "101", "--dry-run"], sim)
    assert result.code == 0
    auth = json.loads(result.out.splitlines()[0])
    assert auth["AccessKeyId"] == f"{ACCESS_KEY[:4]}...{ACCESS_KEY[-4:]}" == mask_access_key(ACCESS_KEY)
    assert ACCESS_KEY not in result.out + result.err
    short = "abcdefghijk"  # 11 characters: fully masked
    env = cli_env(HTX_ACCESS_KEY=short, HTX_WS_URL=sim.url)
    masked = json.loads(run_cli(["BTC-USDT", "-o", "101", "--dry-run"], sim, env=env).out.splitlines()[0])
    assert masked["AccessKeyId"] == "*" * len(short)
    assert sim.connections == 0


# --------------------------------------------------------------------------- the hidden prompt


def test_hidden_prompt_on_a_terminal(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = cli_env(drop=["HTX_SECRET_KEY"], HTX_WS_URL=sim.url)
    run = run_on_terminal(["BTC-USDT", "-o", "101", "--json"], env, typed=SECRET.encode() + b"\n")
    assert run.code == 0, run.terminal
    assert PROMPT_TEXT in run.terminal
    assert json.loads(run.out)["results"][0]["state"] == "cancelled"
    assert sim.order("101").status == "cancelled"
    # Not echoed by the terminal, not printed by the tool, and no signature either.
    assert SECRET not in run.terminal and SECRET not in run.out
    assert_no_leak(Result(run.code, run.out, run.terminal), sim)


def test_ctrl_d_at_the_prompt_is_exit_3_without_a_traceback(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = cli_env(drop=["HTX_SECRET_KEY"], HTX_WS_URL=sim.url)
    run = run_on_terminal(["BTC-USDT", "-o", "101"], env, typed=b"\x04")
    assert run.code == 3, run.terminal
    assert "Traceback" not in run.terminal
    assert sim.connections == 0


@pytest.mark.parametrize(("stdin_tty", "stderr_tty"), [(True, False), (False, True)])
def test_no_prompt_unless_stdin_and_stderr_are_both_terminals(
    sim_factory: SimFactory, stdin_tty: bool, stderr_tty: bool
) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = cli_env(drop=["HTX_SECRET_KEY"], HTX_WS_URL=sim.url)
    run = run_on_terminal(
        ["BTC-USDT", "-o", "101"], env, typed=None, stdin_tty=stdin_tty, stderr_tty=stderr_tty
    )
    assert run.code == 3
    assert PROMPT_TEXT not in run.terminal + run.err
    assert "HTX_SECRET_KEY" in run.terminal + run.err
    assert sim.connections == 0


def test_ctrl_c_at_the_prompt_is_exit_130_and_sends_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(credentials=CREDENTIALS)
    env = cli_env(drop=["HTX_SECRET_KEY"], HTX_WS_URL=sim.url)
    run = run_on_terminal(["BTC-USDT", "-o", "101"], env, typed=b"\x03")
    assert run.code == 130, run.terminal
    assert "Traceback" not in run.terminal
    assert sim.connections == 0


# --------------------------------------------------------------------------- files, keys, URLs


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_a_secret_key_file_that_is_not_a_regular_file_says_so(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "key"
    if kind == "directory":
        path.mkdir(mode=0o700)
    elif kind == "fifo":
        os.mkfifo(path, 0o600)  # an open without O_NONBLOCK would hang here
    else:
        path = Path("/dev/null")
    env = {"HTX_ACCESS_KEY": "ak", "HTX_CANCEL_CONFIG": str(tmp_path / "none.toml")}
    with pytest.raises(CredentialsError) as raised:
        resolve(CredentialOptions(secret_key_file=str(path)), env, None)
    assert str(raised.value) == f"{path} is not a regular file"
    assert "chmod" not in str(raised.value)


def test_a_config_that_is_a_directory_says_so(tmp_path: Path) -> None:
    env = {"HTX_CANCEL_CONFIG": str(tmp_path)}
    with pytest.raises(CredentialsError, match="is not a regular file"):
        resolve(CredentialOptions(), env, None)


def test_the_mode_checked_is_the_one_of_the_file_read(tmp_path: Path) -> None:
    """Through a symlink the check follows to what is opened, not to the link's own mode."""
    target = write(tmp_path / "real-key", "sk\n", 0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    env = {"HTX_ACCESS_KEY": "ak", "HTX_CANCEL_CONFIG": str(tmp_path / "none.toml")}
    with pytest.raises(CredentialsError, match=f"chmod 600 {link}"):
        resolve(CredentialOptions(secret_key_file=str(link)), env, None)


@pytest.mark.parametrize(
    ("raw", "source"),
    [("\ufeffsk-1", "file"), ("  sk-1\t", "env"), ("\ufeff sk-1 ", "env"), (" sk-1", "profile")],
)
def test_a_bom_or_white_space_around_the_secret_is_removed_with_a_warning(
    tmp_path: Path, raw: str, source: str
) -> None:
    env = {"HTX_ACCESS_KEY": " ak-1 ", "HTX_CANCEL_CONFIG": str(tmp_path / "c.toml")}
    options = CredentialOptions()
    if source == "file":
        options = CredentialOptions(secret_key_file=str(write(tmp_path / "key", raw + "\n")))
    elif source == "env":
        env["HTX_SECRET_KEY"] = raw
    else:
        write(tmp_path / "c.toml", toml_table("default", secret_key=raw))
    resolved = resolve(options, env, None)
    assert resolved.credentials == Credentials("ak-1", "sk-1")
    assert any("access key from HTX_ACCESS_KEY" in w for w in resolved.warnings)
    assert any("secret key from" in w for w in resolved.warnings)
    assert all("sk-1" not in w for w in resolved.warnings)


@pytest.mark.parametrize("raw", ["sk 1", "sk\x1b1", "sk\u202e1", "sk\u00e91"])
def test_a_secret_with_white_space_or_odd_characters_inside_is_refused(tmp_path: Path, raw: str) -> None:
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": raw, "HTX_CANCEL_CONFIG": str(tmp_path / "c.toml")}
    with pytest.raises(CredentialsError, match="secret key from HTX_SECRET_KEY contains") as raised:
        resolve(CredentialOptions(), env, None)
    assert raw not in str(raised.value)


def test_clean_keys_give_no_warning(tmp_path: Path) -> None:
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk", "HTX_CANCEL_CONFIG": str(tmp_path / "c.toml")}
    assert resolve(CredentialOptions(), env, None).warnings == ()


@pytest.mark.parametrize(
    "url", ["WSS://api.hbdm.com/linear-swap-trade", "Wss://api.hbdm.com/linear-swap-trade"]
)
def test_an_upper_case_scheme_is_accepted_and_still_means_tls(url: str) -> None:
    env = {"HTX_ACCESS_KEY": "ak", "HTX_SECRET_KEY": "sk", "HTX_WS_URL": url}
    assert resolve(CredentialOptions(), env, None).url == "wss://api.hbdm.com/linear-swap-trade"
