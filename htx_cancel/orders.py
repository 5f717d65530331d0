"""HTX's two order reads over REST (SPEC sections 7 and 8): one order's state, and a contract's
open orders page by page. The meaning of the answers lives here; the signed HTTP is `rest`."""

from __future__ import annotations

from typing import Final, Protocol

from htx_cancel.frames import OrderUpdate, as_code, order_updates

ORDER_PATH: Final = "/v5/trade/order"
OPENS_PATH: Final = "/v5/trade/order/opens"


class Getter(Protocol):
    """What the reads need of the REST client (`rest.RestClient.get`)."""

    def get(self, path: str, params: dict[str, str]) -> dict[str, object]: ...


class OrderReadError(Exception):
    """The exchange answered a read with an error code (the HTTP exchange itself went fine)."""


def _checked(answer: dict[str, object], what: str) -> object:
    """The `data` of a 200 answer; any other code is an OrderReadError naming it."""
    code = as_code(answer.get("code"))
    if code != 200:
        message = answer.get("message") or answer.get("err_msg") or answer.get("err-msg") or ""
        said = code if code is not None else "without a code"
        raise OrderReadError(f"{what} answered {said} {message}".rstrip())
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
