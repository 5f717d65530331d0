"""Which proxy, if any, a URL goes through: curl's environment rules, decided once, in pure code.

The trade socket and the REST calls both ask this module, and the answer is handed to each
explicitly, so the two can never disagree (websocket-client would otherwise read the environment
with rules of its own). Only plain http:// proxies are supported: they tunnel TLS with CONNECT.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit

DEFAULT_PROXY_PORT: Final = 1080
"""curl's port for a proxy URL that names none (CURL_DEFAULT_PROXY_PORT), even for http:// proxies."""

_SECURE_SCHEMES: Final = frozenset({"https", "wss"})
_PLAIN_SCHEMES: Final = frozenset({"http", "ws"})


class ProxySettingError(Exception):
    """A proxy variable this tool cannot use (socks, https://, bad port): bad input, found before connecting.

    The message names the variable and never repeats its value, which may hold a password."""


class Proxy(NamedTuple):
    """An http:// proxy to tunnel through with CONNECT; `auth` is (user, password), already URL-decoded."""

    host: str
    port: int = DEFAULT_PROXY_PORT
    auth: tuple[str, str] | None = None

    def __repr__(self) -> str:
        # The password must not reach a log or traceback through a stray repr.
        auth = "None" if self.auth is None else "(<redacted>)"
        return f"Proxy(host={self.host!r}, port={self.port}, auth={auth})"


def proxy_for(url: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy curl would use for `url` given `env`, or None to connect directly.

    - https and wss targets read `https_proxy`, then `HTTPS_PROXY`; http and ws targets read
      `http_proxy` only: like curl, upper-case HTTP_PROXY is ignored, because CGI servers put a
      request's `Proxy:` header there ("httpoxy"). wss and ws count as https and http so the
      socket and the REST calls (same host) always take the same route. Then `all_proxy`, then
      `ALL_PROXY`. An empty variable counts as unset, as in curl.
    - `no_proxy`, then `NO_PROXY`, may exempt the host: see `bypasses`.
    - A proxy URL without a scheme is http://; without a port, 1080 (curl's default).
      socks and https:// proxies raise ProxySettingError rather than being silently ignored.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _SECURE_SCHEMES:
        names: tuple[str, ...] = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    elif scheme in _PLAIN_SCHEMES:
        names = ("http_proxy", "all_proxy", "ALL_PROXY")
    else:
        raise ValueError(f"not a ws, wss, http or https URL: {scheme or '(no scheme)'}")
    host = parts.hostname or ""
    name = next((n for n in names if env.get(n)), None)
    if name is None or bypasses(host, env.get("no_proxy") or env.get("NO_PROXY") or ""):
        return None
    return parse_proxy(name, env[name])


def parse_proxy(name: str, value: str) -> Proxy:
    """Read one proxy variable the way curl does; `name` is only used to say which variable is wrong."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise ProxySettingError(
            f"{name}: {scheme}:// proxies are not supported; use an http:// proxy (it tunnels TLS)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ProxySettingError(f"{name}: the proxy port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ProxySettingError(f"{name}: no proxy host name")
    if port == 0:
        raise ProxySettingError(f"{name}: the proxy port is not a number from 1 to 65535")
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    return Proxy(parts.hostname, port or DEFAULT_PROXY_PORT, auth)


def bypasses(host: str, no_proxy: str) -> bool:
    """Whether `no_proxy` exempts `host`, by curl's rules (lib/noproxy.c, 7.86 and later).

    - Exactly `*` exempts every host (a `*` inside a list is an ordinary, unmatched entry).
    - Entries are separated by commas (blanks around them are ignored). A name matches itself
      and its subdomains: `example.com` and `.example.com` both match `example.com` and
      `www.example.com`, never `notexample.com`. Case and a trailing dot are ignored.
    - An IP address host matches only IP entries: the same address, or a CIDR range
      (`10.0.0.0/8`); IPv6 entries are written without brackets.
    - The target's port plays no part, and an entry written with a port (`localhost:8080`)
      matches nothing, exactly as in curl, so both tools route the same host the same way.
    """
    if no_proxy.strip() == "*":
        return True
    name = host.lower().strip("[]")
    entries = [e.strip() for e in no_proxy.split(",") if e.strip()]
    if not name or not entries:
        return False
    address = _ip(name)
    if address is not None:
        return any(_ip_matches(address, entry) for entry in entries)
    name = name.removesuffix(".")
    for entry in entries:
        domain = entry.lower().removesuffix(".").removeprefix(".")
        if domain and (name == domain or name.endswith("." + domain)):
            return True
    return False


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    """curl compares an IP host with IP entries only: an address, or a CIDR range."""
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return address in network
