"""Proxies end to end: the real CLI in a subprocess, the simulator behind a real CONNECT proxy
on loopback (tests/proxy.py), and every connection a run makes counted at the proxy.

One rule for all of them (proxies.proxy_for, curl's): the trade socket, the notification socket
(`--confirm`), the open-orders listing (`--all`) and the order query (`--confirm` without pushes)
take the same route. ws:// reads `http_proxy` (never upper-case HTTP_PROXY), wss:// reads
`https_proxy`/`HTTPS_PROXY`; `NO_PROXY` exempts a host; a proxy that refuses is one line and exit
4; a proxy variable the tool cannot use is exit 2 before anything connects.

The simulator answers each REST call with `Connection: close`, so every call is a tunnel of its
own: the proxy's CONNECT count is exactly the sockets plus the REST calls the simulator saw.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from clirun import (
    CREDENTIALS,
    Result,
    assert_no_rest_leak,
    base_env,
    run_cli,
)
from conftest import SimFactory
from proxy import ConnectProxy

from htx_cancel.simulator import OPENS_PATH, ORDER_PATH, Faults, Simulator, open_book

PROG = "htx-cancel: "
PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


# --------------------------------------------------------------------------- helpers


def proxy_env(url: str, **proxies: str) -> dict[str, str]:
    """The CLI's environment with no proxy setting of the machine's, and `proxies` set."""
    env = {k: v for k, v in base_env(url).items() if k.lower() not in PROXY_VARIABLES}
    env.update(proxies)
    return env


def run(sim: Simulator, args: list[str], env: dict[str, str], log: Path | None = None) -> Result:
    argv = ["BTC-USDT", *args]
    if log is not None:
        argv += ["--log-file", str(log)]
    result = run_cli(argv, sim, env=env, log_file=log, timeout=30)
    assert_no_rest_leak(result, sim, log)
    return result


def authority(sim: Simulator) -> str:
    """host:port as the CONNECT line names the simulator."""
    return sim.url.split("://", 1)[1].split("/", 1)[0]


def connections_made(sim: Simulator) -> int:
    """Every TCP connection the run opened to the simulator: its sockets and its REST calls."""
    return sim.connections + sim.notify_connections + len(sim.rest_requests)


def rest_paths(sim: Simulator) -> list[str]:
    return [r.path for r in sim.rest_requests]


SWEEP_CONFIRM = ["--all", "--yes", "--confirm", "--json", "--timeout", "0.3"]


def assert_swept_and_confirmed(result: Result, sim: Simulator) -> None:
    """Three orders listed, cancelled on one trade socket, confirmed by one order query each
    (no pushes), then the second look: every kind of connection the tool makes."""
    assert result.code == 0, result.err
    assert result.err == ""
    got = [(r["state"], r["confirmed"], r["final_state"]) for r in result.json()["results"]]
    assert got == [("cancelled", True, "canceled")] * 3
    assert sim.connections == 1 and sim.notify_connections == 1
    assert rest_paths(sim) == [OPENS_PATH, ORDER_PATH, ORDER_PATH, ORDER_PATH, OPENS_PATH]
    assert all(o.status == "cancelled" for o in sim.orders())


@pytest.fixture
def refusing() -> Iterator[ConnectProxy]:
    """A proxy that must not be used: it refuses (403) and records whatever tried."""
    with ConnectProxy(refuse=403) as proxy:
        yield proxy


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def plain_sim(sim_factory: SimFactory, **faults: Any) -> Simulator:
    return sim_factory(open_book(3), Faults(ping_interval=0, **faults), credentials=CREDENTIALS)


def tls_sim(sim_factory: SimFactory, ca: trustme.CA, **faults: Any) -> Simulator:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    sim = sim_factory(
        open_book(3), Faults(ping_interval=0, **faults), credentials=CREDENTIALS, ssl_context=context
    )
    assert sim.url.startswith("wss://localhost:")
    return sim


# --------------------------------------------------------------------------- through the proxy


def test_plain_ws_run_goes_through_http_proxy_everywhere(
    sim_factory: SimFactory, proxy: ConnectProxy, refusing: ConnectProxy
) -> None:
    """ws:// reads http_proxy: HTTPS_PROXY is for wss://, and HTTP_PROXY is never read."""
    sim = plain_sim(sim_factory, no_pushes=True)
    env = proxy_env(sim.url, http_proxy=proxy.url, HTTPS_PROXY=refusing.url, HTTP_PROXY=refusing.url)
    result = run(sim, SWEEP_CONFIRM, env)
    assert_swept_and_confirmed(result, sim)
    assert proxy.targets == [authority(sim)] * connections_made(sim)
    assert len(proxy.targets) == 7
    assert refusing.targets == []


