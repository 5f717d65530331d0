"""The signed REST client against a real threaded HTTP(S) server and a real CONNECT proxy.

Every failure test also checks what a user reads: one line naming the method and URL, never the
query, the signature or the secret, and that the call ended within its deadline.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import trustme
from httpserver import Handler, HttpServer
from proxy import ConnectProxy

from htx_cancel.models import Credentials
from htx_cancel.rest import MAX_BODY, RestClient, RestError, RestTlsError, SignedRequest, rest_base

SECRET = "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx"
CREDS = Credentials("e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx", SECRET)
ORDER = "/v5/trade/order"
QUERY = {"contract_code": "BTC-USDT", "margin_mode": "cross", "order_id": "1382748711720767488"}
SLACK = 0.3  # scheduling on a busy CI runner, on top of the deadline


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def servers(ca: trustme.CA) -> Iterator[Callable[..., HttpServer]]:
    """`make(tls=False)` starts a server (TLS with a trustme certificate for localhost); all stopped after."""
    started: list[HttpServer] = []

    def make(tls: bool = False) -> HttpServer:
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("localhost").configure_cert(context)
        server = HttpServer(SECRET, context).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(servers: Callable[..., HttpServer]) -> HttpServer:
    return servers()


@pytest.fixture
def tls_server(servers: Callable[..., HttpServer]) -> HttpServer:
    return servers(tls=True)


class Client:
    """A RestClient that remembers the signatures it computed, to prove none reaches a message."""

    def __init__(self, trade_url: str, timeout: float = 2.0, ca_bundle: str | None = None, **kw: Any) -> None:
        self.requests: list[SignedRequest] = []
        self.base = rest_base(trade_url)
        self.rest = RestClient(
            trade_url, CREDS, timeout, ca_bundle, kw.pop("env", {}), on_request=self.requests.append, **kw
        )

    def get(self, path: str = ORDER, params: dict[str, str] = QUERY) -> dict[str, object]:
        return self.rest.get(path, params)

    def error(self, cls: type[RestError] = RestError, path: str = ORDER) -> tuple[str, float]:
        """The failure's message (checked clean) and how long the call took."""
        start = time.monotonic()
        with pytest.raises(cls) as caught:
            self.rest.get(path, QUERY)
        elapsed = time.monotonic() - start
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"GET {self.base}{path}: ")
        assert "?" not in message and "Signature" not in message and SECRET not in message
        for request in self.requests:
            assert request.signature not in message
        return message, elapsed

    def close(self) -> None:
        self.rest.close()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(*args: Any, **kw: Any) -> Client:
        client = Client(*args, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# What was asked arrives, signed as HTX checks it.


def test_signed_query_is_verified_by_the_server(server: HttpServer, clients: Callable[..., Client]) -> None:
    moment = datetime(2017, 5, 11, 15, 19, 30, tzinfo=timezone.utc)
    client = clients(server.trade_url(), wall_clock=lambda: moment)
    answer = client.get()
    assert answer == {"code": 200, "data": {"path": ORDER, "params": QUERY}}
    [seen] = server.seen
    assert seen.signature_ok
    assert "Timestamp=2017-05-11T15%3A19%3A30" in seen.line
    assert seen.headers["Accept"] == "application/json"
    # The signature travels URL-encoded (base64 of 32 bytes always ends in '=': sent as %3D).
    sent = seen.line.split("Signature=", 1)[1].split(" ", 1)[0]
    assert sent.endswith("%3D") and not any(c in sent for c in "+/=")


def test_request_hook_gets_a_redacted_line_and_the_signature(
    server: HttpServer, clients: Callable[..., Client]
) -> None:
    client = clients(server.trade_url())
    client.get()
    [request] = client.requests
    assert request.text.startswith(f"GET http://127.0.0.1:{server.port}{ORDER}?AccessKeyId=")
    assert request.text.endswith("&Signature=<redacted>")
    assert request.signature not in request.text and request.signature not in repr(request)
    sent = server.seen[0].line.split("Signature=", 1)[1].split(" ", 1)[0]
    assert sent.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=") == request.signature


def test_one_connection_serves_every_call(server: HttpServer, clients: Callable[..., Client]) -> None:
    client = clients(server.trade_url())
    for _ in range(3):
        assert client.get()["code"] == 200
    assert [s.connection for s in server.seen] == [1, 1, 1]


@pytest.mark.parametrize("announce", [True, False], ids=["connection-close", "silent-close"])
def test_reconnects_after_the_server_closes(
    server: HttpServer, clients: Callable[..., Client], announce: bool
) -> None:
    server.reply = lambda h: h.send_json({"code": 200}, close=True, announce=announce)
    client = clients(server.trade_url())
    for _ in range(3):
        assert client.get() == {"code": 200}
    assert [s.connection for s in server.seen] == [1, 2, 3]


def test_https_through_ca_bundle_and_through_ssl_cert_file(
    tls_server: HttpServer, clients: Callable[..., Client], ca_file: str
) -> None:
    url = tls_server.trade_url(host="localhost")
    assert clients(url, ca_bundle=ca_file).get()["code"] == 200
    assert clients(url, env={"SSL_CERT_FILE": ca_file}).get()["code"] == 200
    assert [s.signature_ok for s in tls_server.seen] == [True, True]


# Failures: one line, named, within the deadline.


def test_http_error_status_in_words(server: HttpServer, clients: Callable[..., Client]) -> None:
    server.reply = lambda h: h.send_json({"code": 500, "message": "boom"}, status=500)
    message, _ = clients(server.trade_url()).error()
    assert message.endswith(": HTTP 500 Internal Server Error")


def test_unknown_http_status_is_still_named(server: HttpServer, clients: Callable[..., Client]) -> None:
    server.reply = lambda h: h.send_raw_answer(b"{}", status=599)
    message, _ = clients(server.trade_url()).error()
    assert message.endswith(": HTTP 599")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>502</html>", "the answer is not JSON"),
        (b"\xff\xfe{", "the answer is not JSON"),
        (b"[1, 2]", "the answer is not a JSON object"),
        (b"[" * 100_000, "the answer is not JSON"),
    ],
    ids=["html", "not-utf8", "array", "deep"],
)
def test_answer_that_is_not_a_json_object(
    server: HttpServer, clients: Callable[..., Client], body: bytes, words: str
) -> None:
    server.reply = lambda h: h.send_raw_answer(body)
    client = clients(server.trade_url())
    message, _ = client.error()
    assert message.endswith(words)
    server.reply = Handler.echo
    assert client.get()["code"] == 200  # the client is still usable


