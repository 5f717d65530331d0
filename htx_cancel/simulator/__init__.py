"""A loopback server that speaks HTX's USDT-margined trade socket, for trying and testing htx-cancel.

HTX has no public test network for this market, so the only way to exercise the real code path
(TLS or not, handshake, gzip, signatures, pings, pipelining, reconnects) without an account is to
stand up the other side of the wire. The simulator does that with a real WebSocket server, checks
auth with the same signature rule the exchange uses, keeps an in-memory order book, and takes
injected faults (`Faults`) so tests can reproduce what the exchange does on a bad day.

One port serves all three things `--confirm` and `--all` talk to: the trade socket
(`/linear-swap-trade`), the v5 notification socket (`/ws/v5/notification`, order pushes) and
the two signed REST reads (`GET /v5/trade/order`, `GET /v5/trade/order/opens`), answered as
plain HTTP before any WebSocket handshake.

- `book.py`: orders, HTX's state words, the demo book;
- `exchange.py`: the rules, pure (requests in, answer dicts out; time passed in);
- `faults.py`: what can be made to go wrong;
- `wire.py`: bytes websockets would not produce (gzip JSON, the bomb, raw frame headers);
- `records.py`: what the simulator saw and did, as frozen records;
- `server.py`: the thin server that moves bytes and injects the faults about the wire.

Everything that reached the wire is recorded (`Simulator.received`, `.cancels`, `.subscriptions`,
`.pushes`, `.rest_requests`) so a test can assert on what the client actually sent, not on what
it meant to send.

Needs the `sim` extra (`websockets`); it never imports Typer or Rich.
"""

from htx_cancel.simulator.book import SimOrder, demo_book, open_book
from htx_cancel.simulator.exchange import (
    AUTH_WINDOW_SECONDS,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    DEMO_USER_ID,
    NOTIFY_PATH,
    OPENS_PATH,
    ORDER_PATH,
    WS_PATH,
    Exchange,
)
from htx_cancel.simulator.faults import Faults
from htx_cancel.simulator.records import (
    CancelRecord,
    PushRecord,
    Received,
    RestRecord,
    SubscriptionRecord,
)
from htx_cancel.simulator.server import Simulator, serve

__all__ = [
    "AUTH_WINDOW_SECONDS",
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "DEMO_USER_ID",
    "NOTIFY_PATH",
    "OPENS_PATH",
    "ORDER_PATH",
    "WS_PATH",
    "CancelRecord",
    "Exchange",
    "Faults",
    "PushRecord",
    "Received",
    "RestRecord",
    "SimOrder",
    "Simulator",
    "SubscriptionRecord",
    "demo_book",
    "open_book",
    "serve",
]