def test_tls_wss_run_goes_through_https_proxy_everywhere(
    sim_factory: SimFactory, ca: trustme.CA, bundle: Path, proxy: ConnectProxy, refusing: ConnectProxy
) -> None:
    """TLS end to end through the tunnel, the certificate checked against the trustme CA."""
    sim = tls_sim(sim_factory, ca, no_pushes=True)
    env = proxy_env(sim.url, HTTPS_PROXY=proxy.url, http_proxy=refusing.url)
    result = run(sim, [*SWEEP_CONFIRM, "--ca-bundle", str(bundle)], env)
    assert_swept_and_confirmed(result, sim)
    assert authority(sim).startswith("localhost:")
    assert proxy.targets == [authority(sim)] * connections_made(sim)
    assert refusing.targets == []


def test_lower_case_https_proxy_wins_over_upper_case(
    sim_factory: SimFactory, ca: trustme.CA, bundle: Path, proxy: ConnectProxy, refusing: ConnectProxy
) -> None:
    sim = tls_sim(sim_factory, ca)
    env = proxy_env(sim.url, https_proxy=proxy.url, HTTPS_PROXY=refusing.url)
    result = run(sim, ["--all", "--yes", "-q", "--ca-bundle", str(bundle)], env)
    assert result.code == 0, result.err
    assert proxy.targets == [authority(sim)] * connections_made(sim)
    assert refusing.targets == []


def test_all_proxy_is_the_fallback(sim_factory: SimFactory, proxy: ConnectProxy) -> None:
    sim = plain_sim(sim_factory)
    result = run(sim, ["--all", "--yes", "-q"], proxy_env(sim.url, ALL_PROXY=proxy.url))
    assert result.code == 0, result.err
    assert proxy.targets == [authority(sim)] * connections_made(sim)
    assert connections_made(sim) == 3  # listing, trade socket, second look


def test_upper_case_http_proxy_is_ignored_for_ws(sim_factory: SimFactory, refusing: ConnectProxy) -> None:
    """curl's httpoxy rule: a CGI server puts a request's `Proxy:` header in HTTP_PROXY."""
    sim = plain_sim(sim_factory)
    result = run(sim, ["--all", "--yes", "-q"], proxy_env(sim.url, HTTP_PROXY=refusing.url))
    assert result.code == 0, result.err
    assert refusing.targets == []
    assert sim.connections == 1


def test_proxy_credentials_are_sent_on_every_tunnel_and_never_shown(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = plain_sim(sim_factory, no_pushes=True)
    log = tmp_path / "audit.jsonl"
    with ConnectProxy(auth=("trader", "p@ss:word")) as proxy:
        env = proxy_env(sim.url, http_proxy=f"http://trader:p%40ss%3Aword@127.0.0.1:{proxy.port}")
        result = run(sim, [*SWEEP_CONFIRM, "-v"], env, log=log)
    assert_swept_and_confirmed_verbose(result, sim)
    assert len(proxy.authorizations) == connections_made(sim) == 7
    assert set(proxy.authorizations) == {"Basic dHJhZGVyOnBAc3M6d29yZA=="}  # trader:p@ss:word
    for text in (result.out, result.err, log.read_text()):
        for secret in ("p@ss:word", "p%40ss%3Aword", "dHJhZGVyOnBAc3M6d29yZA=="):
            assert secret not in text


def assert_swept_and_confirmed_verbose(result: Result, sim: Simulator) -> None:
    assert result.code == 0, result.err
    assert [r["confirmed"] for r in result.json()["results"]] == [True] * 3
    assert rest_paths(sim) == [OPENS_PATH, ORDER_PATH, ORDER_PATH, ORDER_PATH, OPENS_PATH]


# --------------------------------------------------------------------------- NO_PROXY


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "example.com, 127.0.0.0/8"),
        ("NO_PROXY", "*"),
    ],
)
def test_no_proxy_covering_the_host_goes_direct(
    sim_factory: SimFactory, refusing: ConnectProxy, name: str, value: str
) -> None:
    sim = plain_sim(sim_factory, no_pushes=True)
    env = proxy_env(sim.url, http_proxy=refusing.url, **{name: value})
    result = run(sim, SWEEP_CONFIRM, env)
    assert_swept_and_confirmed(result, sim)
    assert refusing.targets == []


def test_no_proxy_by_name_for_tls(
    sim_factory: SimFactory, ca: trustme.CA, bundle: Path, refusing: ConnectProxy
) -> None:
    sim = tls_sim(sim_factory, ca, no_pushes=True)
    env = proxy_env(sim.url, HTTPS_PROXY=refusing.url, NO_PROXY=".localhost")
    result = run(sim, [*SWEEP_CONFIRM, "--ca-bundle", str(bundle)], env)
    assert_swept_and_confirmed(result, sim)
    assert refusing.targets == []