def test_fractions_decode_exactly(server: HttpServer, clients: Callable[..., Client]) -> None:
    server.reply = lambda h: h.send_raw_answer(b'{"code": 200, "data": {"price": 0.1000000000000000055}}')
    answer: Any = clients(server.trade_url()).get()
    assert str(answer["data"]["price"]) == "0.1000000000000000055"


def test_huge_content_length_is_refused_before_reading(
    server: HttpServer, clients: Callable[..., Client]
) -> None:
    def lie(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10**12))
        h.end_headers()
        while h.pause(0.01):
            h.wfile.write(b"x" * 65536)

    server.reply = lie
    message, elapsed = clients(server.trade_url()).error()
    assert message.endswith(f"the answer would be {10**12} bytes, over the {MAX_BODY} allowed")
    assert elapsed < 0.5


def test_endless_chunked_body_stops_at_the_cap_in_bounded_memory(
    server: HttpServer, clients: Callable[..., Client]
) -> None:
    chunk = b"10000\r\n" + b"7" * 0x10000 + b"\r\n"

    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(64 * 16):  # up to 64 MiB, far beyond the cap
            h.wfile.write(chunk)

    server.reply = endless
    client = clients(server.trade_url())
    tracemalloc.start()
    try:
        message, elapsed = client.error()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.endswith(f"the answer is over the {MAX_BODY} bytes allowed")
    assert peak < 3 * MAX_BODY
    assert elapsed < 2


