"""The simulator in a process of its own, driven over stdin, for the benchmark.

Why a separate process: a simulator on a thread of the benchmark would share the GIL with the
code that starts and reaps the clients being timed, and its event loop would stall whenever the
benchmark does anything. In its own process it behaves like a (very near) exchange.

    python simserver.py [--latency S] [--rate-limit N] [--rate-window S] [--certfile PEM --keyfile PEM]

prints the URL on one line once connections are accepted (`wss://localhost:PORT/...` with
`--certfile`/`--keyfile`, a certificate chain for "localhost" and its key: TLS as the exchange
serves it; `ws://127.0.0.1:PORT/...` without), then serves line commands:

- `dump`: one JSON line with every cancel request so far (arrival `t` and `answered_at` on
  `time.monotonic()`, which is CLOCK_MONOTONIC and so system-wide on Linux: the benchmark can
  compare them with its own clock), the number of 1032 answers and of trade connections, and,
  for `--confirm` runs, how many notification connections and `op: sub` frames there were;
- `quit` (or end of input): stop and exit.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from collections.abc import Sequence

from common import serve_commands

from htx_cancel.simulator import Faults, Simulator, demo_book


def _dump(sim: Simulator) -> str:
    """Everything the benchmark needs to time and verify runs, one line of JSON."""
    cancels = [
        {
            "t": record.t,
            "answered_at": record.answered_at,
            "connection": record.connection,
            "cid": record.cid,
            "ids": len(record.order_ids) + len(record.client_order_ids),
            "code": record.code,
            "fault": record.fault,
        }
        for record in sim.cancels
    ]
    # A --confirm run's second socket: its frames are marked socket="notify" and its connections
    # are numbered on their own, from 1 (older simulators have neither: there are none then).
    notify = [frame for frame in sim.received if getattr(frame, "socket", "trade") == "notify"]
    subs = sum(1 for frame in notify if isinstance(frame.message, dict) and frame.message.get("op") == "sub")
    return json.dumps(
        {
            "cancels": cancels,
            "rate_limited": sim.rate_limited,
            "connections": sim.connections,
            "notify_connections": max((frame.connection for frame in notify), default=0),
            "subs": subs,
        }
    )


def _server_tls(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context as any TLS 1.2+ server has one; the test CA behind the chain is the
    clients' business (SSL_CERT_FILE)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def main(argv: Sequence[str]) -> int:
    """Serve until told to quit (common.serve_commands: an unknown command is an error line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.0, help="added one-way latency, seconds")
    parser.add_argument("--rate-limit", type=int, default=72, help="cancel requests per window")
    parser.add_argument("--rate-window", type=float, default=3.0, help="rate window, seconds")
    parser.add_argument("--certfile", help="serve TLS with this certificate chain (PEM, for localhost)")
    parser.add_argument("--keyfile", help="the private key of --certfile (PEM)")
    args = parser.parse_args(argv)
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    tls = _server_tls(args.certfile, args.keyfile) if args.certfile else None
    faults = Faults(latency=args.latency, rate_limit=args.rate_limit, rate_window=args.rate_window)
    with Simulator(demo_book(), faults, ssl_context=tls) as sim:
        print(sim.url, flush=True)
        serve_commands({"dump": lambda: _dump(sim)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
