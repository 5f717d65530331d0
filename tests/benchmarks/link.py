"""How htx-cancel does where users feel it: over TLS, through a link with a round-trip time.

    python tests/benchmarks/link.py [--runs N] [--rtt S] [--system-cas] [--json PATH]
    python tests/benchmarks/link.py --serve [--rtt S] [--system-cas]   # the same setup, by hand

The simulator (simserver.py, a process of its own) serves TLS with a certificate for "localhost"
issued by a throw-away `trustme` CA; a latency proxy (latency_proxy.py, a process of its own)
sits in front of it. Every client trusts the CA the same way, through SSL_CERT_FILE (not
--ca-bundle), and connects to `wss://localhost:PROXY_PORT/linear-swap-trade`. Three links:

- **TLS, RTT** (default 50 ms): the proxy delays every chunk by RTT/2 each way and holds a
  client's first bytes one more RTT, the TCP handshake a loopback connect does not pay;
- **TLS, 0 added**: the same proxy with no delay and no hold, so the difference between the two
  is only the added latency;
- **plain loopback**: `ws://127.0.0.1` straight to a plain simulator, as bench.py measures.

Three clients on each: `htx-cancel` (3 IDs, --json), `htx-cancel --confirm` (a second socket to
the simulator's /ws/v5/notification; left out, with a note, while `htx-cancel --help` does not
list the option), and baseline_client.py (websocket-client only; TCP, TLS, upgrade, auth, one
cancel, its answer, close). All (link, client) pairs run in one rotation, reversed every other
run, after one unmeasured warm-up each. Every run is checked (exit code, JSON report, the cancel
and its 200 on the simulator, how many connections the simulator and the proxy saw, the
subscription of a --confirm run) before its time counts; a failed check stops the benchmark.

- **Enter to exit**: just before Popen to the child being reaped (os.wait4).
- **time to wire**: the simulator's arrival time of the run's first cancel_batch_orders (with
  the link, that is after its one-way delay) minus the time just before Popen: both
  time.monotonic(), CLOCK_MONOTONIC, one clock system-wide on Linux.
- **round trips on the network**: (median at the RTT - median at 0 added) / RTT, per client.
"""

from __future__ import annotations

import argparse
import functools
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import trustme
from bench import (
    DEMO_CREDENTIALS,
    NO_CONFIG_NO_COLOUR,
    UNLIMITED,
    Check,
    Measured,
    RunRecords,
    SimProcess,
    alternate,
    baseline_check,
    baseline_cmd,
    checked,
    client_env,
    htx_cancel_path,
    htx_check,
    htx_cmd,
    measure_rtt,
    run_on,
    ttws,
    walls,
)
from common import BenchError, Finished, HelperProcess, Stat, head, ms, print_report, row, save_json, verdict

DEFAULT_RTT: Final = 0.050
TARGET_WALL_RATIO: Final = 1.00
"""Enter to exit over TLS at the RTT, htx-cancel / bare script."""
TARGET_TTW_RATIO: Final = 1.05
"""Time to wire over TLS at the RTT, htx-cancel / bare script."""
TARGET_CONFIRM_RTTS: Final = 1.0
"""What --confirm may add over a plain run on the same link, in round trips."""
TARGET_LOOPBACK_TTW_RATIO: Final = 1.30
"""Time to wire on plain ws:// loopback, htx-cancel / bare script."""

FLOOR_RTTS: Final = 5
"""TCP (the held first bytes) + TLS 1.3 + WebSocket upgrade + auth + cancel."""
FLOOR_TTW_RTTS: Final = 4.5
"""The same up to the cancel's arrival: 4 round trips and the cancel's one-way trip."""

CLIENTS: Final = ("htx", "confirm", "base")
CLIENT_NAMES: Final = {"htx": "htx-cancel", "confirm": "htx-cancel --confirm", "base": "bare script"}


# --------------------------------------------------------------------------- processes


class ProxyProcess(HelperProcess):
    """latency_proxy.py in a child process, in front of the simulator's port."""

    def __init__(self, upstream_port: int, latency: float, hold: float) -> None:
        args = [str(upstream_port), f"--latency={latency}", f"--hold={hold}"]
        super().__init__("latency proxy", "latency_proxy.py", args, str.isdigit)
        self.port: Final = int(self.first_line)
        self._connections = 0

    def take(self) -> int:
        """Connections accepted since the previous take."""
        stats = self.ask("stats")
        if stats["upstream_failures"]:
            raise BenchError(f"latency proxy could not reach the simulator: {stats}")
        connections = int(str(stats["connections"]))
        new, self._connections = connections - self._connections, connections
        return new


