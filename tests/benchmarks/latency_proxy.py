"""A TCP proxy that makes loopback behave like a link with a round-trip time, for the benchmark.

    python latency_proxy.py UPSTREAM_PORT [--latency S] [--hold S]

listens on 127.0.0.1 (a free port), prints that port on one line once it accepts, then serves
line commands on stdin: `stats` prints one JSON line (connections accepted so far), `quit` (or
end of input) stops it. Each accepted connection gets its own connection to 127.0.0.1:UPSTREAM_PORT
(the simulator), made at once, on loopback.

What it emulates, and how:

- **One-way latency**, each direction: every chunk read from one side is written to the other
  `--latency` seconds after it was read, never earlier, never reordered (one FIFO per direction);
  end of stream (a FIN) travels the same way, as a half-close.
- **The TCP handshake**: a loopback `connect()` returns at once, where a real one takes a round
  trip (SYN, SYN-ACK) before the client can send anything. So the client's first bytes are held
  `--hold` seconds more (default: one round trip, 2 x latency) on top of their one-way latency.
  Holding them from when they reach the proxy, not from the accept, is what a blocking connect
  does: whatever the client computes between connect() and its first write (building its
  ClientHello, say) comes after the handshake's round trip, not during it.

So a TLS 1.3 WebSocket client that waits for every answer spends, at best, 1 round trip (held
first bytes = TCP) + 1 (TLS) + 1 (HTTP upgrade) + 1 (auth) + 1 (cancel) = 5 round trips on the
network, and one more if it waits for the server's close frame before it exits.

What it does not emulate: bandwidth, loss, and anything the kernel's TCP does across the real link
(Nagle and delayed ACKs, slow start): each side's TCP ends at the proxy on loopback, so a client
that writes small segments without TCP_NODELAY is not penalised here as it would be on a real link.

It runs in a process of its own (not a thread of the benchmark) so the timing of its writes does
not depend on the benchmark holding the GIL. One thread does all the moving: a selector loop that
accepts, connects upstream, reads and stamps chunks as they come, and writes each when it is due.
No thread is started per connection: starting threads at accept time made a ClientHello sent
right after connect() wait ~2 ms (up to ~12 ms) for the proxy to be ready, a penalty a real server
does not charge and that fell only on clients that send early. epoll's timeout is rounded up to
whole milliseconds, so the loop wakes up to a millisecond early and sleeps the rest with
time.sleep (tens of microseconds late on Linux).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import selectors
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from common import serve_commands

CHUNK: Final = 65536
EARLY: Final = 0.001
"""How much sooner than a chunk's due time the selector may return (its timeout is whole ms)."""


@dataclass
class Side:
    """One direction of one proxied connection: read from `src`, write to `dst`."""

    src: socket.socket
    dst: socket.socket
    extra: float
    """Added to the next chunk's delay (the hold, for the client's first bytes), then 0."""
    open: bool = True
    """Still reading; False once `src` sent its FIN (or failed)."""
    peer: Side | None = None
    done: bool = False
    """Its FIN was delivered: nothing more to write this way."""


@dataclass
class Proxy:
    """All connections, and every chunk in flight, ordered by due time (then arrival order)."""

    upstream_port: int
    latency: float
    hold: float
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    due: list[tuple[float, int, Side, bytes]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0
    upstream_failures: int = 0

    def stats(self) -> str:
        """The `stats` command's answer: connections accepted, and upstream connects that failed."""
        with self.lock:
            return json.dumps({"connections": self.connections, "upstream_failures": self.upstream_failures})

    def accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        with self.lock:
            self.connections += 1
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            with self.lock:
                self.upstream_failures += 1
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        forward = Side(client, upstream, self.hold)
        back = Side(upstream, client, 0.0, peer=forward)
        forward.peer = back
        self.selector.register(client, selectors.EVENT_READ, forward)
        self.selector.register(upstream, selectors.EVENT_READ, back)

    def read(self, side: Side) -> None:
        """Stamp what arrived with the time it is due on the other side (a FIN is b"")."""
        try:
            data = side.src.recv(CHUNK)
        except OSError:
            data = b""
        stamped = time.monotonic() + self.latency + side.extra
        side.extra = 0.0
        heapq.heappush(self.due, (stamped, next(self.order), side, data))
        if not data:
            side.open = False
            self.selector.unregister(side.src)

    def deliver(self, side: Side, data: bytes) -> None:
        if side.done:
            return
        try:
            if data:
                side.dst.sendall(data)
                return
            side.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        side.done = True
        peer = side.peer
        if peer is not None and peer.done:
            # A side can be done without having read its FIN (its write failed): whichever source
            # is still registered must leave the selector before its descriptor is closed and
            # reused by the next connection.
            for each in (side, peer):
                if each.open:
                    each.open = False
                    self.selector.unregister(each.src)
            side.src.close()
            side.dst.close()

    def run(self, listener: socket.socket) -> None:
        self.selector.register(listener, selectors.EVENT_READ, None)
        while True:
            timeout = None
            if self.due:
                timeout = max(0.0, self.due[0][0] - time.monotonic() - EARLY)
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    self.accept(listener)
                else:
                    self.read(key.data)
            # Whatever falls due within EARLY is written on time: sleep to it, not past it.
            while self.due and self.due[0][0] <= time.monotonic() + EARLY:
                when, _, side, data = heapq.heappop(self.due)
                wait = when - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.deliver(side, data)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("upstream_port", type=int, help="the simulator's port on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="added one-way latency, seconds")
    parser.add_argument(
        "--hold", type=float, default=None, help="extra delay of a client's first bytes (default 2 x latency)"
    )
    args = parser.parse_args(argv)
    proxy = Proxy(args.upstream_port, args.latency, 2 * args.latency if args.hold is None else args.hold)
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    threading.Thread(target=proxy.run, args=(listener,), name="latency-proxy", daemon=True).start()
    print(listener.getsockname()[1], flush=True)
    serve_commands({"stats": proxy.stats})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