def test_dripping_server_cannot_hold_a_call_past_its_deadline(
    server: HttpServer, clients: Callable[..., Client]
) -> None:
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{"code": 200' + b" " * 200

    def drip(h: Handler) -> None:
        for byte in answer:
            h.wfile.write(bytes([byte]))
            if not h.pause(0.2):
                return

    server.reply = drip
    message, elapsed = clients(server.trade_url(), timeout=1.0).error()
    assert "timed out after 1 s" in message
    assert 1.0 <= elapsed < 1.0 + SLACK


def test_dripping_body_is_bounded_too(server: HttpServer, clients: Callable[..., Client]) -> None:
    def drip(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        while h.pause(0.2):
            h.wfile.write(b" ")

    server.reply = drip
    message, elapsed = clients(server.trade_url(), timeout=0.8).error()
    assert message.endswith("timed out after 0.8 s (reading the answer)")
    assert elapsed < 0.8 + SLACK


def test_a_failed_call_closes_its_socket(server: HttpServer, clients: Callable[..., Client]) -> None:
    hung_up = threading.Event()

    def half_then_wait(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.send_header("Connection", "close")  # http.client lets go of the socket before the body
        h.end_headers()
        h.wfile.write(b'{"code"')
        if h.rfile.read(1) == b"":  # blocks until the client closes its end
            hung_up.set()

    server.reply = half_then_wait
    clients(server.trade_url(), timeout=0.3).error()
    assert hung_up.wait(2)


def test_silent_server_ends_at_the_deadline(server: HttpServer, clients: Callable[..., Client]) -> None:
    server.reply = Handler.stall
    message, elapsed = clients(server.trade_url(), timeout=0.5).error()
    assert message.endswith("timed out after 0.5 s (waiting for the answer)")
    assert 0.5 <= elapsed < 0.5 + SLACK


@pytest.fixture
def mute_listener() -> Iterator[socket.socket]:
    """Accepts TCP (the kernel does) and never says a word: a stalled TLS server or proxy."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener
    listener.close()


def test_stalled_tls_handshake_ends_at_the_deadline(
    mute_listener: socket.socket, clients: Callable[..., Client]
) -> None:
    port = mute_listener.getsockname()[1]
    message, elapsed = clients(f"wss://127.0.0.1:{port}/x", timeout=0.5).error()
    assert message.endswith("timed out after 0.5 s (TLS handshake)")
    assert elapsed < 0.5 + SLACK


def test_connection_refused(clients: Callable[..., Client]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    message, elapsed = clients(f"ws://127.0.0.1:{port}/x").error()
    assert message == f"GET http://127.0.0.1:{port}{ORDER}: connection refused by 127.0.0.1:{port}"
    assert elapsed < 0.5


def test_unresolvable_host(clients: Callable[..., Client]) -> None:
    message, _ = clients("wss://no-such-host.invalid/x").error()
    assert "cannot resolve no-such-host.invalid" in message


def test_untrusted_certificate_is_a_tls_error(tls_server: HttpServer, clients: Callable[..., Client]) -> None:
    message, _ = clients(tls_server.trade_url(host="localhost")).error(RestTlsError)
    assert "TLS certificate verification failed: unable to get local issuer certificate" in message
    assert tls_server.seen == []


def test_certificate_for_another_host_is_refused(
    tls_server: HttpServer, clients: Callable[..., Client], ca_file: str
) -> None:
    message, _ = clients(tls_server.trade_url(host="127.0.0.1"), ca_bundle=ca_file).error(RestTlsError)
    assert "TLS certificate verification failed: IP address mismatch" in message


def test_plain_http_server_behind_a_wss_url(server: HttpServer, clients: Callable[..., Client]) -> None:
    message, _ = clients(f"wss://127.0.0.1:{server.port}/x").error()
    assert "TLS failed" in message


# Proxies: the route the trade socket takes too.


def test_https_proxy_carries_the_call_end_to_end(
    tls_server: HttpServer, clients: Callable[..., Client], ca_file: str
) -> None:
    with ConnectProxy() as proxy:
        client = clients(
            tls_server.trade_url(host="localhost"), ca_bundle=ca_file, env={"HTTPS_PROXY": proxy.url}
        )
        assert client.get()["code"] == 200
        assert client.get()["code"] == 200
    assert proxy.targets == [f"localhost:{tls_server.port}"]  # one tunnel, kept alive
    assert tls_server.seen[0].signature_ok


def test_http_target_is_tunnelled_too(server: HttpServer, clients: Callable[..., Client]) -> None:
    with ConnectProxy() as proxy:
        assert clients(server.trade_url(), env={"http_proxy": proxy.url}).get()["code"] == 200
    assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_no_proxy_goes_direct(tls_server: HttpServer, clients: Callable[..., Client], ca_file: str) -> None:
    with ConnectProxy() as proxy:
        env = {"HTTPS_PROXY": proxy.url, "NO_PROXY": "example.com,localhost"}
        assert (
            clients(tls_server.trade_url(host="localhost"), ca_bundle=ca_file, env=env).get()["code"] == 200
        )
    assert proxy.targets == []


def test_proxy_credentials_are_sent_and_never_shown(
    server: HttpServer, clients: Callable[..., Client]
) -> None:
    with ConnectProxy(auth=("trader", "p@ss:word")) as proxy:
        good = f"http://trader:p%40ss%3Aword@127.0.0.1:{proxy.port}"
        assert clients(server.trade_url(), env={"http_proxy": good}).get()["code"] == 200
        bad = f"http://trader:wrong-pass@127.0.0.1:{proxy.port}"
        message, _ = clients(server.trade_url(), env={"http_proxy": bad}).error()
    assert message.endswith(
        f"proxy 127.0.0.1:{proxy.port} refused CONNECT to 127.0.0.1:{server.port}: "
        "HTTP 407 Proxy Authentication Required"
    )
    assert "wrong-pass" not in message


def test_refusing_proxy(server: HttpServer, clients: Callable[..., Client]) -> None:
    with ConnectProxy(refuse=403) as proxy:
        message, _ = clients(server.trade_url(), env={"all_proxy": proxy.url}).error()
    assert message.endswith(f"refused CONNECT to 127.0.0.1:{server.port}: HTTP 403 Forbidden")
    assert server.seen == []


def test_silent_proxy_ends_at_the_deadline(
    mute_listener: socket.socket, server: HttpServer, clients: Callable[..., Client]
) -> None:
    env = {"http_proxy": f"127.0.0.1:{mute_listener.getsockname()[1]}"}
    message, elapsed = clients(server.trade_url(), timeout=0.5, env=env).error()
    assert "timed out after 0.5 s (waiting for proxy 127.0.0.1:" in message
    assert elapsed < 0.5 + SLACK


def test_refused_proxy_connection_names_the_proxy(server: HttpServer, clients: Callable[..., Client]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    message, _ = clients(server.trade_url(), env={"http_proxy": f"127.0.0.1:{port}"}).error()
    assert message.endswith(f"connection refused by proxy 127.0.0.1:{port}")


# The shape of the API.


@pytest.mark.parametrize(
    ("trade_url", "base"),
    [
        ("wss://api.hbdm.com/linear-swap-trade", "https://api.hbdm.com"),
        ("wss://api.hbdm.vn:443/linear-swap-trade", "https://api.hbdm.vn:443"),
        ("ws://127.0.0.1:8080/linear-swap-trade", "http://127.0.0.1:8080"),
        ("ws://[::1]:9000/linear-swap-trade", "http://[::1]:9000"),
        ("WSS://user:pw@API.hbdm.com/x", "https://api.hbdm.com"),
    ],
)
def test_rest_base(trade_url: str, base: str) -> None:
    assert rest_base(trade_url) == base


@pytest.mark.parametrize("trade_url", ["https://api.hbdm.com", "api.hbdm.com", "wss:///x"])
def test_rest_base_refuses_what_is_not_a_socket_url(trade_url: str) -> None:
    with pytest.raises(ValueError):
        rest_base(trade_url)


def test_bad_path_is_a_programming_error(server: HttpServer, clients: Callable[..., Client]) -> None:
    client = clients(server.trade_url())
    for path in ("v5/trade/order", "/v5/trade/order?x=1", "/v5 trade"):
        with pytest.raises(ValueError):
            client.get(path)
    assert server.seen == []


def test_bad_ca_bundle_is_found_when_the_client_is_built(tmp_path: Path) -> None:
    from htx_cancel.tls import CaBundleError

    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(CaBundleError, match=str(bundle)):
        RestClient("wss://api.hbdm.com/x", CREDS, 1.0, str(bundle), {})


def test_rest_imports_neither_websocket_nor_the_cli() -> None:
    code = (
        "import sys, htx_cancel.rest\n"
        "banned = ('websocket', 'websockets', 'typer', 'rich', 'click')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in banned)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
