"""HmacSHA256 signature version 2 as HTX's trade socket checks it; pure, the timestamp is passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Final
from urllib.parse import quote

SIGNATURE_METHOD: Final = "HmacSHA256"
SIGNATURE_VERSION: Final = "2"


def timestamp_for(moment: datetime) -> str:
    """HTX wants UTC to the second with no zone suffix; an aware datetime avoids local-time mistakes."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def signed_params(access_key: str, timestamp: str) -> dict[str, str]:
    """The four parameters that are signed; op, type, cid and Signature are deliberately absent."""
    return {
        "AccessKeyId": access_key,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureVersion": SIGNATURE_VERSION,
        "Timestamp": timestamp,
    }


def payload(host: str, path: str, params: dict[str, str]) -> str:
    """The four-line text the HMAC covers: host lower-cased, params sorted and strictly percent-encoded."""
    query = "&".join(f"{name}={quote(params[name], safe='')}" for name in sorted(params))
    return "\n".join(("GET", host.lower(), path, query))


def sign(secret_key: str, host: str, path: str, params: dict[str, str]) -> str:
    """Base64 of the HMAC, left un-URL-encoded because the socket carries it inside JSON."""
    digest = hmac.new(secret_key.encode(), payload(host, path, params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
