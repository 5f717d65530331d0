"""The one TLS trust rule, shared by the trade socket and the REST calls so both trust the same CAs.

It lives apart from the transport so the REST client can use it without importing websocket-client
(about 25 ms), and apart from the CLI so the core never needs Typer to build a context.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping


class CaBundleError(Exception):
    """A CA file from --ca-bundle or SSL_CERT_FILE cannot be loaded: bad input, found before connecting."""


def tls_context(ca_bundle: str | None, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """System trust plus SSL_CERT_FILE plus --ca-bundle: trust is only ever added, never switched off.

    Certificates and host names are always verified. Loading the system CA store costs tens of
    milliseconds, so one context per (bundle, SSL_CERT_FILE) is built and reused by every connect
    of the run, socket and REST alike. `env` defaults to the process environment; OpenSSL itself
    also reads SSL_CERT_FILE from the process environment when it loads the system store."""
    source = os.environ if env is None else env
    return _tls_context(ca_bundle, source.get("SSL_CERT_FILE") or None)


@functools.lru_cache(maxsize=4)
def _tls_context(ca_bundle: str | None, cert_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cert_file and cert_file == os.environ.get("SSL_CERT_FILE") and context.cert_store_stats()["x509_ca"]:
        # OpenSSL has just read SSL_CERT_FILE from the environment (in place of the system
        # bundle file; the hashed system directory still counts): parsing it again cost as much
        # as the first time (~25 ms for a full bundle). A file it could not use is loaded below,
        # so its error is still reported.
        cert_file = None
    for extra in (cert_file, ca_bundle):
        if extra:
            try:
                context.load_verify_locations(cafile=extra)
            except (OSError, ssl.SSLError) as exc:
                raise CaBundleError(f"cannot load CA bundle {extra}: {_reason(exc)}") from None
    return context


def _reason(exc: OSError) -> str:
    """`[Errno 2] No such file or directory` reads better as its words alone."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    return exc.strerror or str(exc)
