"""Shared fixtures: real simulators on loopback, always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from htx_cancel.simulator import Faults, SimOrder, Simulator

SimFactory = Callable[..., Simulator]

# Two shared cores in CI: generation speed varies, correctness does not.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture
def sim_factory() -> Iterator[SimFactory]:
    """`make(orders=None, faults=None, **kw)` starts a Simulator; every one is stopped at teardown."""
    started: list[Simulator] = []

    def make(orders: list[SimOrder] | None = None, faults: Faults | None = None, **kw: Any) -> Simulator:
        sim = Simulator(orders, faults, **kw).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(sim_factory: SimFactory) -> Simulator:
    """The demo book with fast pings, so heartbeat handling shows up within a short test."""
    return sim_factory(faults=Faults(ping_interval=0.2))
