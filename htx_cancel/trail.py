"""What crossed the wire in a run, for -v and --log-file: frames on the trade socket, the push
socket and the REST calls, redacted once and timed from one start; and the REST client whose
requests and answers go into that trail (the order query, the open-orders listing)."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

from htx_cancel.models import Credentials, FrameEvent, RunSettings
from htx_cancel.redaction import Redactor

if TYPE_CHECKING:
    from htx_cancel.engine import World


class Trail:
    """Frames crossing any connection of a run (trade socket, push socket, REST), redacted once
    and timed from one start, for -v and --log-file. Thread-safe: the push socket's opening
    thread reports here too."""

    def __init__(self, world: World, redactor: Redactor) -> None:
        self.world = world
        self.redactor = redactor
        self.epoch = world.epoch if world.epoch is not None else world.clock()
        self.lock = threading.Lock()

    def frame(self, direction: str, text: str, channel: str = "trade") -> None:
        if self.world.wants_frames:
            with self.lock:
                since = self.world.clock() - self.epoch
                event = FrameEvent(direction, self.redactor(text), time.time(), since, channel)
                self.world.on_event(event)


class TracedRest:
    """The REST client of a run (order queries, the open-orders listing), its requests and
    answers in the trail: what was asked and what was listed is part of what an unattended run
    must be able to show afterwards. The signature is learned by the redactor before the request
    line is shown."""

    def __init__(self, settings: RunSettings, credentials: Credentials, trail: Trail) -> None:
        from htx_cancel.rest import RestClient, SignedRequest

        def on_request(request: SignedRequest) -> None:
            trail.redactor.add_secret(request.signature)
            trail.frame("sent", request.text, "rest")

        world = trail.world
        self._trail = trail
        self._client = RestClient(
            settings.url,
            credentials,
            settings.timeout,
            settings.ca_bundle,
            world.env,
            wall_clock=world.wall_clock,
            clock=world.clock,
            on_request=on_request,
        )

    def get(self, path: str, params: dict[str, str]) -> dict[str, object]:
        answer = self._client.get(path, params)
        self._trail.frame("received", json.dumps(answer, default=str, ensure_ascii=False), "rest")
        return answer

    def close(self) -> None:
        self._client.close()
