"""`--all` (SPEC section 8): list what is open on the contract, ask, cancel it through the same
engine as any other IDs, then look again for orders placed meanwhile.

The question is the caller's (`ask`): the CLI puts it on the terminal, scripts answer it with
`--yes`. Only IDs the listing gave are ever cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, NamedTuple

from htx_cancel.engine import World, run_cancel, skew_note
from htx_cancel.errors import CredentialsError, ListingError, UsageError
from htx_cancel.models import (
    DONE_STATES,
    CancelRequest,
    IdKind,
    NoteEvent,
    OrderRef,
    Report,
)
from htx_cancel.orders import Listed, OrderReadError, list_open
from htx_cancel.prepare import Prepared
from htx_cancel.trail import TracedRest, Trail

if TYPE_CHECKING:
    pass

REFUSED_KEYS: Final = frozenset(
    {2001, 2002, 2003, 12001, 12002, 12003, 12004, 12005, 12006, 12007, 12008, 12009}
)
"""HTX's answers to a request whose key, signature, time or source address it will not accept:
the credentials are refused (exit 3), as a refused auth on the socket is."""


class Listing(NamedTuple):
    """What the question shows: how many, on which contract, by side."""

    contract_code: str
    orders: list[Listed]

    def question(self) -> str:
        buy = sum(1 for o in self.orders if o.side == "buy")
        sell = sum(1 for o in self.orders if o.side == "sell")
        noun = "open order" if len(self.orders) == 1 else "open orders"
        return f"Cancel {len(self.orders)} {noun} on {self.contract_code} ({buy} buy, {sell} sell)? [y/N] "


class Lister:
    """The open-orders listing over the run's traced REST client."""

    def __init__(self, target: Prepared, world: World) -> None:
        self._world = world
        self._rest = TracedRest(target.settings, target.credentials, Trail(world, target.redactor))

    def list(self, contract_code: str, side: str | None) -> list[Listed]:
        """Every open order (of `side`), or one line saying why not: CredentialsError when the
        keys or the clock are refused, ListingError for anything else."""
        from htx_cancel.rest import RestError

        try:
            return list_open(self._rest, contract_code, side)
        except OrderReadError as exc:
            if exc.code in REFUSED_KEYS:
                note = skew_note(exc.ts, self._world.wall_clock())
                raise CredentialsError(
                    f"listing the open orders of {contract_code} was refused: {exc}{note}"
                ) from None
            raise ListingError(f"cannot list the open orders of {contract_code}: {exc}") from None
        except RestError as exc:
            raise ListingError(f"cannot list the open orders of {contract_code}: {exc}") from None

    def close(self) -> None:
        self._rest.close()


def request_for(contract_code: str, orders: list[Listed]) -> CancelRequest:
    """Listed orders are cancelled by order ID, the one ID the listing always carries."""
    return CancelRequest(contract_code, tuple(OrderRef(IdKind.ORDER, o.order_id) for o in orders))


def sweep(
    lister: Lister,
    target: Prepared,
    contract_code: str,
    side: str | None,
    max_orders: int | None,
    ask: Callable[[Listing], bool],
    world: World,
) -> Report:
    """List, ask, cancel; list again and give orders placed meanwhile one more round; report what
    is still open after that. A listing that fails before any cancel raises ListingError (or
    CredentialsError); Ctrl-C before any cancel gives an empty, interrupted report."""
    started = world.clock()
    if world.epoch is None:
        world = world._replace(epoch=started)
    rounds: list[Report] = []
    try:
        listed = lister.list(contract_code, side)
        if not listed:
            world.on_event(
                NoteEvent(f"no open orders on {contract_code}{_side_words(side)}: nothing to cancel")
            )
            return _report(rounds, target, contract_code, started, world)
        if max_orders is not None and len(listed) > max_orders:
            raise UsageError(
                f"{len(listed)} open orders listed, more than --max-orders {max_orders}; nothing sent"
            )
        if not ask(Listing(contract_code, listed)):
            raise UsageError("not confirmed: nothing was cancelled")
        rounds.append(_cancel(listed, target, contract_code, world))
        if rounds[-1].interrupted:
            return _report(rounds, target, contract_code, started, world)
        again = lister.list(contract_code, side)
        fresh = [o for o in again if o.order_id not in {o.order_id for o in listed}]
        if fresh:
            appeared = f"{len(fresh)} more open order(s) appeared during the run: one more round"
            world.on_event(NoteEvent(appeared))
            rounds.append(_cancel(fresh, target, contract_code, world))
            if rounds[-1].interrupted:
                return _report(rounds, target, contract_code, started, world)
            again = lister.list(contract_code, side)
    except KeyboardInterrupt:
        return _report(rounds, target, contract_code, started, world, interrupted=True)
    except ListingError as exc:
        if not rounds:
            raise
        return _report(rounds, target, contract_code, started, world, recheck_failed=str(exc))
    return _report(rounds, target, contract_code, started, world, still_open=_still_open(again, rounds))


def _still_open(listed: list[Listed], rounds: list[Report]) -> tuple[str, ...]:
    """Listed orders the run did not settle. One the exchange answered done (200, 1071, 1062)
    but still lists is a cancel in progress, not an order left open: its row says what it is,
    and --confirm tells its end."""
    done = {r.order_id for report in rounds for r in report.results if r.state in DONE_STATES}
    return tuple(o.order_id for o in listed if o.order_id not in done)


def _side_words(side: str | None) -> str:
    return f" ({side} side)" if side else ""


def _cancel(orders: list[Listed], target: Prepared, contract_code: str, world: World) -> Report:
    request = request_for(contract_code, orders)
    settings, credentials, redactor = target.settings, target.credentials, target.redactor
    return run_cancel(
        request, credentials, settings, simulated=target.simulated, world=world, redactor=redactor
    )


def _report(
    rounds: list[Report],
    target: Prepared,
    contract_code: str,
    started: float,
    world: World,
    still_open: tuple[str, ...] = (),
    recheck_failed: str | None = None,
    interrupted: bool = False,
) -> Report:
    """One report over every round: each ID once, in the order the rounds cancelled them."""
    return Report(
        contract_code=contract_code,
        url=target.settings.url,
        simulated=target.simulated,
        elapsed_ms=int((world.clock() - started) * 1000),
        duplicates_dropped=0,
        results=tuple(r for report in rounds for r in report.results),
        interrupted=interrupted or any(report.interrupted for report in rounds),
        problems=tuple(p for report in rounds for p in report.problems),
        confirm=target.settings.confirm,
        still_open=still_open,
        recheck_failed=recheck_failed,
    )
