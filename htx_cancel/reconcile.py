"""Exchange codes -> order states and what to do next: the SPEC section 2 table, as data."""

from __future__ import annotations

import enum
from typing import Final

from htx_cancel.models import State

STATE_BY_CODE: Final[dict[int, State]] = {
    200: State.CANCELLED,
    1071: State.ALREADY_CANCELLED,
    1062: State.CANCELLING,
    1061: State.NOT_FOUND,
    1017: State.NOT_FOUND,
    1063: State.FILLED,
}
"""The only way to `cancelled` is code 200; every code not listed here is `rejected`."""

TRANSIENT_CODES: Final = frozenset({1000, 1001, 1002, 1003, 1004, 1005, 1032})
RATE_LIMITED: Final = 1032
TOO_MANY_IDS: Final = 1052


class Verdict(enum.Enum):
    """What a whole-request answer asks the engine to do with the IDs it carried."""

    PER_ORDER = "per_order"
    RETRY = "retry"
    SPLIT = "split"
    REJECT = "reject"


def request_verdict(ok: bool, code: int | None, batch_len: int) -> Verdict:
    """Input errors (1030, 1066, 1067) and auth errors fall through to REJECT: resending cannot help."""
    if ok:
        return Verdict.PER_ORDER
    if code in TRANSIENT_CODES:
        return Verdict.RETRY
    if code == TOO_MANY_IDS and batch_len > 1:
        return Verdict.SPLIT
    return Verdict.REJECT


def order_state(code: int) -> State | None:
    """A per-order code's final state, or None when the code is transient and the ID should go again."""
    if code in TRANSIENT_CODES:
        return None
    return STATE_BY_CODE.get(code, State.REJECTED)
