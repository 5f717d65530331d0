"""A TCP proxy that makes loopback behave like a link with a round-trip time, for the benchmark.

    python latency_proxy.py UPSTREAM_PORT [--latency S] [--hold S]

listens on 127.0.0.1 (a free port), prints that port on one line once it accepts, then serves
line commands on stdin: `stats` prints one JSON line (connections accepted so far), `quit` (or
end of input) stops it. Each accepted connection gets its own connection to 127.0.0.1:UPSTREAM_PORT
(the simulator), made at once, on loopback.

What it emulates, and how:

- **One-way latency**, each direction: every chunk read from one side is written to the other
  `--latency` seconds after it was read, never earlier, never reordered (one FIFO and one writer
  thread per direction); end of stream (a FIN) travels the same way, as a half-close.
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
not depend on the benchmark holding the GIL, and uses threads with time.sleep, which on Linux
wakes within tens of microseconds, where an event loop's epoll timeout is rounded up to whole
milliseconds on every hop.
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Final

CHUNK: Final = 65536

_EOF: Final = b""


class Stats:
    """Counters the benchmark reads to check that a run went through the proxy."""

    def __init__(self) -> None:
        self.lock: Final = threading.Lock()
        self.connections = 0
        self.upstream_failures = 0


def _deliver(chunks: queue.SimpleQueue[tuple[float, bytes]], dst: socket.socket) -> None:
    """Write each chunk when it is due, in order; a FIN (empty chunk) becomes a half-close."""
    try:
        while True:
            due, data = chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if data == _EOF:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
    except OSError:
        return


def _pump(src: socket.socket, dst: socket.socket, delay: float, hold: float) -> threading.Thread:
    """Read `src` as fast as it sends, stamping each chunk with the time it is due at `dst`."""
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
    writer = threading.Thread(target=_deliver, args=(chunks, dst), daemon=True)
    writer.start()
    extra = hold
    try:
        while True:
            data = src.recv(CHUNK)
            chunks.put((time.monotonic() + delay + extra, data))
            if data == _EOF:
                break
            extra = 0.0
    except OSError:
        chunks.put((time.monotonic() + delay, _EOF))
    return writer


def _serve_one(client: socket.socket, upstream_port: int, latency: float, hold: float, stats: Stats) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        with stats.lock:
            stats.upstream_failures += 1
        client.close()
        return
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done: list[threading.Thread] = []

    def server_to_client() -> None:
        done.append(_pump(upstream, client, latency, 0.0))

    back = threading.Thread(target=server_to_client, daemon=True)
    back.start()
    forward_writer = _pump(client, upstream, latency, hold)
    back.join()
    forward_writer.join()
    for writer in done:
        writer.join()
    client.close()
    upstream.close()


def _accept_forever(
    listener: socket.socket, upstream_port: int, latency: float, hold: float, stats: Stats
) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        with stats.lock:
            stats.connections += 1
        threading.Thread(
            target=_serve_one, args=(client, upstream_port, latency, hold, stats), daemon=True
        ).start()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("upstream_port", type=int, help="the simulator's port on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="added one-way latency, seconds")
    parser.add_argument(
        "--hold", type=float, default=None, help="extra delay of a client's first bytes (default 2 x latency)"
    )
    args = parser.parse_args(argv)
    hold = 2 * args.latency if args.hold is None else args.hold
    stats = Stats()
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    threading.Thread(
        target=_accept_forever, args=(listener, args.upstream_port, args.latency, hold, stats), daemon=True
    ).start()
    print(listener.getsockname()[1], flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            with stats.lock:
                print(
                    json.dumps(
                        {"connections": stats.connections, "upstream_failures": stats.upstream_failures}
                    ),
                    flush=True,
                )
        elif command == "quit":
            break
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
