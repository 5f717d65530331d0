"""`--all` (SPEC section 8): list what is open on the contract, ask, cancel it through the same
engine as any other IDs, then look again for orders placed meanwhile.

The question is the caller's (`ask`): the CLI puts it on the terminal, scripts answer it with
`--yes`. Only IDs the listing gave are ever cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from htx_cancel.engine import World, run_cancel
from htx_cancel.errors import ListingError, UsageError
from htx_cancel.models import (
    CancelRequest,
    Credentials,
    FrameEvent,
    IdKind,
    NoteEvent,
    OrderRef,
    Report,
    RunSettings,
)
from htx_cancel.orders import Listed, OrderReadError, list_open
from htx_cancel.redaction import Redactor


class Listing(NamedTuple):
    """What the question shows: how many, on which contract, by side."""

    contract_code: str
    orders: list[Listed]

    def question(self) -> str:
        buy = sum(1 for o in self.orders if o.side == "buy")
        sell = sum(1 for o in self.orders if o.side == "sell")
        noun = "open order" if len(self.orders) == 1 else "open orders"
        return f"Cancel {len(self.orders)} {noun} on {self.contract_code} ({buy} buy, {sell} sell)? [y/N] "


class Target(NamedTuple):
    """Where and as whom: the settings (URL, timeout, trust) and keys of the run."""

    settings: RunSettings
    credentials: Credentials
    redactor: Redactor
    simulated: bool


class Lister:
    """The open-orders listing over one REST client, its requests shown in -v and the audit log
    like the socket's frames (redacted, the signature learned first)."""

    def __init__(self, target: Target, world: World) -> None:
        from htx_cancel.rest import RestClient, SignedRequest

        self._target = target
        self._world = world

        def on_request(request: SignedRequest) -> None:
            target.redactor.add_secret(request.signature)
            if world.wants_frames:
                text = target.redactor(request.text)
                world.on_event(FrameEvent("sent", text, time.time(), 0.0, "rest"))

        settings = target.settings
        self._client = RestClient(
            settings.url,
            target.credentials,
            settings.timeout,
            settings.ca_bundle,
            world.env,
            wall_clock=world.wall_clock,
            clock=world.clock,
            on_request=on_request,
        )

    def list(self, contract_code: str, side: str | None) -> list[Listed]:
        """Every open order (of `side`), or ListingError with one line saying why not."""
        from htx_cancel.rest import RestError

        try:
            return list_open(self._client, contract_code, side)
        except (RestError, OrderReadError) as exc:
            raise ListingError(f"cannot list the open orders of {contract_code}: {exc}") from None

    def close(self) -> None:
        self._client.close()


def request_for(contract_code: str, orders: list[Listed]) -> CancelRequest:
    """Listed orders are cancelled by order ID, the one ID the listing always carries."""
    return CancelRequest(contract_code, tuple(OrderRef(IdKind.ORDER, o.order_id) for o in orders))


def sweep(
    lister: Lister,
    target: Target,
    contract_code: str,
    side: str | None,
    max_orders: int | None,
    ask: Callable[[Listing], bool],
    world: World,
) -> Report:
    """List, ask, cancel; list again and give orders placed meanwhile one more round; report what
    is still open after that. A listing that fails before any cancel raises ListingError."""
    started = world.clock()
    listed = lister.list(contract_code, side)
    if not listed:
        world.on_event(NoteEvent(f"no open orders on {contract_code}{_side_words(side)}: nothing to cancel"))
        return _report([], target, contract_code, started, world)
    if max_orders is not None and len(listed) > max_orders:
        raise UsageError(
            f"{len(listed)} open orders listed, more than --max-orders {max_orders}; nothing sent"
        )
    if not ask(Listing(contract_code, listed)):
        raise UsageError("not confirmed: nothing was cancelled")
    rounds = [_cancel(listed, target, contract_code, world)]
    if rounds[0].interrupted:
        return _report(rounds, target, contract_code, started, world)
    seen = {o.order_id for o in listed}
    try:
        again = lister.list(contract_code, side)
        fresh = [o for o in again if o.order_id not in seen]
        if fresh:
            world.on_event(
                NoteEvent(f"{len(fresh)} more open order(s) appeared during the run: one more round")
            )
            rounds.append(_cancel(fresh, target, contract_code, world))
            if not rounds[-1].interrupted:
                again = lister.list(contract_code, side)
        still_open = tuple(o.order_id for o in again)
    except ListingError as exc:
        world.on_event(NoteEvent(f"{exc}; orders placed during the run may still be open"))
        return _report(rounds, target, contract_code, started, world, recheck_failed=str(exc))
    if still_open:
        shown = ", ".join(still_open[:20]) + (
            f" and {len(still_open) - 20} more" if len(still_open) > 20 else ""
        )
        world.on_event(NoteEvent(f"still open on {contract_code} after the last round: {shown}"))
    return _report(rounds, target, contract_code, started, world, still_open=still_open)


def _side_words(side: str | None) -> str:
    return f" ({side} side)" if side else ""


def _cancel(orders: list[Listed], target: Target, contract_code: str, world: World) -> Report:
    request = request_for(contract_code, orders)
    return run_cancel(
        request,
        target.credentials,
        target.settings,
        simulated=target.simulated,
        world=world,
        redactor=target.redactor,
    )


def _report(
    rounds: list[Report],
    target: Target,
    contract_code: str,
    started: float,
    world: World,
    still_open: tuple[str, ...] = (),
    recheck_failed: str | None = None,
) -> Report:
    """One report over every round: each ID once, in the order the rounds cancelled them."""
    return Report(
        contract_code=contract_code,
        url=target.settings.url,
        simulated=target.simulated,
        elapsed_ms=int((world.clock() - started) * 1000),
        duplicates_dropped=0,
        results=tuple(r for report in rounds for r in report.results),
        interrupted=any(report.interrupted for report in rounds),
        problems=tuple(p for report in rounds for p in report.problems),
        confirm=target.settings.confirm,
        swept=True,
        still_open=still_open,
        recheck_failed=recheck_failed,
    )
