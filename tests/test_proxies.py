"""Which proxy a URL takes, case by case: the same answers curl gives in the same environment."""

from __future__ import annotations

import pytest

from htx_cancel.proxies import Proxy, ProxySettingError, bypasses, proxy_for

HTX = "wss://api.hbdm.com/linear-swap-trade"
REST = "https://api.hbdm.com"
SIM = "ws://127.0.0.1:8080/linear-swap-trade"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        (HTX, {}, None),
        (HTX, {"https_proxy": "http://proxy:3128"}, Proxy("proxy", 3128)),
        (REST, {"HTTPS_PROXY": "http://proxy:3128"}, Proxy("proxy", 3128)),
        (HTX, {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, Proxy("low", 1)),
        (HTX, {"https_proxy": "", "HTTPS_PROXY": "http://up:2"}, Proxy("up", 2)),  # empty is unset
        (HTX, {"http_proxy": "http://proxy:3128"}, None),  # the https variable only
        (HTX, {"all_proxy": "http://all:1"}, Proxy("all", 1)),
        (HTX, {"ALL_PROXY": "http://all:2"}, Proxy("all", 2)),
        (HTX, {"all_proxy": "http://a:1", "ALL_PROXY": "http://b:2"}, Proxy("a", 1)),
        (HTX, {"HTTPS_PROXY": "http://s:1", "all_proxy": "http://a:2"}, Proxy("s", 1)),
        (SIM, {"http_proxy": "http://proxy:8080"}, Proxy("proxy", 8080)),
        (SIM, {"HTTP_PROXY": "http://proxy:8080"}, None),  # ignored, as curl does (httpoxy)
        (SIM, {"HTTPS_PROXY": "http://proxy:8080"}, None),
        (SIM, {"ALL_PROXY": "http://proxy:8080"}, Proxy("proxy", 8080)),
        (HTX, {"HTTPS_PROXY": "proxy:3128"}, Proxy("proxy", 3128)),  # no scheme means http://
        (HTX, {"HTTPS_PROXY": "proxy"}, Proxy("proxy", 1080)),  # curl's default proxy port
        (HTX, {"HTTPS_PROXY": "HTTP://Proxy.Example/"}, Proxy("proxy.example", 1080)),
        (HTX, {"HTTPS_PROXY": "http://[::1]:3128"}, Proxy("::1", 3128)),
        (HTX, {"HTTPS_PROXY": "http://us%40er:p%3Ass@proxy:3128"}, Proxy("proxy", 3128, ("us@er", "p:ss"))),
        (HTX, {"HTTPS_PROXY": "http://user@proxy:3128"}, Proxy("proxy", 3128, ("user", ""))),
        (HTX, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "hbdm.com"}, None),
        (HTX, {"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "*"}, None),
        (HTX, {"HTTPS_PROXY": "http://p:1", "no_proxy": "other.com", "NO_PROXY": "hbdm.com"}, Proxy("p", 1)),
        (HTX, {"HTTPS_PROXY": "http://p:1", "no_proxy": "", "NO_PROXY": "hbdm.com"}, None),
        (SIM, {"http_proxy": "http://p:1", "NO_PROXY": "127.0.0.0/8"}, None),
        (HTX, {"HTTPS_PROXY": "socks5://p:1", "NO_PROXY": "*"}, None),  # exempt: never read
    ],
)
def test_proxy_for(url: str, env: dict[str, str], expected: Proxy | None) -> None:
    assert proxy_for(url, env) == expected


@pytest.mark.parametrize(
    ("host", "no_proxy", "exempt"),
    [
        ("api.hbdm.com", "*", True),
        ("api.hbdm.com", "api.hbdm.com", True),
        ("api.hbdm.com", "hbdm.com", True),
        ("api.hbdm.com", ".hbdm.com", True),
        ("hbdm.com", ".hbdm.com", True),
        ("nothbdm.com", "hbdm.com", False),
        ("hbdm.com", "api.hbdm.com", False),
        ("API.HBDM.com", "Hbdm.Com", True),
        ("api.hbdm.com.", "hbdm.com", True),
        ("api.hbdm.com", "hbdm.com.", True),
        ("api.hbdm.com", "example.com, hbdm.com ", True),
        ("api.hbdm.com", "example.com,,", False),
        ("api.hbdm.com", "example.com,*", False),  # only a lone * is a wildcard
        ("api.hbdm.com", "", False),
        ("localhost", "localhost:8080", False),  # curl: an entry with a port matches nothing
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.0/8", True),
        ("127.0.0.1", "10.0.0.0/8", False),
        ("127.0.0.1", "localhost", False),  # IP hosts match IP entries only
        ("127.0.0.1", "0.0.1", False),  # no tail matching for addresses
        ("::1", "::1", True),
        ("[::1]", "::1", True),
        ("::1", "127.0.0.1", False),
        ("2001:db8::5", "2001:db8::/32", True),
    ],
)
def test_bypasses(host: str, no_proxy: str, exempt: bool) -> None:
    assert bypasses(host, no_proxy) is exempt


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("socks5://user:hunter2@proxy:1080", "socks5:// proxies are not supported"),
        ("socks5h://proxy", "socks5h:// proxies are not supported"),
        ("https://user:hunter2@proxy:443", "https:// proxies are not supported"),
        ("http://user:hunter2@proxy:99999", "the proxy port is not a number"),
        ("http://user:hunter2@proxy:port", "the proxy port is not a number"),
        ("http://user:hunter2@proxy:0", "the proxy port is not a number"),
        ("http://user:hunter2@:3128", "no proxy host name"),
    ],
)
def test_unusable_proxy_is_a_clear_error_that_hides_the_value(value: str, words: str) -> None:
    with pytest.raises(ProxySettingError) as caught:
        proxy_for(HTX, {"HTTPS_PROXY": value})
    message = str(caught.value)
    assert message.startswith("HTTPS_PROXY: ") and words in message
    assert "hunter2" not in message


def test_proxy_repr_hides_the_password() -> None:
    proxy = Proxy("proxy", 3128, ("trader", "hunter2"))
    assert "hunter2" not in repr(proxy) and "trader" not in repr(proxy)
    assert repr(Proxy("proxy")) == "Proxy(host='proxy', port=1080, auth=None)"


def test_only_socket_and_web_urls() -> None:
    with pytest.raises(ValueError):
        proxy_for("ftp://api.hbdm.com/", {"all_proxy": "http://p:1"})