def test_no_proxy_entry_with_a_port_matches_nothing(
    sim_factory: SimFactory, ca: trustme.CA, bundle: Path, proxy: ConnectProxy
) -> None:
    """As in curl: `localhost:PORT` in NO_PROXY exempts nothing, so the run is proxied."""
    sim = tls_sim(sim_factory, ca)
    env = proxy_env(sim.url, HTTPS_PROXY=proxy.url, NO_PROXY=authority(sim))
    result = run(sim, ["--all", "--yes", "-q", "--ca-bundle", str(bundle)], env)
    assert result.code == 0, result.err
    assert proxy.targets == [authority(sim)] * connections_made(sim)


# --------------------------------------------------------------------------- proxy failures


def test_refusing_proxy_stops_the_listing_in_one_line_exit_4(
    sim_factory: SimFactory, refusing: ConnectProxy
) -> None:
    sim = plain_sim(sim_factory)
    result = run(
        sim, ["--all", "--yes", "--json", "--timeout", "1"], proxy_env(sim.url, http_proxy=refusing.url)
    )
    assert result.code == 4
    lines = result.err.splitlines()
    assert lines == [
        PROG + "error: cannot list the open orders of BTC-USDT: "
        f"GET {sim.rest_url}{OPENS_PATH}: proxy 127.0.0.1:{refusing.port} refused CONNECT to "
        f"{authority(sim)}: HTTP 403 Forbidden"
    ]
    assert result.json()["error"]["exit_code"] == 4
    assert refusing.targets == [authority(sim)]
    assert sim.rest_requests == [] and sim.connections == 0 and sim.cancels == []


def test_refusing_proxy_for_the_trade_socket_is_one_line_exit_4(
    sim_factory: SimFactory, ca: trustme.CA, bundle: Path, refusing: ConnectProxy
) -> None:
    sim = tls_sim(sim_factory, ca)
    args = ["-o", "101", "--json", "--timeout", "1", "--retries", "1", "--ca-bundle", str(bundle)]
    result = run(sim, args, proxy_env(sim.url, HTTPS_PROXY=refusing.url))
    assert result.code == 4
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG), lines
    assert "403" in lines[0] and "proxy" in lines[0].lower()
    assert [(r["order_id"], r["state"]) for r in result.json()["results"]] == [("101", "unknown")]
    assert set(refusing.targets) == {authority(sim)}
    assert sim.connections == 0 and sim.cancels == []


def test_proxy_that_is_not_listening_is_one_line_exit_4(sim_factory: SimFactory) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there now
    sim = plain_sim(sim_factory)
    env = proxy_env(sim.url, http_proxy=f"127.0.0.1:{port}")
    result = run(sim, ["--all", "--yes", "--timeout", "1"], env)
    assert result.code == 4
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG + "error: cannot list the open orders of BTC-USDT: ")
    assert lines[0].endswith(f"connection refused by proxy 127.0.0.1:{port}"), lines
    assert result.out == ""
    assert sim.rest_requests == [] and sim.connections == 0


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        (
            "http_proxy",
            "socks5://user:hunter2@127.0.0.1:1080",
            "http_proxy: socks5:// proxies are not supported",
        ),
        ("ALL_PROXY", "socks5h://127.0.0.1:1080", "ALL_PROXY: socks5h:// proxies are not supported"),
        (
            "http_proxy",
            "https://user:hunter2@127.0.0.1:3128",
            "http_proxy: https:// proxies are not supported",
        ),
        ("http_proxy", "http://user:hunter2@127.0.0.1:99999", "http_proxy: the proxy port is not a number"),
    ],
    ids=["socks5", "socks5h", "https-proxy", "bad-port"],
)
@pytest.mark.parametrize("mode", [["--all", "--yes"], ["--all", "--dry-run"], ["-o", "101", "--confirm"]])
def test_unusable_proxy_variable_is_exit_2_before_anything_connects(
    sim_factory: SimFactory, name: str, value: str, says: str, mode: list[str]
) -> None:
    sim = plain_sim(sim_factory)
    result = run(sim, [*mode, "--timeout", "1"], proxy_env(sim.url, **{name: value}))
    assert result.code == 2
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG + "error: " + says), lines
    assert "hunter2" not in result.err + result.out  # the variable's value may hold a password
    assert sim.rest_requests == [] and sim.connections == 0 and sim.notify_connections == 0


def test_unusable_proxy_for_the_other_scheme_is_not_read(sim_factory: SimFactory) -> None:
    """A ws:// run never reads HTTPS_PROXY, so a socks value there is no reason to stop."""
    sim = plain_sim(sim_factory)
    result = run(sim, ["--all", "--yes", "-q"], proxy_env(sim.url, HTTPS_PROXY="socks5://127.0.0.1:1080"))
    assert result.code == 0, result.err
    assert sim.connections == 1