@dataclass(frozen=True)
class Certs:
    """A throw-away CA and a server certificate for "localhost", as PEM files."""

    ca: Path
    chain: Path
    key: Path


def system_bundle() -> Path:
    """The CA bundle OpenSSL loads when SSL_CERT_FILE is not set."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise BenchError("--system-cas: no system CA bundle file found")


def make_certs(directory: Path, system_cas: bool = False) -> Certs:
    """With `system_cas`, the trusted PEM is the system bundle plus the test CA: a store of the
    size every real run loads (SSL_CERT_FILE replaces the system file for OpenSSL)."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost")
    certs = Certs(directory / "ca.pem", directory / "chain.pem", directory / "key.pem")
    if system_cas:
        certs.ca.write_bytes(system_bundle().read_bytes().rstrip(b"\n") + b"\n")
    ca.cert_pem.write_to_path(str(certs.ca), append=system_cas)
    server.private_key_pem.write_to_path(str(certs.key))
    for blob in server.cert_chain_pems:
        blob.write_to_path(str(certs.chain), append=True)
    return certs


@dataclass
class Link:
    """One way to reach a simulator: its URL, the proxy in between (if any), the trust to add."""

    key: str
    title: str
    sim: SimProcess
    url: str
    proxy: ProxyProcess | None = None
    ca: Path | None = None

    def env(self) -> dict[str, str]:
        env = client_env(self.url)
        env.pop("SSL_CERT_DIR", None)
        if self.ca is not None:
            env["SSL_CERT_FILE"] = str(self.ca)
        else:
            env.pop("SSL_CERT_FILE", None)
        return env


def proxied_url(sim: SimProcess, proxy: ProxyProcess) -> str:
    """The simulator's wss://localhost URL with the proxy's port in place of its own."""
    prefix = "wss://localhost:"
    if not sim.url.startswith(prefix):
        raise BenchError(f"expected a {prefix} URL from the TLS simulator, got {sim.url}")
    path = sim.url[len(prefix) :].split("/", 1)[1]
    return f"{prefix}{proxy.port}/{path}"


