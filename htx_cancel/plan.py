"""Request -> batches -> signed, encoded frames: everything a run writes first, built before any
socket opens. What `--dry-run` prints is exactly this plan, through the same redaction as `-v`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from htx_cancel import frames
from htx_cancel.models import Batch, CancelRequest, Credentials, IdKind, RunSettings
from htx_cancel.redaction import Redactor
from htx_cancel.signing import timestamp_for

AUTH_CID: Final = "auth-1"
NOTIFY_PATH: Final = "/ws/v5/notification"
"""HTX's v5 order push socket, on the trade socket's host (SPEC section 7)."""
NOTIFY_AUTH_CID: Final = "auth-n"
SUBSCRIBE_CID: Final = "sub-1"


class PlannedCancel(NamedTuple):
    """A cancel request built (and JSON-encoded) before the socket opens."""

    cid: str
    batch: Batch
    text: str


class NotifyPlan(NamedTuple):
    """The order push socket of a `--confirm` run: where, its signed auth, its subscription."""

    url: str
    auth: frames.SignedAuth
    subscribe: str


class Plan(NamedTuple):
    """A run's first attempt: the frames that can leave at once, signed and encoded before any
    socket opens (auth, and the cancels of the first pace window), and the batches after them,
    which are encoded as the pace lets each one go (a million IDs must not mean forty thousand
    frames held in memory from the start). --dry-run prints all of it."""

    auth: frames.SignedAuth
    auth_cid: str
    cancels: tuple[PlannedCancel, ...]
    notify: NotifyPlan | None = None
    later: tuple[Batch, ...] = ()
    contract_code: str = ""


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


def notify_url(trade_url: str) -> str:
    """The order push socket beside a trade socket: same scheme, host and port."""
    parts = urlsplit(trade_url)
    return urlunsplit((parts.scheme, parts.netloc, NOTIFY_PATH, "", ""))


def sign_auth(credentials: Credentials, url: str, now: datetime, cid: str = AUTH_CID) -> frames.SignedAuth:
    """The auth frame for `url`, signed for `now`; a reconnect signs afresh (5-minute window)."""
    host, path = endpoint(url)
    return frames.auth_frame(credentials, host, path, timestamp_for(now), cid)


def plan(request: CancelRequest, credentials: Credentials, settings: RunSettings, now: datetime) -> Plan:
    """Sign and encode what can leave at once: the send path then only writes bytes."""
    every = batches(request, settings.batch_size)
    cancels = tuple(
        PlannedCancel(
            f"c-{n}", batch, frames.cancel_frame(f"c-{n}", request.contract_code, batch.kind, batch.ids)
        )
        for n, batch in enumerate(every[: settings.max_rate], start=1)
    )
    notify = None
    if settings.confirm:
        url = notify_url(settings.url)
        subscribe = frames.subscribe_frame(SUBSCRIBE_CID, request.contract_code)
        notify = NotifyPlan(url, sign_auth(credentials, url, now, NOTIFY_AUTH_CID), subscribe)
    later = tuple(every[settings.max_rate :])
    return Plan(
        sign_auth(credentials, settings.url, now), AUTH_CID, cancels, notify, later, request.contract_code
    )


def redacted_plan_frames(prepared: Plan, redactor: Redactor) -> Iterable[str]:
    """The frames --dry-run shows, through the same redaction as -v."""
    redactor.add_secret(prepared.auth.signature)
    yield redactor(prepared.auth.text)
    if prepared.notify is not None:
        redactor.add_secret(prepared.notify.auth.signature)
        yield redactor(prepared.notify.auth.text)
        yield prepared.notify.subscribe
    for cancel in prepared.cancels:
        yield redactor(cancel.text)
    for n, batch in enumerate(prepared.later, start=len(prepared.cancels) + 1):
        yield frames.cancel_frame(f"c-{n}", prepared.contract_code, batch.kind, batch.ids)
