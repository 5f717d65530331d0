"""The one place secrets are removed from text, so every output path shares the same rule."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

REDACTED: Final = "<redacted>"


def mask_access_key(access_key: str) -> str:
    """First and last four characters (SPEC section 3): enough to tell keys apart, too little to use."""
    if len(access_key) < 12:
        return "*" * len(access_key) if access_key else ""
    return f"{access_key[:4]}...{access_key[-4:]}"


class Redactor:
    """Remembers every secret and computed signature of a run and strips them from any text."""

    def __init__(self, secrets: tuple[str, ...] = (), access_key: str | None = None) -> None:
        self._secrets: set[str] = {s for s in secrets if s}
        self._access_key = access_key

    def add_secret(self, value: str) -> None:
        """Signatures are computed mid-run (each reconnect re-signs); each must join the list at once."""
        if value:
            self._secrets.update({value, quote(value, safe="")})

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is removed whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        if self._access_key and len(self._access_key) >= 4:
            text = text.replace(self._access_key, mask_access_key(self._access_key))
        return text