def sim_port(sim: SimProcess) -> int:
    return int(sim.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


@contextmanager
def links(rtt: float, certs: Certs) -> Iterator[list[Link]]:
    """A plain simulator, a TLS simulator, and two proxies in front of the TLS one."""
    with ExitStack() as stack:
        plain = SimProcess(0.0, UNLIMITED)
        stack.callback(plain.close)
        tls = SimProcess(0.0, UNLIMITED, extra=[f"--certfile={certs.chain}", f"--keyfile={certs.key}"])
        stack.callback(tls.close)
        near = ProxyProcess(sim_port(tls), 0.0, 0.0)
        stack.callback(near.close)
        far = ProxyProcess(sim_port(tls), rtt / 2, rtt)
        stack.callback(far.close)
        yield [
            Link("far", f"TLS, {rtt * 1000:.0f} ms RTT", tls, proxied_url(tls, far), far, certs.ca),
            Link("near", "TLS, 0 added latency", tls, proxied_url(tls, near), near, certs.ca),
            Link("plain", "plain ws:// loopback", plain, plain.url),
        ]


# --------------------------------------------------------------------------- runs


def confirm_check(done: Finished, records: RunRecords) -> float | None:
    """As a plain run, plus the second socket: one notification connection and one subscription
    (so a run that skipped or lost its subscription is never timed as a --confirm run)."""
    if records.notify_connections != 1 or records.subs != 1:
        raise BenchError(
            f"--confirm: expected 1 notification connection and 1 subscription, the simulator saw "
            f"{records.notify_connections} and {records.subs}"
        )
    return htx_check(3, 1)(done, records)


def client_cmd(client: str, url: str) -> list[str]:
    if client == "base":
        return baseline_cmd(url)
    return htx_cmd(3) + (["--confirm"] if client == "confirm" else [])


CHECKS: Final[dict[str, Check]] = {"htx": htx_check(3, 1), "confirm": confirm_check, "base": baseline_check}
EXPECTED_CONNECTIONS: Final = {"htx": 1, "confirm": 2, "base": 1}


def measure_on(link: Link, client: str) -> Measured:
    """One checked run of `client` over `link`."""
    cmd = client_cmd(client, link.url)
    done, records = run_on(link.sim, cmd, link.env())
    through_proxy = link.proxy.take() if link.proxy is not None else None

    def check() -> None:
        CHECKS[client](done, records)
        expected = EXPECTED_CONNECTIONS[client]
        if through_proxy is not None and through_proxy != expected:
            raise BenchError(f"the proxy saw {through_proxy} connections, expected {expected}")

    checked(cmd, done, check, f"{link.title}: ")
    first = min(row.t for row in records.cancels)
    return Measured(
        wall=done.wall,
        ttw=first - done.t0,
        span=None,
        requests=len(records.cancels),
        rate_limited=0,
        cpu=done.cpu,
    )


def probe_rtt(link: Link) -> list[float]:
    """bench.py's RTT probe over `link`: the link's round trip as a client sees it (checks that
    the proxy adds what it should, and no more)."""
    samples = measure_rtt(link.url, {"ca_certs": str(link.ca)} if link.ca is not None else None)
    link.sim.take()
    if link.proxy is not None:
        link.proxy.take()
    return samples


def confirm_available() -> bool:
    """Whether this htx-cancel has --confirm (it is being built): its --help lists it."""
    proc = subprocess.run([htx_cancel_path(), "--help"], capture_output=True, text=True, env=client_env(""))
    return "--confirm" in proc.stdout


@dataclass
class LinkResults:
    """Raw numbers, kept for --json and turned into the table at the end."""

    runs: int
    rtt: float
    confirm: bool
    system_cas: bool = False
    runs_by: dict[str, list[Measured]] = field(default_factory=dict)
    """Keyed "link/client", e.g. "far/htx"; warm-ups left out."""
    probe_far: list[float] = field(default_factory=list)
    probe_near: list[float] = field(default_factory=list)

    def of(self, link: str, client: str) -> list[Measured]:
        return self.runs_by.get(f"{link}/{client}", [])


def record(bucket: list[Measured], link: Link, client: str) -> None:
    bucket.append(measure_on(link, client))


def run_all(runs: int, rtt: float, confirm: bool, system_cas: bool = False) -> LinkResults:
    results = LinkResults(runs, rtt, confirm, system_cas)
    clients = [client for client in CLIENTS if confirm or client != "confirm"]
    with tempfile.TemporaryDirectory() as tmp, links(rtt, make_certs(Path(tmp), system_cas)) as all_links:
        collected: dict[str, list[Measured]] = {}
        steps: list[Callable[[], None]] = []
        for link in all_links:
            for client in clients:
                bucket = collected.setdefault(f"{link.key}/{client}", [])
                steps.append(functools.partial(record, bucket, link, client))
        alternate(runs, *steps)
        results.runs_by = {key: values[1:] for key, values in collected.items()}
        by_key = {link.key: link for link in all_links}
        results.probe_far = probe_rtt(by_key["far"])
        results.probe_near = probe_rtt(by_key["near"])
    return results


# --------------------------------------------------------------------------- report


def table(results: LinkResults) -> tuple[list[str], dict[str, bool], list[str]]:
    """The markdown table, the goal verdicts, and the notes under the table."""
    n, nominal = results.runs, results.rtt
    r = f"{nominal * 1000:.0f} ms RTT"
    far_probe, near_probe = Stat.of(results.probe_far), Stat.of(results.probe_near)
    # The round trip the proxy really adds (its sleeps overshoot a little): what counts round trips.
    rtt = far_probe.median - near_probe.median
    stat: dict[str, Stat] = {}
    for link in ("far", "near", "plain"):
        for client in CLIENTS:
            values = results.of(link, client)
            if values:
                stat[f"{link}/{client}/wall"] = walls(values)
                stat[f"{link}/{client}/ttw"] = ttws(values)
                stat[f"{link}/{client}/cpu"] = Stat.of([m.cpu for m in values if m.cpu is not None])

    def show(key: str) -> str:
        return stat[key].show()

    def trips(client: str, metric: str) -> float:
        return (stat[f"far/{client}/{metric}"].median - stat[f"near/{client}/{metric}"].median) / rtt

    def ratio(link: str, metric: str, client: str = "htx") -> float:
        return stat[f"{link}/{client}/{metric}"].median / stat[f"{link}/base/{metric}"].median

    def side_by_side(label: str, link: str, metric: str, goal: str = "(info)", met: str = "") -> str:
        ours, base = f"{link}/htx/{metric}", f"{link}/base/{metric}"
        return row(f"{label} (n={n})", show(ours), show(base), f"{ratio(link, metric):.2f}x", goal, met)

    verdicts = {
        "tls_rtt_enter_to_exit": ratio("far", "wall") <= TARGET_WALL_RATIO,
        "tls_rtt_time_to_wire": ratio("far", "ttw") <= TARGET_TTW_RATIO,
        "loopback_time_to_wire": ratio("plain", "ttw") <= TARGET_LOOPBACK_TTW_RATIO,
    }
    rows = [
        *head(
            "metric", "htx-cancel median (min-max)", "bare script median (min-max)", "ratio", "goal", "met?"
        ),
        side_by_side(
            f"Enter to exit, TLS, {r}",
            "far",
            "wall",
            f"<= {TARGET_WALL_RATIO:.2f}x",
            verdict(verdicts["tls_rtt_enter_to_exit"]),
        ),
        side_by_side(
            f"time to wire, TLS, {r}",
            "far",
            "ttw",
            f"<= {TARGET_TTW_RATIO:.2f}x",
            verdict(verdicts["tls_rtt_time_to_wire"]),
        ),
        row(
            f"round trips on the network, Enter to exit: (median at {r} - at 0 added) / {ms(rtt)}",
            f"{trips('htx', 'wall'):.2f}",
            f"{trips('base', 'wall'):.2f}",
            "",
            f"floor {FLOOR_RTTS}",
            "(info)",
        ),
        row(
            f"round trips before the first cancel arrives: (time to wire at {r} - at 0 added) / {ms(rtt)}",
            f"{trips('htx', 'ttw'):.2f}",
            f"{trips('base', 'ttw'):.2f}",
            "",
            f"floor {FLOOR_TTW_RTTS}",
            "(info)",
        ),
    ]
    if results.confirm:
        extra_wall = stat["far/confirm/wall"].median - stat["far/htx/wall"].median
        extra_ttw = stat["far/confirm/ttw"].median - stat["far/htx/ttw"].median
        verdicts["confirm_extra_round_trips"] = extra_wall <= TARGET_CONFIRM_RTTS * rtt
        rows += [
            row(
                f"`--confirm`: Enter to exit, TLS, {r} (n={n})",
                show("far/confirm/wall"),
                show("far/base/wall"),
                f"{ratio('far', 'wall', 'confirm'):.2f}x",
                "(info)",
                "",
            ),
            row(
                f"`--confirm`: time to wire, TLS, {r} (n={n})",
                show("far/confirm/ttw"),
                show("far/base/ttw"),
                f"{ratio('far', 'ttw', 'confirm'):.2f}x",
                "(info)",
                "",
            ),
            row(
                f"`--confirm` over a plain htx-cancel run, TLS, {r}: Enter to exit (time to wire)",
                f"+{ms(extra_wall)} = {extra_wall / rtt:.2f} RTT "
                f"(+{ms(extra_ttw)} = {extra_ttw / rtt:.2f} RTT)",
                "",
                "",
                f"<= {TARGET_CONFIRM_RTTS:.0f} RTT",
                verdict(verdicts["confirm_extra_round_trips"]),
            ),
            row(
                "`--confirm`: round trips on the network, Enter to exit",
                f"{trips('confirm', 'wall'):.2f}",
                "",
                "",
                f"floor {FLOOR_RTTS + 1}",
                "(info)",
            ),
        ]
    else:
        rows.append(
            row(
                "`--confirm` rows",
                "not measured: `htx-cancel --help` does not list `--confirm` yet",
                "",
                "",
                f"<= +{TARGET_CONFIRM_RTTS:.0f} RTT over a plain run",
                "n/a",
            )
        )
    rows += [
        side_by_side("Enter to exit, TLS, 0 added latency", "near", "wall"),
        side_by_side("time to wire, TLS, 0 added latency", "near", "ttw"),
        side_by_side(
            "time to wire, plain ws:// loopback",
            "plain",
            "ttw",
            f"<= {TARGET_LOOPBACK_TTW_RATIO:.2f}x",
            verdict(verdicts["loopback_time_to_wire"]),
        ),
        side_by_side("Enter to exit, plain ws:// loopback", "plain", "wall"),
        side_by_side("CPU time (user + sys), TLS, 0 added latency", "near", "cpu"),
    ]
    if results.confirm:
        for link, title in (("near", "TLS, 0 added latency"), ("plain", "plain ws:// loopback")):
            rows.append(
                row(
                    f"`--confirm`: Enter to exit, {title} (n={n})",
                    show(f"{link}/confirm/wall"),
                    show(f"{link}/base/wall"),
                    f"{ratio(link, 'wall', 'confirm'):.2f}x",
                    "(info)",
                    "",
                )
            )
    rows += [
        row(
            f"one request's round trip through the proxy at {r}, bare client on one connection "
            f"(n={far_probe.n})",
            "",
            far_probe.show(),
            "",
            "(reference)",
            "",
        ),
        row(f"the same at 0 added latency (n={near_probe.n})", "", near_probe.show(), "", "(reference)", ""),
        row(
            f"network floor at {r}: {FLOOR_RTTS} round trips to the cancel's answer "
            f"({FLOOR_TTW_RTTS} to its arrival)",
            f"{ms(FLOOR_RTTS * nominal)} ({ms(FLOOR_TTW_RTTS * nominal)})",
            "",
            "",
            "(reference)",
            "",
        ),
    ]
    notes = [
        f"- Link: latency_proxy.py delays every chunk by {ms(nominal / 2)} each way (order kept) and holds a "
        f"client's first bytes {ms(nominal)} more, for the TCP handshake a loopback connect() does not pay. "
        "So the floor counts that hold as the TCP round trip: 1 (TCP, the held first bytes) + 1 (TLS 1.3) "
        "+ 1 (WebSocket upgrade) + 1 (auth) + 1 (cancel) = "
        f"{FLOOR_RTTS} round trips; a client that waits for the server's close frame before exiting "
        "spends one more. The cancel arrives half a round trip before its answer: "
        f"{FLOOR_TTW_RTTS} round trips.",
        "- Round trips on the network = (median at the RTT - median at 0 added latency, same TLS, same "
        "proxy) / the round trip the proxy really adds (one request's send-to-answer through each proxy, "
        f"bare client, difference of medians: {ms(rtt)}; its sleeps overshoot a little), per client: "
        "what the link costs that client, start-up and CPU cancelled out. `--confirm`'s extra is counted "
        "the same way.",
        (
            "- Both clients trust the test CA through SSL_CERT_FILE (neither uses --ca-bundle), here the "
            "system CA bundle plus the test CA (--system-cas): each loads a store of the size a real run "
            "loads."
            if results.system_cas
            else "- Both clients trust the test CA through SSL_CERT_FILE (neither uses --ca-bundle), so each "
            "loads that one certificate instead of the system store (~145 here): the store's parsing cost "
            "is not in these figures; `--system-cas` puts it in."
        ),
        "- All (link, client) pairs run in one rotation, reversed every other run, after one unmeasured "
        "warm-up each; every run checked (exit code, report, cancel and 200 on the simulator, connections "
        "seen by the simulator and by the proxy).",
    ]
    return rows, verdicts, notes


def export(env: Mapping[str, str]) -> str:
    return "export " + " ".join(f"{key}={value}" for key, value in env.items())


def serve(rtt: float, system_cas: bool) -> int:
    """The TLS simulator behind both proxies until Enter: for profiling one client by hand."""
    with tempfile.TemporaryDirectory() as tmp, links(rtt, make_certs(Path(tmp), system_cas)) as all_links:
        for link in all_links:
            print(f"# {link.title}")
            print(f"export HTX_WS_URL={link.url}" + (f" SSL_CERT_FILE={link.ca}" if link.ca else ""))
        for exports in (DEMO_CREDENTIALS, NO_CONFIG_NO_COLOUR):
            print(export(exports))
        print("# Enter stops", flush=True)
        sys.stdin.readline()
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=int, default=9, help="alternating runs per (link, client), after a warm-up"
    )
    parser.add_argument("--rtt", type=float, default=DEFAULT_RTT, help="round trip of the slow link, seconds")
    parser.add_argument("--json", type=Path, help="also save the raw numbers here")
    parser.add_argument(
        "--system-cas",
        action="store_true",
        help="SSL_CERT_FILE holds the system CA bundle plus the test CA: the store size real runs load",
    )
    parser.add_argument(
        "--serve", action="store_true", help="only start the simulators and proxies, print the URLs"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rtt <= 0:
        parser.error("--runs must be at least 1 and --rtt above 0")
    if args.serve:
        return serve(args.rtt, args.system_cas)
    started = time.monotonic()
    confirm = confirm_available()
    print(
        f"link: {args.runs} runs of {3 if confirm else 2} clients on 3 links"
        + ("" if confirm else " (no --confirm in this htx-cancel: its rows are skipped)")
        + " ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        results = run_all(args.runs, args.rtt, confirm, args.system_cas)
    except BenchError as exc:
        print(f"link: FAILED: {exc}", file=sys.stderr)
        return 1
    rows, verdicts, notes = table(results)
    trust = "system CA bundle + test CA" if args.system_cas else "test CA only"
    print_report("htx-cancel link benchmark", started, rows, notes, f"; SSL_CERT_FILE: {trust}")
    save_json(args.json, results, verdicts, "goals_met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
