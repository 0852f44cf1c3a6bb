"""Helpers of the delivery follow-up tests: `drain` (one dispatcher sends what is due on a
channel, at an optional test clock's time) and `webhook_receiver` (a sender's webhook endpoint
on 127.0.0.1 that fails its first requests)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.lab.fakehttp import FakeHTTPServer


def drain(providers: ProvidersResource, store: StoreResource, channel: str = "sms", clock: Callable[[], dt.datetime] = utcnow) -> None:
    dispatcher = Dispatcher(providers, store, clock=clock)
    try:
        dispatcher.drain([channel], timeout=20)
    finally:
        dispatcher.close()


@contextmanager
def webhook_receiver(fail: int = 0) -> Iterator[FakeHTTPServer]:
    """`POST /hooks` answers 500 to its first `fail` requests (`server.fail` can be changed),
    then 204, keeping (X-Halo-Signature, body) of each accepted one in `server.got`."""
    server = FakeHTTPServer()
    server.fail, server.got, lock = fail, [], threading.Lock()

    @server.route("POST", r"/hooks")
    def hook(request):  # noqa: ANN001, ANN202
        with lock:
            if server.fail > 0:
                server.fail -= 1
                return 500, {"error": "down"}
            server.got.append((request.headers.get("X-Halo-Signature"), request.body))
        return 204, b""

    server.start()
    try:
        yield server
    finally:
        server.close()
