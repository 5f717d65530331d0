"""The request budget (72 per 3 s per account at HTX) and back-off with jitter."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final, NamedTuple

WINDOW: Final = 3.0
"""HTX counts trade requests in a 3-second window."""

MARGIN: Final = 0.25
"""Added to the window on our own clock so that up to this much network jitter cannot bunch two
of our windows into one of the exchange's."""


class Pacer:
    """A sliding window over our own send times: the (N+1)th request waits until the 1st is
    WINDOW + MARGIN old, so no exchange window can ever see more than N of ours."""

    def __init__(self, max_rate: int, window: float = WINDOW + MARGIN) -> None:
        self._max_rate = max_rate
        self._window = window
        self._sent: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds until one more request may be written (0.0 means now).

        Eviction and delay use one expression, `free_at = sent + window`: computed two ways
        (`now - sent >= window` against `sent + window - now`) they can disagree in the last bit,
        return 0 with nothing evicted, and let a whole queue through at once."""
        while self._sent and self._sent[0] + self._window <= now:
            self._sent.popleft()
        if len(self._sent) < self._max_rate:
            return 0.0
        return self._sent[0] + self._window - now

    def record(self, now: float) -> None:
        """Count a request as written; resends count too, as they do at the exchange."""
        self._sent.append(now)


class Backoff(NamedTuple):
    """Exponential back-off with jitter; a rate-limit answer starts longer, since the exchange's
    window must roll on before a resend can succeed."""

    base: float = 0.2
    rate_limited_base: float = 1.0
    cap: float = 5.0

    def delay(self, retry: int, rate_limited: bool, rng: Callable[[], float]) -> float:
        """Half fixed, half random ("equal jitter"): never zero, never in lock-step with others."""
        start = self.rate_limited_base if rate_limited else self.base
        ceiling = min(self.cap, start * 2 ** max(retry - 1, 0))
        return float(ceiling / 2 + rng() * ceiling / 2)
