"""Request -> batches -> signed, encoded frames: everything a run writes first, built before any
socket opens. What `--dry-run` prints is exactly this plan, through the same redaction as `-v`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from htx_cancel import frames
from htx_cancel.models import Batch, CancelRequest, Credentials, IdKind, RunSettings
from htx_cancel.redaction import Redactor
from htx_cancel.signing import timestamp_for

AUTH_CID: Final = "auth-1"


class PlannedCancel(NamedTuple):
    """A cancel request built (and JSON-encoded) before the socket opens."""

    cid: str
    batch: Batch
    text: str


class Plan(NamedTuple):
    """Every frame of a run's first attempt, signed and encoded: what --dry-run prints and what the
    engine writes first."""

    auth: frames.SignedAuth
    auth_cid: str
    cancels: tuple[PlannedCancel, ...]


def endpoint(url: str) -> tuple[str, str]:
    """The signed host (lower case, no port) and path of a trade-socket URL."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path or "/"


def batches(request: CancelRequest, batch_size: int) -> list[Batch]:
    """Group IDs by kind, in input order, so no request mixes order IDs and client order IDs."""
    out: list[Batch] = []
    for kind in IdKind:
        ids = [ref.value for ref in request.orders if ref.kind is kind]
        out.extend(Batch(kind, tuple(ids[i : i + batch_size])) for i in range(0, len(ids), batch_size))
    return out


def sign_auth(credentials: Credentials, url: str, now: datetime) -> frames.SignedAuth:
    """The auth frame for `url`, signed for `now`; a reconnect signs afresh (5-minute window)."""
    host, path = endpoint(url)
    return frames.auth_frame(credentials, host, path, timestamp_for(now), AUTH_CID)


def plan(request: CancelRequest, credentials: Credentials, settings: RunSettings, now: datetime) -> Plan:
    """Sign and encode everything up front: the send path then only writes bytes."""
    cancels = tuple(
        PlannedCancel(
            f"c-{n}",
            batch,
            frames.cancel_frame(f"c-{n}", request.contract_code, batch.kind, batch.ids),
        )
        for n, batch in enumerate(batches(request, settings.batch_size), start=1)
    )
    return Plan(sign_auth(credentials, settings.url, now), AUTH_CID, cancels)


def redacted_plan_frames(prepared: Plan, redactor: Redactor) -> Iterable[str]:
    """The frames --dry-run shows, through the same redaction as -v."""
    redactor.add_secret(prepared.auth.signature)
    yield redactor(prepared.auth.text)
    for cancel in prepared.cancels:
        yield redactor(cancel.text)
