"""The pace and the back-off, on a simulated clock: pure arithmetic, no sockets needed."""

from __future__ import annotations

import random

from hypothesis import example, given
from hypothesis import strategies as st

from htx_cancel.pacing import MARGIN, WINDOW, Backoff, Pacer

# Found by hypothesis: `now + (free_at - now)` can land one ulp short of `free_at` (the
# subtraction is inexact when `now` is under half of it), so the pacer asks for 4.4e-16 s more.
# The engine re-reads the clock and asks again; so does this loop, at most once more.
ULP_SHORT = [0.3530186739165832, 0.02, 0.0, 0.46253892211841285, 0.16807550152336972]


@example(max_rate=4, gaps=ULP_SHORT, jitter=[0.0] * 300)
@given(
    max_rate=st.integers(1, 72),
    gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=300),
    jitter=st.lists(st.floats(0, MARGIN), min_size=300, max_size=300),
)
def test_no_exchange_window_ever_sees_more_than_the_pace(
    max_rate: int, gaps: list[float], jitter: list[float]
) -> None:
    """Send as eagerly as the pacer allows, delay each request by up to MARGIN of network jitter,
    and check every 3-second window at the exchange."""
    pacer = Pacer(max_rate)
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        asked = 0
        while (wait := pacer.delay(now)) > 0.0:
            now += wait
            asked += 1
        assert asked <= 2
        pacer.record(now)
        sent.append(now)
    arrivals = sorted(t + j for t, j in zip(sent, jitter[: len(sent)], strict=True))
    for i, t in enumerate(arrivals):
        assert sum(1 for u in arrivals[i:] if u - t < WINDOW) <= max_rate


def test_the_first_requests_go_at_once() -> None:
    pacer = Pacer(60)
    for _ in range(60):
        assert pacer.delay(0.0) == 0.0
        pacer.record(0.0)
    assert pacer.delay(0.0) == WINDOW + MARGIN


def test_back_off_grows_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base=0.2, rate_limited_base=1.0, cap=5.0)
    rng = random.Random(1).random
    first = [backoff.delay(1, False, rng) for _ in range(100)]
    assert all(0.1 <= d <= 0.2 for d in first) and len(set(first)) > 1
    assert all(0.4 <= backoff.delay(3, False, rng) <= 0.8 for _ in range(100))
    assert all(0.5 <= backoff.delay(1, True, rng) <= 1.0 for _ in range(100))
    assert all(backoff.delay(20, True, rng) <= 5.0 for _ in range(100))


# Found by hypothesis against the old pacer (eviction `now - s0 >= W`, delay `s0 + W - now`):
# at this `now` the two disagreed in the last bit, the delay came back 0 with nothing evicted,
# and a send loop holding `now` let its whole queue through.
STALE_S0, STALE_NOW = 2.5541705943714743, 5.804170594371474


@example(start=STALE_S0, offset=STALE_NOW - STALE_S0 - (WINDOW + MARGIN))
@given(start=st.floats(0, 1e6), offset=st.floats(-1e-6, 1e-6))
def test_a_send_loop_with_a_stale_clock_cannot_burst(start: float, offset: float) -> None:
    """Fill the window at `start`, then drain a queue of 500 at one instant near its end: at most
    the window's worth can go, whatever the rounding."""
    pacer = Pacer(60)
    for _ in range(60):
        pacer.record(start)
    now = start + WINDOW + MARGIN + offset
    sent = 0
    while sent < 500 and pacer.delay(now) == 0.0:
        pacer.record(now)
        sent += 1
    assert sent in (0, 60)
    assert pacer.delay(now) > 0.0
