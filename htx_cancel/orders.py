"""HTX's two order reads over REST (SPEC sections 7 and 8): one order's state, and a contract's
open orders page by page. The meaning of the answers lives here; the signed HTTP is `rest`."""

from __future__ import annotations

import json
from typing import Final, NamedTuple, Protocol

from htx_cancel.frames import OrderUpdate, as_code, as_id, order_updates

ORDER_PATH: Final = "/v5/trade/order"
OPENS_PATH: Final = "/v5/trade/order/opens"


class Getter(Protocol):
    """What the reads need of the REST client (`rest.RestClient.get`)."""

    def get(self, path: str, params: dict[str, str]) -> dict[str, object]: ...


class OrderReadError(Exception):
    """The exchange answered a read with an error code (the HTTP exchange itself went fine), or
    with something that cannot be read exactly."""

    def __init__(self, message: str, code: int | None = None, ts: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ts = ts


def _checked(answer: dict[str, object], what: str) -> object:
    """The `data` of a 200 answer; any other code is an OrderReadError naming it."""
    code = as_code(answer.get("code"))
    if code != 200:
        message = answer.get("message") or answer.get("err_msg") or answer.get("err-msg") or ""
        said = code if code is not None else "without a code"
        raise OrderReadError(f"{what} answered {said} {message}".rstrip(), code, as_code(answer.get("ts")))
    return answer.get("data")


def query_order(
    client: Getter, contract_code: str, order_id: str | None, client_order_id: str | None
) -> OrderUpdate | None:
    """One order's current state (`GET /v5/trade/order`), by order ID where known: HTX keeps
    client order IDs for a few hours only. None when the answer does not describe that order."""
    params = {"contract_code": contract_code, "margin_mode": "cross"}
    if order_id is not None:
        params["order_id"] = order_id
    elif client_order_id is not None:
        params["client_order_id"] = client_order_id
    data = _checked(client.get(ORDER_PATH, params), "the order query")
    for update in order_updates(data):
        if (order_id is not None and update.order_id == order_id) or (
            order_id is None and update.client_order_id == client_order_id
        ):
            return update
    return None


PAGE_SIZE: Final = 100
"""HTX's largest page of open orders."""
MAX_PAGES: Final = 10_000
"""A million open orders: past this, a listing that keeps going is not to be believed."""


class Listed(NamedTuple):
    """One open order as the listing gave it; only these IDs are ever cancelled by `--all`."""

    order_id: str
    client_order_id: str | None
    side: str | None


def list_open(client: Getter, contract_code: str, side: str | None = None) -> list[Listed]:
    """Every open order of `contract_code` (`GET /v5/trade/order/opens`, pages of 100 after the
    last `id` seen, until a page is short), narrowed to `side`.

    All or nothing: an entry that cannot be read (an ID as a float, a wrong type) or a page that
    does not move on fails the whole listing (OrderReadError), since `--all` must never cancel on a
    partial or misread listing. Entries of another contract are left out."""
    listed: dict[str, Listed] = {}
    after: str | None = None
    for _ in range(MAX_PAGES):
        params = {"contract_code": contract_code, "limit": str(PAGE_SIZE)}
        if after is not None:
            params.update({"from": after, "direct": "next"})
        data = _checked(client.get(OPENS_PATH, params), "the open-orders listing")
        if not isinstance(data, list):
            raise OrderReadError("the open-orders listing answered without a list of orders")
        last = after
        for entry in data:
            order = _listed_entry(entry)
            if order is None:
                shown = json.dumps(entry, default=str)[:80]
                raise OrderReadError(f"the open-orders listing holds an entry that is not an order: {shown}")
            cursor, update = order
            last = cursor
            if update.contract_code not in (None, contract_code):
                continue
            if side is None or update.side == side:
                order_id = str(update.order_id)
                listed.setdefault(order_id, Listed(order_id, update.client_order_id, update.side))
        if len(data) < PAGE_SIZE:
            return list(listed.values())
        if last == after:
            raise OrderReadError("the open-orders listing does not move on to a next page")
        after = last
    raise OrderReadError(f"the open-orders listing goes on past {MAX_PAGES} pages")


def _listed_entry(entry: object) -> tuple[str, OrderUpdate] | None:
    """(paging cursor, order) for a listing entry, or None when it cannot be read exactly."""
    updates = order_updates(entry) if isinstance(entry, dict) else ()
    if not updates or updates[0].order_id is None:
        return None
    assert isinstance(entry, dict)
    cursor = as_id(entry.get("id")) if entry.get("id") is not None else updates[0].order_id
    if cursor is None:
        return None
    return cursor, updates[0]
